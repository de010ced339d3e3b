import ArgumentParser
import Foundation
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostTestSupport
import OutpostWire
import Synchronization

/// A whole sales force syncing at once against one `outpost-server` process.
struct LoadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "N devices sync at once with one outpost-server process over HTTP on loopback.",
        discussion: """
            Head office is prepared in a folder (a shared backlog of colleagues' changes and N
            enrolled laptops of one rep) and served by `outpost-server` from the same build
            folder as a child process. Then N simulated devices, each speaking the sync protocol
            over its own connection, start together: hello, one push of a small batch of new
            records, and pulls until the backlog is in. A device told `429 server-busy` waits as
            asked and comes back, as the real client does; that is counted, not an error.
            Reports each device's sync time (p50/p95/p99), changes per second through the server,
            errors, and the server's peak RSS. Target for 1,000 devices on 2 cores: 0 errors,
            p99 under 5 s, server RSS under 1 GiB.

            Example: outpost-bench load --devices 1000 --backlog 200 --batch 5
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "Devices syncing at once.") var devices = 1_000
    @Option(help: "Changes at head office that every device pulls.") var backlog = 200
    @Option(help: "New changes each device pushes.") var batch = 5
    @Option(help: "The server's --max-calls.") var maxCalls = OutpostServerApp.defaultCallLimit

    /// One device's part: its identity and what it pushes.
    struct Device: Sendable {
        let replica: String
        let token: String
        let syncToken: String
        let changes: [JSONValue]
    }

    /// What one device's sync came to.
    struct Outcome: Sendable {
        var seconds: Double = 0
        var pulled = 0
        var pushed = 0
        var busyWaits = 0
        var error: String?
    }

    func run() async throws {
        guard devices >= 1, backlog >= 0, batch >= 0 else { throw ValidationError("--devices must be at least 1, --backlog and --batch at least 0.") }
        let folder = BenchFolder()
        defer { folder.remove() }
        let prepared = try prepare(folder.path("hq"))
        SyncTransport.connectionsPerServer.withLock { $0 = devices + 8 }

        let (server, url) = try startServerProcess(data: folder.path("hq"), arguments: ["--max-calls", String(maxCalls)])
        defer { server.terminate() }
        let cpuBefore = Self.cpuSeconds(pid: server.processIdentifier)

        let clock = ContinuousClock()
        let started = clock.now
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for device in prepared {
                group.addTask { await Self.sync(device, url: url) }
            }
            var all: [Outcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let wall = (clock.now - started).seconds
        let cpu = Self.cpuSeconds(pid: server.processIdentifier) - cpuBefore
        let rss = Self.peakRSSMegabytes(pid: server.processIdentifier)
        let times = outcomes.filter { $0.error == nil }.map(\.seconds).sorted()
        func percentile(_ p: Double) -> Double { times.isEmpty ? 0 : times[min(times.count - 1, Int((Double(times.count) * p).rounded(.up)) - 1)] }
        let errors = outcomes.compactMap(\.error)
        for (error, count) in Dictionary(grouping: errors, by: { $0 }).mapValues(\.count).sorted(by: { $0.value > $1.value }).prefix(5) {
            FileHandle.standardError.write(Data("\(count) × \(error)\n".utf8))
        }
        let moved = outcomes.reduce(0) { $0 + $1.pulled + $1.pushed }
        Report.print([("devices", Double(devices)), ("errors", Double(errors.count)),
                      ("sync_p50_s", percentile(0.5)), ("sync_p95_s", percentile(0.95)), ("sync_p99_s", percentile(0.99)),
                      ("sync_max_s", times.last ?? 0), ("wall_s", wall), ("changes_per_s", Double(moved) / wall),
                      ("pulled", Double(outcomes.reduce(0) { $0 + $1.pulled })), ("pushed", Double(outcomes.reduce(0) { $0 + $1.pushed })),
                      ("busy_waits", Double(outcomes.reduce(0) { $0 + $1.busyWaits })),
                      ("server_cpu_s", cpu), ("server_peak_rss_mb", rss)],
                     json: options.json, title: "load: \(devices) devices sync at once (backlog \(backlog), batch \(batch))")
    }

    /// Head office's folder: the backlog, and a user with an enrolled device per simulated device.
    func prepare(_ directory: String) throws -> [Device] {
        let store = try EmbeddedServerStore(directory: directory)
        try preload(store.replica, try CRMWorkload(count: backlog, replica: "colleagues").changes, origin: "colleagues")
        var rng = SystemRandomNumberGenerator()
        var prepared: [Device] = []
        // The workload's writes are stamped as aigerim's: every simulated laptop is one of hers.
        let user = "aigerim"
        try store.addUser(UserInfo(name: user, role: "rep", scope: "all"))
        for n in 0..<devices {
            let code = try store.createEnrollmentCode(user: user)
            let replica = "r" + String(format: "%016x", n + 1)
            let syncToken = SyncToken.next(after: nil, using: &rng)
            let token = try store.enroll(code: code, device: "laptop-\(n)", replica: replica, syncToken: syncToken).token
            let changes = try CRMWorkload(count: batch, replica: replica, seed: UInt64(n + 1)).changes.map(\.json)
            prepared.append(Device(replica: replica, token: token, syncToken: syncToken, changes: changes))
        }
        return prepared
    }

    /// One device's sync at the protocol level: hello, push, pulls to the end.
    static func sync(_ device: Device, url: String) async -> Outcome {
        var outcome = Outcome()
        let transport = SyncTransport(baseURL: url, token: device.token, timeouts: SyncTimeouts(connect: .seconds(10), request: .seconds(60)))
        let clock = ContinuousClock()
        let started = clock.now
        do {
            var rng = SystemRandomNumberGenerator()
            let hello = HelloRequest(replica: device.replica, counter: UInt64(device.changes.count), schemaVersion: 1,
                                     position: SyncPosition(server: nil, cursor: 0, seen: [:]), syncToken: device.syncToken,
                                     nextSyncToken: SyncToken.next(after: device.syncToken, using: &rng))
            let opened = try await call(transport, "/v1/sync/hello", hello, HelloResponse.self, &outcome)
            if !device.changes.isEmpty {
                let pushed = try await call(transport, "/v1/sync/push", PushRequest(replica: device.replica, changes: device.changes), PushResponse.self, &outcome)
                outcome.pushed = pushed.results.filter { $0.status == .applied }.count
                if let refused = pushed.results.first(where: { $0.status != .applied }) {
                    outcome.error = "push: \(refused.status) \(refused.code ?? "") \(refused.reason ?? "")"
                }
            }
            var cursor = opened.cursor
            while true {
                let page = try await call(transport, "/v1/sync/pull", PullRequest(replica: device.replica, cursor: cursor, limit: WireLimits.pageChanges),
                                          PullResponse.self, &outcome)
                outcome.pulled += page.changes.count
                cursor = page.cursor
                if !page.more { break }
            }
        } catch {
            outcome.error = "\(error)"
        }
        outcome.seconds = (clock.now - started).seconds
        return outcome
    }

    /// One call, waiting as asked while the server is busy (as ``SyncEngine`` does).
    static func call<Request: Encodable & Sendable, Response: Decodable>(_ transport: SyncTransport, _ path: String, _ body: Request,
                                                                          _ type: Response.Type, _ outcome: inout Outcome) async throws -> Response {
        var waited = Duration.zero
        while true {
            do { return try await transport.post(path, body, as: type).0 } catch TransportError.unreachable(.busy(let asked)) {
                // The engine's patience: two minutes of being told to wait per request.
                let wait = asked + .milliseconds(Int.random(in: 0...Int(asked.components.seconds * 250)))
                guard waited + wait <= SyncEngine.defaultBusyPatience else { throw TransportError.unreachable(.busy(retryAfter: asked)) }
                outcome.busyWaits += 1
                try await Task.sleep(for: wait)
                waited += wait
            }
        }
    }

    /// User and system CPU seconds a process has used (Linux `/proc`).
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A process's peak resident memory (Linux `VmHWM`).
    static func peakRSSMegabytes(pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }
}
