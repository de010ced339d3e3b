import Crypto
import Foundation

/// Random secrets and their stored hashes. Only hashes are ever written to disk.
enum Secrets {
    /// A new token: a prefix naming its kind and 32 random bytes in hex.
    static func token(prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return prefix + bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// A one-time enrollment code people can read aloud: 12 characters of Crockford base32 in groups of four.
    static func enrollmentCode() -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var rng = SystemRandomNumberGenerator()
        let chars = (0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
        return stride(from: 0, to: 12, by: 4).map { String(chars[$0..<$0 + 4]) }.joined(separator: "-")
    }

    /// Codes are compared without dashes, spaces or case, so a code read over the phone still works.
    static func normalizeCode(_ code: String) -> String {
        String(code.uppercased().filter { $0.isLetter || $0.isNumber })
    }

    /// The replica id a copy of `device`'s folder takes when it asks with first sync token
    /// `token`. Derived, not drawn: a server restored from an older backup, which forgot the
    /// id, can check a folder's claim to it from the token the folder kept (`idProof`), and no
    /// other device can claim it.
    static func forkReplicaID(device: String, token: String) -> String {
        "r" + hash("fork|\(device)|\(token)").prefix(16)
    }

    /// SHA-256 of the text, in hex.
    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
