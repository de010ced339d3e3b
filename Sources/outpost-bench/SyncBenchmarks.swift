import ArgumentParser
import Foundation
import Logging
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostServer
import OutpostStore
import OutpostTestSupport
import OutpostWire
import ServiceLifecycle

/// A head office running in this process on 127.0.0.1 with an ephemeral port.
struct BenchServer {
    let storage: SQLiteServerStorage
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let url: String

    static func start(_ directory: String) async throws -> BenchServer {
        let storage = try SQLiteServerStorage(directory: directory)
        var logger = Logger(label: "bench-server")
        logger.logLevel = .error
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = OutpostServerApp.application(storage: storage, host: "127.0.0.1", port: 0, logger: logger) { continuation.yield($0) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var it = stream.makeAsyncIterator()
        let port = await it.next()!
        return BenchServer(storage: storage, group: group, task: task, url: "http://127.0.0.1:\(port)")
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Enrolls a new replica in `directory` for a fresh user.
    func enroll(_ directory: String, user: String) async throws -> Replica {
        try storage.store.addUser(UserInfo(name: user, role: "rep", scope: "all"))
        let code = try storage.store.createEnrollmentCode(user: user)
        return try await Enrollment.enrollReplica(at: directory + "/replica.sqlite", serverURL: url, code: code,
                                                  device: "\(user)-laptop", replicaID: "r-\(user)").replica
    }
}

/// Starts `outpost-server` from this build folder on a free loopback port, serving `data`;
/// returns the process and its URL once it listens.
func startServerProcess(data: String, arguments: [String] = []) throws -> (Process, String) {
    let server = Process()
    server.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("outpost-server")
    server.arguments = ["--data", data, "--listen", "127.0.0.1:0", "--log-level", "error"] + arguments
    let serverOut = Pipe()
    server.standardOutput = serverOut
    try server.run()
    var seen = ""
    while !seen.contains("listening on ") {
        let more = serverOut.fileHandleForReading.availableData
        guard !more.isEmpty else { throw ValidationError("outpost-server stopped before it listened (is it built? swift build -c release).") }
        seen += String(decoding: more, as: UTF8.self)
    }
    return (server, String(seen[seen.range(of: "listening on ")!.upperBound...].prefix { !$0.isWhitespace }))
}

/// Loads `changes` into a replica in pages of 1,000.
func preload(_ replica: Replica, _ changes: [Change], origin: String) throws {
    for start in stride(from: 0, to: changes.count, by: 1_000) {
        try replica.apply(Array(changes[start..<min(start + 1_000, changes.count)]), from: origin)
    }
}

/// Two weeks on the road: `edits` local writes of the CRM mix on an enrolled replica.
func makeTripEdits(_ replica: Replica, edits: Int) throws {
    var accounts: [String] = []
    var tasks: [String] = []
    for n in 0..<edits {
        switch n % 10 {
        case 0:
            accounts.append(try replica.insert("accounts", ["name": .string("Клиент в пути \(n)"), "city": .string("Шымкент"), "phone": .string("+7 701 \(n)"), "kind": .string("prospect")]))
        case 1, 2, 3, 4:
            _ = try replica.insert("activities", ["account_id": .reference(accounts.last!), "kind": .string("visit"), "at": .timestamp(1_795_000_000_000 + Int64(n) * 60_000),
                                                  "summary": .string("Встреча с закупщиком, обсудили объёмы на 2027"), "duration_min": .integer(30)])
        case 5:
            tasks.append(try replica.insert("tasks", ["title": .string("Отправить КП \(n)"), "due_at": .timestamp(1_795_100_000_000), "status": .string("open"), "account_id": .reference(accounts.last!)]))
        case 6, 7:
            try replica.update("accounts", id: accounts.randomElement()!, [.set("phone", .string("+7 702 \(n)"))])
        case 8:
            try replica.update("tasks", id: tasks.randomElement() ?? tasks[0], [.set("status", .string("done"))])
        default:
            try replica.update("accounts", id: accounts.randomElement()!, [.add("tags", "hot")])
        }
    }
}

func fieldCount(_ changes: [Change]) -> Int { changes.reduce(0) { $0 + $1.fields.count } }

/// A head office with `remote` colleagues' changes waiting, and an enrolled rep back from a trip
/// with `edits` local edits: returns the server, the rep's replica and the changed fields on both sides.
func prepareTrip(_ folder: BenchFolder, edits: Int, remote: Int, scope: String = "all") async throws -> (BenchServer, Replica, fields: Int) {
    let server = try await BenchServer.start(folder.path("hq"))
    let replica = try await server.enroll(folder.path("rep"), user: "aigerim")
    if scope != "all" { _ = try server.storage.store.editUser(AdminUserEditRequest(name: "aigerim", scope: scope)) }
    try await SyncEngine(replica: replica).sync()
    let others = try CRMWorkload(count: remote, replica: "colleagues")
    try preload(server.storage.replica, others.changes, origin: "colleagues")
    _ = try makeTripEdits(replica, edits: edits)
    let fields = fieldCount(try replica.localChanges(after: 0, limit: .max)) + fieldCount(others.changes)
    return (server, replica, fields)
}

/// The size of the trip `trip` and `wire` measure.
struct TripOptions: ParsableArguments {
    @Option(help: "Local edits made on the trip.") var edits = 2_000
    @Option(help: "Remote changes waiting at head office.") var remote = 20_000
    @Option(help: ArgumentHelp("The rep's scope (the workload's accounts are owner aigerim, branch almaty): `owner = me` measures a scoped rep with everything in scope, the cost of judging each change.", valueName: "SCOPE"))
    var scope = "all"
}

extension TripOptions {
    /// Prepares the trip, times the one sync that does it, and returns the time, the sync's
    /// counts and the number of changed fields on both sides.
    func measure() async throws -> (elapsed: Duration, summary: SyncProgress, fields: Int) {
        let folder = BenchFolder()
        defer { folder.remove() }
        let (server, replica, fields) = try await prepareTrip(folder, edits: edits, remote: remote, scope: scope)
        var summary = SyncProgress()
        let elapsed = try await ContinuousClock().measure { summary = try await SyncEngine(replica: replica).sync() }
        try await server.stop()
        return (elapsed, summary, fields)
    }
}

struct TripBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trip",
        abstract: "A two-week trip: push 2,000 local edits and pull 20,000 remote changes, end to end over HTTP on loopback.",
        discussion: "seconds is the wall time of the one `sync` that does both; the target is < 2 s.")

    @OptionGroup var options: BenchmarkOptions
    @OptionGroup var trip: TripOptions

    func run() async throws {
        let (elapsed, summary, fields) = try await trip.measure()
        Report.print([("seconds", elapsed.seconds), ("pushed", Double(summary.pushed)), ("pulled", Double(summary.pulled)),
                      ("bytes_up", Double(summary.bytesUp)), ("bytes_down", Double(summary.bytesDown)),
                      ("bytes_per_field", Double(summary.bytesUp + summary.bytesDown) / Double(fields))],
                     json: options.json, title: "trip: \(trip.edits) local edits pushed, \(trip.remote) remote changes pulled")
    }
}

struct WireBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire",
        abstract: "Bytes on the wire per changed field for the trip (both directions, after compression).",
        discussion: "A changed field is one field (or field group) a change writes. The target is <= 24.")

    @OptionGroup var options: BenchmarkOptions
    @OptionGroup var trip: TripOptions

    func run() async throws {
        let (_, summary, fields) = try await trip.measure()
        Report.print([("bytes_per_field", Double(summary.bytesUp + summary.bytesDown) / Double(fields)),
                      ("bytes_up", Double(summary.bytesUp)), ("bytes_down", Double(summary.bytesDown)), ("changed_fields", Double(fields))],
                     json: options.json, title: "wire: bytes per changed field for the trip")
    }
}

struct BootstrapBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "A new replica pulls N records from a head office that runs as its own process.",
        discussion: """
            The head office is preloaded by a child process and served by `outpost-server` (from the
            same build folder) as another child, so client_peak_rss_mb is this process's own peak.
            A new replica facing more than 20,000 changes starts from a snapshot of its user's
            records (--replay pulls every change instead). server_cpu_s is the server process's
            CPU time for the bootstrap. Targets for 1,000,000 changes: under 30 s and under 150 MB.

            Example: outpost-bench bootstrap --changes 1000000
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(name: [.customLong("changes"), .customLong("records")], help: "Changes at head office (the CRM mix: about 85 % of them make a record).")
    var records = 1_000_000
    @Flag(help: "Pull every change instead of starting from a snapshot (the way before issue 13).") var replay = false
    @Option(help: ArgumentHelp("Internal: preload DIR with --records records and exit.", visibility: .hidden)) var preloadOnly: String?

    func run() async throws {
        if let dir = preloadOnly {
            let storage = try SQLiteServerStorage(directory: dir)
            let workload = try CRMWorkload(count: records, replica: "colleagues")
            try preload(storage.replica, workload.changes, origin: "colleagues")
            try storage.store.addUser(UserInfo(name: "newcomer", role: "rep", scope: "all"))
            print(try storage.store.createEnrollmentCode(user: "newcomer"))
            return
        }
        let folder = BenchFolder()
        defer { folder.remove() }
        let me = URL(fileURLWithPath: CommandLine.arguments[0])
        let pre = Process()
        pre.executableURL = me
        pre.arguments = ["bootstrap", "--records", String(records), "--preload-only", folder.path("hq")]
        let out = Pipe()
        pre.standardOutput = out
        try pre.run()
        let code = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        pre.waitUntilExit()

        let (server, url) = try startServerProcess(data: folder.path("hq"))
        defer { server.terminate() }

        let replica = try await Enrollment.enrollReplica(at: folder.path("rep/replica.sqlite"), serverURL: url, code: code,
                                                         device: "new-laptop", replicaID: "r-newcomer").replica
        let clock = ContinuousClock()
        var summary = SyncProgress()
        var engine = try SyncEngine(replica: replica)
        if replay { engine.bootstrapThreshold = 0 }
        let cpuBefore = LoadBenchmark.cpuSeconds(pid: server.processIdentifier)
        let elapsed = try await clock.measure { summary = try await engine.sync() }
        let serverCPU = LoadBenchmark.cpuSeconds(pid: server.processIdentifier) - cpuBefore
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let held = try replica.schema.collections.reduce(0) { $0 + (try replica.count($1.name)) }
        Report.print([("changes_per_s", Double(summary.pulled) / elapsed.seconds), ("seconds", elapsed.seconds),
                      ("client_peak_rss_mb", Double(usage.ru_maxrss) / 1024), ("changes", Double(summary.pulled)),
                      ("live_records", Double(held)), ("from_snapshot", summary.fromSnapshot ? 1 : 0),
                      ("bytes_down", Double(summary.bytesDown)), ("server_cpu_s", serverCPU),
                      ("server_cpu_s_per_million_changes", serverCPU / Double(max(1, summary.pulled)) * 1_000_000)],
                     json: options.json, title: "bootstrap: a new replica takes in \(records) changes")
    }
}
