import Foundation

/// Addresses of this machine, where plain HTTP exposes no secret: the server listens there
/// without TLS, and a client sends a token there without it.
public enum LoopbackAddress {
    /// `localhost`, `::1`, or an IPv4 literal in 127.0.0.0/8 (a name such as
    /// `127.example.org` is not one).
    public static func contains(_ host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        let ipv4Loopback = parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
        return h == "localhost" || h == "::1" || ipv4Loopback
    }
}
