import ArgumentParser
import Foundation
import Logging
import Synchronization
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
            Your replica is a folder holding one SQLite file, replica.sqlite. It is
            $OUTPOST_REPLICA if set, else your data folder: ~/.local/share/outpost on Linux
            ($XDG_DATA_HOME/outpost when that is set), ~/Library/Application Support/Outpost
            on a Mac. Choose another with --replica DIR (before the command); `outpost status`
            prints where it is.

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

    /// The replica folder: --replica, then $OUTPOST_REPLICA, then the user's data folder
    /// (`~/.outpost` where an earlier version put a replica there).
    var replicaFolder: String {
        if let replica { return replica }
        let environment = ProcessInfo.processInfo.environment
        if let env = environment["OUTPOST_REPLICA"], !env.isEmpty { return env }
        let home = environment["HOME"].flatMap { $0.hasPrefix("/") ? URL(fileURLWithPath: $0) : nil } ?? FileManager.default.homeDirectoryForCurrentUser
        let legacy = home.appendingPathComponent(".outpost")
        if FileManager.default.fileExists(atPath: legacy.appendingPathComponent("replica.sqlite").path) { return legacy.path }
        #if os(macOS)
        return home.appendingPathComponent("Library/Application Support/Outpost").path
        #else
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") { return URL(fileURLWithPath: data).appendingPathComponent("outpost").path }
        return home.appendingPathComponent(".local/share/outpost").path
        #endif
    }

    /// The SQLite file inside the replica folder.
    var replicaFile: String { URL(fileURLWithPath: replicaFolder).appendingPathComponent("replica.sqlite").path }

    /// The replica folder this run opened, for messages about it.
    static let openedFolder = Mutex<String?>(nil)

    /// Opens the replica, or fails with a sentence saying how to create one.
    func openReplica() throws -> Replica {
        Self.openedFolder.withLock { $0 = replicaFolder }
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
            let name = env.hasPrefix(":") ? String(env.dropFirst()) : env
            if LocalZone(identifier: name) == nil {
                FileHandle.standardError.write(Data("Warning: TZ=\(env) is not a time zone name; times are read and shown in \(Output.zone.identifier). Set TZ to a name such as Asia/Almaty, or use --tz.\n".utf8))
            }
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
            if let sentence = ErrorSentence.sentence(for: error, folder: openedFolder.withLock { $0 } ?? "your replica folder") {
                Logger(label: "outpost").debug("failure", metadata: ["error": "\(error)"])
                exit(withError: CLIError(sentence))
            }
            exit(withError: error)
        }
    }
}

/// The record a command works on: its collection and id.
struct RecordArguments: ParsableArguments {
    @Argument(help: "The collection (accounts, contacts, deals, activities, tasks, ...).") var collection: String
    @Argument(help: "The record id, or its first characters (at least 4, enough to tell it apart).") var id: String

    /// The full id the rep means (a unique start of one is enough).
    func fullID(in replica: Replica) throws -> String { try replica.resolveID(collection, id) }
}
