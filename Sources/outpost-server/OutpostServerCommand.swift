import ArgumentParser
import Foundation
import Hummingbird
import Logging
import OutpostBranch
import OutpostClient
import OutpostSchema
import NIOSSL
import OutpostServer
import OutpostWire
import ServiceLifecycle
import UnixSignals

/// `outpost-server`: head office, or a branch (`--upstream`), serving replicas over HTTP.
@main
struct OutpostServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost-server",
        abstract: "Run an Outpost server (head office, or a branch with --upstream) that replicas sync with.",
        discussion: """
            DIR holds the server's replica (replica.sqlite) and its users and devices (server.sqlite).
            SIGTERM or Ctrl-C stops it gracefully: syncs in flight finish or abort cleanly, and a
            sync cut off resumes from its last committed page.

            A branch server (--upstream) is a server to its reps and a replica of head office: it
            relays their writes up and head office's down, continuously, and keeps serving its
            reps while head office is unreachable. Its first start enrolls it with a code for a
            user of role branch; later starts need only --upstream. Its link is shown by
            `outpost-admin stats` and GET /v1/status.

            Examples:
              outpost-server --data ./hq
              outpost-server --data ./hq --schema crm-with-loyalty.json
              outpost-server --data /var/lib/outpost --listen 0.0.0.0:7420
              outpost-server --data ./almaty --listen 127.0.0.1:7421 --upstream http://hq:7420 --enroll-code K7DX-3M9Q-PT2W
              outpost-server token --data ./hq
            """,
        subcommands: [TokenCommand.self]
    )

    @Option(help: ArgumentHelp("The server's data folder (created if missing).", valueName: "DIR"))
    var data: String?

    @Option(help: ArgumentHelp("Where to listen.", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:7420"

    @Option(help: ArgumentHelp("Run as a branch of this parent server (head office or another branch).", valueName: "URL"))
    var upstream: String?

    @Option(help: ArgumentHelp("A one-time code for a user of role branch, from the parent's `outpost-admin devices enroll` (first start only).", valueName: "CODE"))
    var enrollCode: String?

    @Option(help: ArgumentHelp("Head office only: put this schema file in force (its version must be newer than the one in force).", valueName: "FILE"))
    var schema: String?

    @Option(help: ArgumentHelp("A branch's pause between syncs with its parent when nothing arrives from its reps.", valueName: "SECONDS"))
    var upstreamInterval: Double = 5

    @Option(help: ArgumentHelp("Head office: how often to expire silent devices and purge the history every active replica has seen (a day by default; 0: only when an admin runs `outpost-admin retention --purge`). protocol/sync.md, Retention.", valueName: "SECONDS"))
    var purgeInterval: Double = 86_400

    @Option(help: ArgumentHelp("Serve HTTPS with this certificate chain (PEM); goes with --tls-key.", valueName: "FILE"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key (PEM) of --tls-cert.", valueName: "FILE"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("A branch: trust the parent's certificate if this CA (PEM) signed it, as well as the system's CAs.", valueName: "FILE"))
    var upstreamCA: String?

    @Flag(help: "Listen in plain HTTP on an address other than loopback (tokens then cross the network unencrypted; for a trusted LAN or a TLS proxy in front).")
    var insecure = false

    @Option(help: ArgumentHelp("Most calls worked on at once; beyond, devices are told to come back in a moment (429 with Retry-After) and do so by themselves.", valueName: "N"))
    var maxCalls = OutpostServerApp.defaultCallLimit

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func run() async throws {
        guard let data else { throw ValidationError("Give the data folder with --data DIR (for example --data ./hq).") }
        guard maxCalls >= 1 else { throw ValidationError("--max-calls must be at least 1 (the default is \(OutpostServerApp.defaultCallLimit)).") }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen takes HOST:PORT, for example 127.0.0.1:7420.")
        }
        let host = String(listen[..<colon])
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together.") }
        let tls: TLSConfiguration?
        if let tlsCert, let tlsKey {
            do { tls = try ServerTLS.load(certificate: tlsCert, key: tlsKey) } catch let error as WireError { throw ValidationError(error.error.message) }
        } else {
            tls = nil
        }
        if tls == nil && !LoopbackAddress.contains(host) && !insecure {
            throw ValidationError("""
                Refusing to listen in plain HTTP on \(host): device tokens and customer data would cross the network unencrypted. \
                Give --tls-cert FILE --tls-key FILE (see deploy/), or --insecure behind a TLS proxy or on a trusted network.
                """)
        }
        var logger = Logger(label: "outpost-server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        if enrollCode != nil, upstream == nil {
            throw ValidationError("--enroll-code goes with --upstream URL (the parent the code is from).")
        }
        if let upstream {
            guard schema == nil else { throw ValidationError("The schema is set at head office; a branch receives it from its parent. Drop --schema.") }
            do {
                try await UpstreamLink.enroll(directory: data, upstream: upstream, code: enrollCode, device: ProcessInfo.processInfo.hostName,
                                              trustedCA: try upstreamCA.map(ClientTLS.readCA))
            } catch let error as TransportError {
                throw ValidationError("Could not enroll this branch with \(upstream): \(error.description)")
            } catch let error as WireError {
                throw ValidationError(error.description)
            }
        }
        let storage = try SQLiteServerStorage(directory: data)
        if let schema {
            let file: Schema
            do { file = try Schema(json: try Data(contentsOf: URL(fileURLWithPath: schema))) } catch {
                throw ValidationError("Could not read the schema file \(schema): \(error)")
            }
            if file.version > storage.schema.version {
                do { try storage.store.upgradeSchema(file) } catch let error as WireError { throw ValidationError(error.description) }
                logger.notice("schema upgraded", metadata: ["outpost.schema_version": .stringConvertible(file.version)])
            } else if file.fileJSON != storage.schema.fileJSON {
                logger.warning("--schema ignored: its version is not newer than the one in force", metadata: ["outpost.schema_version": .stringConvertible(storage.schema.version)])
            }
        }
        let link = upstream == nil ? nil : try UpstreamLink(storage: storage, interval: .milliseconds(Int64(upstreamInterval * 1000)), logger: logger)
        let role = link == nil ? "" : " as a branch of \(upstream ?? "")"
        let banner: @Sendable (Int) async -> Void = { actual in
            // Written unbuffered: scripts and tests wait for this line.
            FileHandle.standardOutput.write(Data("outpost-server \(storage.serverReplica) listening on \(tls == nil ? "http" : "https")://\(host):\(actual)\(role) (data: \(data))\n".utf8))
        }
        let app = OutpostServerApp.application(storage: storage, host: host, port: port, logger: logger, tls: tls,
                                               callLimit: maxCalls, onRunning: banner, upstream: link?.statusReader, changesArrived: { link?.nudge() })
        var services: [any Service] = [app]
        if let link { services.append(UpstreamService(link: link)) }
        if purgeInterval > 0, link == nil { services.append(PurgeService(storage: storage, every: .milliseconds(Int64(purgeInterval * 1000)), logger: logger)) }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// `outpost-server token`: prints a new admin token.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a new admin token (its only stdout line). Whoever can read DIR is trusted; only the hash is kept.",
        discussion: "Example:\n  export OUTPOST_TOKEN=$(outpost-server token --data ./hq --name aigul)")

    @ParentCommand var root: OutpostServerCommand
    @Option(help: "Whose token it is: the audit names them for what they settle.") var name = "admin"

    func run() throws {
        guard let data = root.data else { throw ValidationError("Give the data folder with --data DIR.") }
        print(try SQLiteServerStorage(directory: data).store.createAdminToken(name: name))
    }
}

/// Head office's periodic retention: expire silent devices, purge the history every active
/// replica has seen (`protocol/sync.md`, "Retention").
struct PurgeService: Service {
    let storage: SQLiteServerStorage
    let every: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: every) } catch { return }
                do {
                    let figures = try await storage.retention(purge: true, expireAfterDays: nil)
                    if figures.purgedFeedEntries > 0 {
                        logger.notice("purged history every active replica has seen", metadata: [
                            "outpost.purged_deleted": .stringConvertible(figures.purgedTombstones), "outpost.purged_records": .stringConvertible(figures.purgedRecords ?? 0),
                            "outpost.feed_entries": .stringConvertible(figures.purgedFeedEntries), "outpost.low_water_mark": .stringConvertible(figures.lowWaterMark)])
                    }
                    if !figures.expired.isEmpty {
                        logger.notice("devices expired for their silence", metadata: ["outpost.expired": .stringConvertible(figures.expired.count)])
                    }
                } catch {
                    logger.error("retention failed; it is tried again later", metadata: ["outpost.error": "\(error)"])
                }
            }
        }
    }
}

/// The branch's link to its parent as a service that stops with the server.
struct UpstreamService: Service {
    let link: UpstreamLink

    func run() async throws {
        await cancelWhenGracefulShutdown { await link.run() }
    }
}
