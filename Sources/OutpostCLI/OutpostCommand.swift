import ArgumentParser
import Foundation
import Logging
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostStore

/// `outpost`: the rep's command line over the local replica.
public struct OutpostCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "outpost",
        abstract: "Work with your local Outpost CRM replica, online or not.",
        discussion: """
            Your replica is a folder holding one SQLite file. It defaults to $OUTPOST_REPLICA,
            then ~/.outpost; choose another with --replica DIR (before the command).

            Examples:
              outpost demo
              outpost enroll --server http://hq.example.kz:7420 --code 7K3M-9QXW-2HDA
              outpost sync
              outpost add accounts name="ТОО Алтын-Ай" city=Алматы tags=vip,export
              outpost edit deals 0190c2a4-... stage=proposal amount=1250000 currency=KZT
              outpost list deals --where stage=proposal --json
              outpost tasks --due
              outpost search тумэн
              outpost --tz Asia/Tashkent add tasks title="Qo'ng'iroq" due_at="2026-11-25 10:00"
            """,
        version: "0.1.0",
        subcommands: [
            EnrollCommand.self, SyncCommand.self, DemoCommand.self, InitCommand.self, AddCommand.self, EditCommand.self, DeleteCommand.self, ListCommand.self, ShowCommand.self, SearchCommand.self,
            HistoryCommand.self, TasksCommand.self, ImportCommand.self, ExportCommand.self, StatusCommand.self,
            SchemaCommand.self, ApplyFileCommand.self, RejectedCommand.self,
        ]
    )

    @Option(name: .long, help: ArgumentHelp("The replica folder.", valueName: "DIR"))
    var replica: String?

    @Option(name: .long, help: ArgumentHelp("The time zone times are typed and shown in (default: the laptop's).", valueName: "ZONE"))
    var tz: String?

    public init() {}

    /// The replica folder: --replica, then $OUTPOST_REPLICA, then ~/.outpost.
    var replicaFolder: String {
        if let replica { return replica }
        if let env = ProcessInfo.processInfo.environment["OUTPOST_REPLICA"], !env.isEmpty { return env }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".outpost").path
    }

    /// The SQLite file inside the replica folder.
    var replicaFile: String { URL(fileURLWithPath: replicaFolder).appendingPathComponent("replica.sqlite").path }

    /// Opens the replica, or fails with a sentence saying how to create one.
    func openReplica() throws -> Replica {
        let replica: Replica
        do { replica = try Replica.open(at: replicaFile) } catch let error as StoreError where error.code == .noReplica {
            throw CLIError("There is no replica in \(replicaFolder). Create one with `outpost init` (or `outpost enroll` once you have a code), or pass --replica DIR.")
        }
        try chooseZone(userZone: try? replica.setting(ClientSettings.userTimeZone))
        return replica
    }

    /// Sets the zone times are typed and shown in: --tz, then $TZ, then the user's zone set
    /// at head office, then the laptop's (`protocol/schema.md`, "Times and zones").
    func chooseZone(userZone: String?) throws {
        if let tz {
            guard let zone = LocalZone(identifier: tz) else {
                throw CLIError("There is no time zone '\(tz)'; give a name such as Asia/Almaty, Asia/Tashkent or Asia/Ho_Chi_Minh.")
            }
            Output.zone = zone
        } else if let env = ProcessInfo.processInfo.environment["TZ"], !env.isEmpty {
            Output.zone = LocalZone(TimeZone.current)
        } else if let userZone, let zone = LocalZone(identifier: userZone) {
            Output.zone = zone
        } else {
            Output.zone = LocalZone(TimeZone.current)
        }
    }
}

/// A failure the CLI reports as one sentence on stderr with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Options shared by every listing.
struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document on stdout and nothing else.")
    var json = false
}

extension OutpostCommand {
    /// Parses the command line and runs the chosen command, async ones included.
    ///
    /// Called from the executable's `main.swift`; `main()` there would pick ArgumentParser's
    /// synchronous entry point, which refuses async commands.
    public static func runFromCommandLine() async {
        // Diagnostics go to stderr, so that stdout holds only what a command prints (and --json stays pure).
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["OUTPOST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
            return handler
        }
        do {
            var command = try await asyncParseAsRoot(nil)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// The record a command works on: its collection and id.
struct RecordArguments: ParsableArguments {
    @Argument(help: "The collection (accounts, contacts, deals, activities, tasks, ...).") var collection: String
    @Argument(help: "The record id.") var id: String
}
