import Foundation
import NIOSSL
import OutpostWire

/// The client's side of TLS: a company CA to trust, and certificate failures said plainly.
public enum ClientTLS {
    /// Reads a CA certificate file (PEM) and returns its text, or a sentence saying what is wrong.
    public static func readCA(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TransportError.server(WireError(.badCA, message: "Cannot read the CA file \(path); give the PEM file your admin sent (ca.pem)."), status: 0)
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let certificates = try? NIOSSLCertificate.fromPEMBytes(Array(data)), !certificates.isEmpty else {
            throw TransportError.server(WireError(.badCA, message: "\(path) holds no PEM certificate (it should begin with -----BEGIN CERTIFICATE-----)."), status: 0)
        }
        return text
    }


    /// A certificate the client does not trust, as an error a person can act on (nil for other failures).
    static func untrusted(_ error: any Error, url: String) -> TransportError? {
        let text = String(describing: error)
        guard error is NIOSSLError || error is NIOSSLExtraError || text.contains("handshakeFailed") || text.contains("CERTIFICATE_VERIFY_FAILED") else { return nil }
        return TransportError.server(WireError(.untrustedServer, message: "The server at \(url) did not prove who it is: its certificate is not signed by a CA this laptop trusts, or is for another name. Nothing was sent. If your company uses its own CA, give its file with --ca FILE (ask your admin for ca.pem)."), status: 0)
    }
}
