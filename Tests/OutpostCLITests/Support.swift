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

/// Expectations gathered off the test's own task, recorded by it afterwards (``offThePool(_:)``).
final class Checks: @unchecked Sendable {
    private let lock = NSLock()
    private var problems: [(String, SourceLocation)] = []

    func expect(_ condition: Bool, _ message: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        guard !condition else { return }
        let text = message()
        lock.withLock { problems.append((text.isEmpty ? "expectation failed" : text, sourceLocation)) }
    }

    /// Runs `outpost` and expects success; returns stdout without the final newline.
    func ok(_ cli: CLI, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try cli.run(arguments)
        expect(r.status == 0, "outpost \(arguments.joined(separator: " ")) failed: \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout.hasSuffix("\n") ? String(r.stdout.dropLast()) : r.stdout
    }

    /// Records every gathered problem as an issue of the current test.
    func record() {
        for (text, location) in lock.withLock({ problems }) { Issue.record(Comment(rawValue: text), sourceLocation: location) }
    }
}

/// Runs a long end-to-end body (processes, waits, sleeps) on a thread of its own and then
/// records what it found: a test that blocks for many seconds must not hold one of the
/// cooperative pool's threads (as many as cores), which the in-process servers of the tests
/// running beside it need to answer within their timeouts.
func offThePool(_ body: @escaping @Sendable (Checks) throws -> Void) async throws {
    let checks = Checks()
    let outcome: Result<Void, any Error> = await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: Result { try body(checks) }) }
    }
    checks.record()
    try outcome.get()
}
