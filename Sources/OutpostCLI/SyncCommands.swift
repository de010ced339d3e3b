import ArgumentParser
import Foundation
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire
import Synchronization

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
    @Option(help: ArgumentHelp("Your company's CA certificate (PEM), if its servers' certificates are signed by its own CA; kept for every sync.", valueName: "FILE"))
    var ca: String?
    @OptionGroup var network: NetworkOptions

    func run() async throws {
        let enrolled: (replica: Replica, answer: EnrollResponse)
        do {
            enrolled = try await Enrollment.enrollReplica(at: root.replicaFile, serverURL: server, code: code, device: device,
                                                          timeouts: network.timeouts, trustedCA: try ca.map(ClientTLS.readCA))
        } catch let error as TransportError {
            throw CLIError(error.description)
        }
        // The token is a secret: keep the folder private to this user.
        try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root.replicaFolder)
        print("Enrolled \(device) for \(enrolled.answer.user) with server \(enrolled.answer.server) (replica \(enrolled.replica.replicaID)). Run `outpost sync`.")
    }
}

/// How long to wait for a server, shared by the commands that talk to one.
struct NetworkOptions: ParsableArguments {
    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp("Give up connecting after this many seconds.", valueName: "SECONDS"))
    var connectTimeout: Double = 3
    @Option(name: .customLong("timeout"), help: ArgumentHelp("Give up on a request that has not completed after this many seconds.", valueName: "SECONDS"))
    var requestTimeout: Double = 30

    func validate() throws {
        guard (0.001...86_400).contains(connectTimeout), (0.001...86_400).contains(requestTimeout) else {
            throw ValidationError("Timeouts are seconds between 0.001 and 86400 (a day), for example --timeout 60.")
        }
    }

    var timeouts: SyncTimeouts {
        SyncTimeouts(connect: .milliseconds(Int64(connectTimeout * 1000)), request: .milliseconds(Int64(requestTimeout * 1000)))
    }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Send your changes to the server and receive everyone else's.",
        discussion: """
            Shows a progress bar on a terminal, a one-line summary otherwise. A sync that is cut
            off resumes where it stopped: run it again.

            If the server cannot be reached or does not answer in time, nothing is lost: your
            changes wait in the replica, the command says how many, and it exits with status
            \(SyncCommand.unreachableExitCode) (other failures exit with 1).

            If this folder turns out to be a copy of another one (a second laptop, a disk image,
            a restored backup), it takes a new replica id from the server, sends again under it
            what the server lacks, and says so in one sentence.

            Examples:
              outpost sync
              outpost sync --server http://branch.example.kz:7420 --json
              outpost sync --connect-timeout 10 --timeout 120     # a slow satellite link
            """)

    /// The exit status when the server cannot be reached or stays silent (EX_TEMPFAIL: try again later).
    static let unreachableExitCode: Int32 = 75

    @ParentCommand var root: OutpostCommand
    @Option(help: ArgumentHelp("Sync with this server instead of the enrolled one.", valueName: "URL")) var server: String?
    @OptionGroup var network: NetworkOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let replica = try root.openReplica()
        let engine: SyncEngine
        do { engine = try SyncEngine(replica: replica, serverURL: server, timeouts: network.timeouts) } catch let error as TransportError { throw CLIError(error.description) }
        let bar = ProgressBar(enabled: !output.json && isatty(STDERR_FILENO) == 1)
        let started = ContinuousClock.now
        let summary: SyncProgress
        do {
            summary = try await engine.sync { bar.update($0) }
        } catch let error as TransportError {
            bar.finish()
            try fail(error, replica: replica, engine: engine)
        }
        bar.finish()
        if let warning = ClockWarning.sentence(offset: replica.clockOffset) { FileHandle.standardError.write(Data("Warning: \(warning)\n".utf8)) }
        let seconds = (ContinuousClock.now - started).seconds
        let conflicts = try replica.conflicts().count
        if output.json {
            var report: [String: JSONValue] = [
                "pushed": .int(Int64(summary.pushed)), "rejected": .int(Int64(summary.rejected)), "pulled": .int(Int64(summary.pulled)),
                "deferred": .int(Int64(summary.deferred)),
                "bytes_up": .int(Int64(summary.bytesUp)), "bytes_down": .int(Int64(summary.bytesDown)),
                "seconds": .string(String(format: "%.2f", seconds)), "conflicts": .int(Int64(conflicts)),
                "replica": .string(replica.replicaID.rawValue),
            ]
            if let fork = summary.fork { report["fork"] = Self.json(fork) }
            if summary.fromSnapshot { report["from_snapshot"] = .bool(true) }
            Output.printJSON(.object(report))
        } else {
            if let fork = summary.fork { print(fork.sentence) }
            if summary.fromSnapshot {
                print("This replica was new: it started from a copy of your records as the server holds them (with their history), not from every change ever made.")
            }
            var line = "Synced: sent \(summary.pushed) changes, received \(summary.pulled), \(ProgressBar.bytes(summary.bytesUp)) up, \(ProgressBar.bytes(summary.bytesDown)) down in \(String(format: "%.1f", seconds)) s."
            if summary.rejected > 0 { line += " \(summary.rejected) changes were refused by the server: see `outpost status`." }
            if summary.deferred > 0 {
                let waiting = try replica.pendingChangeCount()
                line += (waiting == 1 ? " 1 change waits" : " \(waiting) changes wait") + " for the next sync" + (summary.deferredReason.map { ": \($0)" } ?? ".")
            }
            if conflicts > 0 { line += " \(conflicts) conflicts wait for an admin." }
            print(line)
        }
    }

    /// A heal as `--json` reports it.
    static func json(_ fork: ForkNotice) -> JSONValue {
        .object(["old_replica": .string(fork.oldReplica), "new_replica": .string(fork.newReplica),
                 "reissued": .int(Int64(fork.reissued)), "adopted": .int(Int64(fork.adopted)),
                 "signal": .string(fork.signal.rawValue), "message": .string(fork.sentence)])
    }

    /// Reports a failed sync: one sentence on stderr that says what to do and how many changes
    /// wait, a JSON error object on stdout with --json, and a distinct status when the server
    /// could not be reached.
    private func fail(_ error: TransportError, replica: Replica, engine: SyncEngine) throws -> Never {
        // A heal that happened before the failure is news the rep must not miss.
        let fork = try? engine.pendingForkNotice()
        if let fork, !output.json { print(fork.sentence) }
        if fork != nil { try? replica.setSettings([:], clearing: [ClientSettings.forkNotice]) }
        let pending = try replica.pendingChangeCount()
        let waiting = pending == 1 ? "Your 1 change waits" : "Your \(pending) changes wait"
        let url = try server ?? replica.setting(ClientSettings.serverURL) ?? "the server"
        let code: String, message: String, status: Int32
        switch error {
        case .unreachable(let why):
            code = why.code
            message = "Cannot sync with \(url): \(why). \(waiting) safely in this replica; run `outpost sync` again when the server is reachable (check the URL with `outpost status`)."
            status = Self.unreachableExitCode
        case .server(let wire, _):
            code = wire.error.code
            message = "The server refused the sync: \(wire.error.message) \(waiting) safely in this replica."
            status = 1
        }
        if output.json {
            var object: [String: JSONValue] = ["error": .object(["code": .string(code), "message": .string(message), "pending": .int(Int64(pending))])]
            if let fork { object["fork"] = Self.json(fork) }
            Output.printJSON(.object(object))
        }
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        throw ExitCode(status)
    }
}

/// One progress line for the whole sync on stderr, redrawn in place: what was sent of what
/// waits, then what was received, one bar over both (it never goes back: the pull's backlog
/// is known from hello), and the time left at the rate so far.
final class ProgressBar: Sendable {
    private let enabled: Bool
    private let started = ContinuousClock.now
    /// Whether a line was drawn, and the share shown so far (it never goes back).
    private let drawing = Mutex((drawn: false, shown: 0.0))

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: SyncProgress) {
        guard enabled else { return }
        drawing.withLock { state in
            let elapsed = max(0.001, (ContinuousClock.now - started).seconds)
            let (done, total) = p.work
            state.shown = max(state.shown, total == 0 ? 1 : min(1, Double(done) / Double(total)))
            let shown = state.shown
            let width = 24
            let filled = Int(shown * Double(width))
            let left = shown > 0.02 ? elapsed / shown - elapsed : nil
            let sent = p.pushed + p.rejected + p.deferred
            let line = "Syncing [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
                + "\(Int(shown * 100))%  sent \(sent)/\(sent + p.pushRemaining), received \(p.pulled) changes"
                + ", \(Self.bytes(p.bytesUp)) up \(Self.bytes(p.bytesDown)) down"
                + (left.map { ", about \(Self.duration($0)) left" } ?? "")
            FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
            state.drawn = true
        }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s < 60 ? "\(s) s" : "\(s / 60) min \(s % 60) s"
    }

    func finish() {
        drawing.withLock { if $0.drawn { FileHandle.standardError.write(Data("\n".utf8)) } }
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
