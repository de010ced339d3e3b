import Foundation
import Testing

/// HTTPS with a company CA generated for the test: the laptop trusts the server only with the
/// CA, a server refuses plain HTTP off loopback, and no secret goes over plain HTTP to another host.
@Suite(.serialized)
struct TLSEndToEndTests {
    let programs = EndToEndTests()

    /// Runs `openssl` with arguments in `folder`.
    func openssl(_ arguments: [String], in folder: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl"] + arguments
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw EndToEndTests.CLIFailure("openssl \(arguments.joined(separator: " ")): \(String(decoding: e, as: UTF8.self))")
        }
    }

    /// A CA, and a certificate it signed for `localhost` and 127.0.0.1; and another CA.
    func certificates(_ folder: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                     "-subj", "/CN=Outpost Test CA", "-keyout", "ca.key", "-out", "ca.pem"], in: folder)
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"], in: folder)
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: folder + "/ext.cnf", atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                     "-extfile", "ext.cnf", "-out", "server.pem"], in: folder)
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                     "-subj", "/CN=Someone Else CA", "-keyout", "other.key", "-out", "other.pem"], in: folder)
    }

    @Test func aLaptopSyncsOverHTTPSTrustingTheCompanyCAOnly() throws {
        let scratch = Scratch()
        let certs = scratch.path("certs")
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        try certificates(certs)
        let (server, url) = try programs.startServer(scratch.path("hq"), extra: ["--tls-cert", certs + "/server.pem", "--tls-key", certs + "/server.key"])
        defer { if server.isRunning { server.terminate() } }
        #expect(url.hasPrefix("https://127.0.0.1:"), "\(url)")
        let token = try programs.run("outpost-server", ["token", "--data", scratch.path("hq")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let admin = ["OUTPOST_SERVER": url, "OUTPOST_TOKEN": token, "OUTPOST_CA": certs + "/ca.pem"]
        #expect(try programs.run("outpost-admin", ["users", "add", "aigerim", "--role", "rep", "--scope", "all"], environment: admin).status == 0)
        let untrustingAdmin = try programs.run("outpost-admin", ["users", "list"], environment: ["OUTPOST_SERVER": url, "OUTPOST_TOKEN": token])
        #expect(untrustingAdmin.status != 0 && untrustingAdmin.stderr.contains("did not prove who it is"), "\(untrustingAdmin.stderr)")

        func code() throws -> String {
            try programs.run("outpost-admin", ["devices", "enroll", "aigerim"], environment: admin).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let stranger = scratch.cli("stranger")
        let noCA = try stranger.run(["enroll", "--server", url, "--code", try code()])
        #expect(noCA.status != 0 && noCA.stderr.contains("--ca FILE"), "without the CA the server is not trusted: \(noCA.stderr)")
        let wrongCA = try stranger.run(["enroll", "--server", url, "--code", try code(), "--ca", certs + "/other.pem"])
        #expect(wrongCA.status != 0 && wrongCA.stderr.contains("did not prove who it is"), "\(wrongCA.stderr)")

        let a = scratch.cli("aigerim")
        _ = try a.ok(["enroll", "--server", url, "--code", try code(), "--ca", certs + "/ca.pem", "--device", "aigerim-laptop"])
        _ = try a.ok(["add", "accounts", "name=ТОО «Алтын-Ай»"])
        let summary = try JSONSerialization.jsonObject(with: Data(try a.ok(["sync", "--json"]).utf8)) as? [String: Any]
        #expect(summary?["pushed"] as? Int == 1, "the CA kept at enrollment serves every sync")
        let mode = try FileManager.default.attributesOfItem(atPath: scratch.path("aigerim") + "/replica.sqlite")[.posixPermissions] as? Int
        #expect(mode == 0o600, "the replica, with its token, is readable by its user only")
    }

    @Test func plainHTTPIsRefusedOffLoopback() throws {
        let scratch = Scratch()
        let refused = try programs.run("outpost-server", ["--data", scratch.path("hq"), "--listen", "0.0.0.0:0"])
        #expect(refused.status != 0 && refused.stderr.contains("--tls-cert"), "\(refused.stderr)")
        // A secret never goes over plain HTTP to another host (nothing need listen there).
        let b = scratch.cli("bolor")
        let leak = try b.run(["enroll", "--server", "http://192.0.2.1:7420", "--code", "ABCD-EFGH-JKMN"])
        #expect(leak.status != 0 && leak.stderr.contains("over plain HTTP"), "\(leak.stderr)")
        let lookalike = try b.run(["enroll", "--server", "http://127.0.0.1.example.org:7420", "--code", "ABCD-EFGH-JKMN"])
        #expect(lookalike.status != 0 && lookalike.stderr.contains("over plain HTTP"), "a name that starts like loopback is not loopback: \(lookalike.stderr)")
    }
}
