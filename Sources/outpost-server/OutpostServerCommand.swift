import ArgumentParser
import Foundation
import Hummingbird
import Logging
import OutpostServer

/// `outpost-server`: head office (or, later, a branch) serving replicas over HTTP.
@main
struct OutpostServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost-server",
        abstract: "Run an Outpost server (head office) that replicas sync with.",
        discussion: """
            DIR holds the server's replica (replica.sqlite) and its users and devices (server.sqlite).
            SIGTERM or Ctrl-C stops it gracefully: syncs in flight finish or abort cleanly, and a
            sync cut off resumes from its last committed page.

            Examples:
              outpost-server --data ./hq
              outpost-server --data /var/lib/outpost --listen 0.0.0.0:7420
              outpost-server token --data ./hq
            """,
        subcommands: [TokenCommand.self]
    )

    @Option(help: ArgumentHelp("The server's data folder (created if missing).", valueName: "DIR"))
    var data: String?

    @Option(help: ArgumentHelp("Where to listen.", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:7420"

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func run() async throws {
        guard let data else { throw ValidationError("Give the data folder with --data DIR (for example --data ./hq).") }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen takes HOST:PORT, for example 127.0.0.1:7420.")
        }
        let host = String(listen[..<colon])
        var logger = Logger(label: "outpost-server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let storage = try SQLiteServerStorage(directory: data)
        let app = OutpostServerApp.application(storage: storage, host: host, port: port, logger: logger) { actual in
            // Written unbuffered: scripts and tests wait for this line.
            FileHandle.standardOutput.write(Data("outpost-server \(storage.serverReplica) listening on http://\(host):\(actual) (data: \(data))\n".utf8))
        }
        try await app.runService()
    }
}

/// `outpost-server token`: prints a new admin token.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a new admin token (its only stdout line). Whoever can read DIR is trusted; only the hash is kept.",
        discussion: "Example:\n  export OUTPOST_TOKEN=$(outpost-server token --data ./hq)")

    @ParentCommand var root: OutpostServerCommand

    func run() throws {
        guard let data = root.data else { throw ValidationError("Give the data folder with --data DIR.") }
        print(try SQLiteServerStorage(directory: data).createAdminToken())
    }
}
