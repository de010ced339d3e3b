import Foundation
import NIOSSL
import OutpostWire

/// The server's TLS identity, read from PEM files (`outpost-server --tls-cert --tls-key`).
public enum ServerTLS {
    /// A server configuration from a certificate chain and its private key, or a sentence
    /// saying which file is wrong.
    public static func load(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw WireError(.tlsSetup, message: "Cannot read the certificate \(certificate) (a PEM file is expected): \(error).")
        }
        guard !chain.isEmpty else { throw WireError(.tlsSetup, message: "\(certificate) holds no certificate.") }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw WireError(.tlsSetup, message: "Cannot read the private key \(key) (a PEM file is expected): \(error).")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        // Checked now, not at the first connection.
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw WireError(.tlsSetup, message: "The certificate and key do not make a TLS server (does the key belong to the certificate?): \(error).")
        }
        return configuration
    }

}
