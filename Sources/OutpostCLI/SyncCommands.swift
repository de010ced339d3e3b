import ArgumentParser
import Foundation
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enroll this replica with a server using a one-time code from an admin.",
        discussion: """
            Creates the replica folder if it does not exist yet (with the server's schema), and
            keeps the device token in it. Then run `outpost sync`.

            Example:
              outpost enroll --server http://hq.example.kz:7420 --code 7K3M-9QXW-2HDA
            """)

    @ParentCommand var root: OutpostCommand
    @Option(help: ArgumentHelp("The server's URL.", valueName: "URL")) var server: String
    @Option(help: ArgumentHelp("The one-time code (`outpost-admin devices enroll USER` prints it).", valueName: "CODE")) var code: String
    @Option(help: "A name for this device.") var device = ProcessInfo.processInfo.hostName

    func run() async throws {
        let existing = try? Replica.open(at: root.replicaFile)
        let replicaID = existing?.replicaID.rawValue ?? "r" + String(UUIDv7.make(millis: Replica.systemClock()).filter(\.isHexDigit).suffix(16))
        let answer: EnrollResponse
        do {
            answer = try await Enrollment.enroll(serverURL: server, code: code, device: device, replicaID: replicaID)
        } catch let error as TransportError {
            throw CLIError(error.description)
        }
        let replica: Replica
        if let existing {
            replica = existing
        } else {
            let schema = try Schema(json: Data(answer.schema.utf8))
            try FileManager.default.createDirectory(atPath: root.replicaFolder, withIntermediateDirectories: true)
            replica = try Replica.create(at: root.replicaFile, schema: schema, options: ReplicaOptions(
                user: answer.user, device: device, role: .field, replicaID: try ReplicaID(replicaID)))
        }
        try replica.setSettings([ClientSettings.serverURL: server, ClientSettings.token: answer.token, ClientSettings.serverID: answer.server])
        // The token is a secret: keep the folder private to this user.
        try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root.replicaFolder)
        print("Enrolled \(device) for \(answer.user) with server \(answer.server) (replica \(replica.replicaID)). Run `outpost sync`.")
    }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Send your changes to the server and receive everyone else's.",
        discussion: """
            Shows a progress bar on a terminal, a one-line summary otherwise. A sync that is cut
            off resumes where it stopped: run it again.

            Examples:
              outpost sync
              outpost sync --server http://branch.example.kz:7420 --json
            """)

    @ParentCommand var root: OutpostCommand
    @Option(help: ArgumentHelp("Sync with this server instead of the enrolled one.", valueName: "URL")) var server: String?
    @OptionGroup var output: JSONOption

    func run() async throws {
        let replica = try root.openReplica()
        let engine: SyncEngine
        do { engine = try SyncEngine(replica: replica, serverURL: server) } catch let error as TransportError { throw CLIError(error.description) }
        let bar = ProgressBar(enabled: !output.json && isatty(STDERR_FILENO) == 1)
        let started = ContinuousClock.now
        let summary: SyncProgress
        do {
            summary = try await engine.sync { bar.update($0) }
        } catch let error as TransportError {
            bar.finish()
            throw CLIError(error.description)
        }
        bar.finish()
        let seconds = (ContinuousClock.now - started).seconds
        if output.json {
            Output.printJSON(.object([
                "pushed": .int(Int64(summary.pushed)), "rejected": .int(Int64(summary.rejected)), "pulled": .int(Int64(summary.pulled)),
                "bytes_up": .int(Int64(summary.bytesUp)), "bytes_down": .int(Int64(summary.bytesDown)),
                "seconds": .string(String(format: "%.2f", seconds)), "conflicts": .int(Int64(try replica.conflicts().count)),
            ]))
        } else {
            var line = "Synced: sent \(summary.pushed) changes, received \(summary.pulled), \(ProgressBar.bytes(summary.bytesUp)) up, \(ProgressBar.bytes(summary.bytesDown)) down in \(String(format: "%.1f", seconds)) s."
            if summary.rejected > 0 { line += " \(summary.rejected) changes were refused by the server: see `outpost status`." }
            let conflicts = try replica.conflicts().count
            if conflicts > 0 { line += " \(conflicts) conflicts wait for an admin." }
            print(line)
        }
    }
}

/// A one-line progress bar on stderr, redrawn in place.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let started = ContinuousClock.now
    private let lock = NSLock()
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: SyncProgress) {
        guard enabled else { return }
        lock.withLock {
            let elapsed = max(0.001, (ContinuousClock.now - started).seconds)
            let done = p.pushed + p.rejected + p.pulled
            let total = done + p.pushRemaining + (p.pullRemaining ?? 0)
            let fraction = total == 0 ? 1 : Double(done) / Double(total)
            let width = 24
            let filled = Int(fraction * Double(width))
            let rate = Double(done) / elapsed
            let left = rate > 0 ? Double(total - done) / rate : 0
            let line = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
                + "up \(p.pushed + p.rejected) down \(p.pulled) changes, \(Self.bytes(p.bytesUp)) up \(Self.bytes(p.bytesDown)) down, "
                + "\(Int(rate))/s, ~\(Int(left.rounded())) s left"
            FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
            drawn = true
        }
    }

    func finish() {
        lock.withLock { if drawn { FileHandle.standardError.write(Data("\n".utf8)) } }
    }

    static func bytes(_ n: Int) -> String {
        n < 1024 ? "\(n) B" : n < 1 << 20 ? String(format: "%.1f KB", Double(n) / 1024) : String(format: "%.1f MB", Double(n) / 1_048_576)
    }
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
