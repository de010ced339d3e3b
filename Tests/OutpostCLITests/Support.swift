import Foundation
import Testing

/// Runs the built `outpost` binary as a real process.
struct CLI {
    let replica: String

    /// The folder holding the test bundle and the built products.
    static let productsDirectory: URL = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("outpost").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url
    }()

    static var binary: URL { productsDirectory.appendingPathComponent("outpost") }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["--replica", replica] + arguments
        var env = ProcessInfo.processInfo.environment
        // Times typed without a zone are the laptop's: the same on every machine unless a test says.
        env["TZ"] = "UTC"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs and expects success; returns stdout without the final newline.
    func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try run(arguments)
        #expect(r.status == 0, "outpost \(arguments.joined(separator: " ")) failed: \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout.hasSuffix("\n") ? String(r.stdout.dropLast()) : r.stdout
    }
}

/// A temporary folder removed at the end of the test.
final class Scratch {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func cli(_ name: String = "replica") -> CLI { CLI(replica: path(name)) }
}
