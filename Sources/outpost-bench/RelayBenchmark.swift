import ArgumentParser
import Foundation
import Logging
import OutpostBranch
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import ServiceLifecycle

/// A branch server running in this process on 127.0.0.1 with an ephemeral port, enrolled with
/// `parent` under a user of role `branch`. Its pushes from reps nudge its link, as in
/// `outpost-server --upstream`; the link runs only when the benchmark runs it.
struct BenchBranch {
    let storage: SQLiteServerStorage
    let link: UpstreamLink
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let url: String

    static func start(_ directory: String, parent: BenchServer, name: String) async throws -> BenchBranch {
        try parent.storage.store.addUser(UserInfo(name: name, role: "branch", scope: "all"))
        try await UpstreamLink.enroll(directory: directory, upstream: parent.url, code: try parent.storage.store.createEnrollmentCode(user: name),
                                      device: name)
        let storage = try SQLiteServerStorage(directory: directory)
        var logger = Logger(label: "bench-branch")
        logger.logLevel = .error
        let link = try UpstreamLink(storage: storage, logger: logger)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = OutpostServerApp.application(storage: storage, host: "127.0.0.1", port: 0, logger: logger,
                                               onRunning: { continuation.yield($0) }, upstream: link.statusReader,
                                               changesArrived: { link.nudge() })
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var it = stream.makeAsyncIterator()
        let port = await it.next()!
        return BenchBranch(storage: storage, link: link, group: group, task: task, url: "http://127.0.0.1:\(port)")
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Enrolls a new replica in `directory` for a fresh user made at `parent`, which reaches
    /// the branch at one round of its link.
    func enroll(_ directory: String, user: String, parent: BenchServer) async throws -> Replica {
        try parent.storage.store.addUser(UserInfo(name: user, role: "rep", scope: "all"))
        try await link.runRound()
        let code = try storage.store.createEnrollmentCode(user: user)
        return try await Enrollment.enrollReplica(at: directory + "/replica.sqlite", serverURL: url, code: code,
                                                  device: "\(user)-laptop", replicaID: "r-\(user)").replica
    }
}

/// `outpost-bench relay`: what a branch tier costs, in throughput and in delay.
struct RelayBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Relay through a branch: changes per second through one branch round, and the delay a branch tier adds to a single change.",
        discussion: """
            Head office, one branch and two reps (one under the branch, one under head office) run
            in this process over HTTP on 127.0.0.1.

            Throughput: the rep under the branch pushes --changes trip edits to the branch; one
            round of the branch's link relays them to head office (relay_seconds); the rep under
            head office then pulls them (direct_pull_seconds, the same changes through one tier).

            Delay: with the branch's link running in the background (nudged by its reps' pushes,
            as in outpost-server --upstream), the rep under the branch writes one change and syncs,
            and head office's replica is polled every 5 ms until it holds it (tier_delay_*). The
            rep under head office does the same; its sync time is the baseline (direct_sync_*).
            extra_delay_median_ms is the difference of the medians. single_round_median_ms is one
            round of the link carrying one change, run by hand: the extra delay is about that
            plus the link's pause before a nudged round (100 ms, after up to 50 ms to notice).

            Example:
              swift run -c release outpost-bench relay --json
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "Changes the rep under the branch pushes and the branch relays.") var changes = 20_000
    @Option(help: "Single changes timed for the delay, on each path.") var samples = 20

    func validate() throws {
        guard changes > 0 else { throw ValidationError("Please give --changes a positive number of changes to relay.") }
        guard samples > 0 else { throw ValidationError("Please give --samples a positive number of single changes to time.") }
    }

    func run() async throws {
        let folder = BenchFolder()
        defer { folder.remove() }
        let clock = ContinuousClock()
        let hq = try await BenchServer.start(folder.path("hq"))
        let branch = try await BenchBranch.start(folder.path("almaty"), parent: hq, name: "almaty-branch")
        let underBranch = try await branch.enroll(folder.path("aigerim"), user: "aigerim", parent: hq)
        let direct = try await hq.enroll(folder.path("bolor"), user: "bolor")
        try await SyncEngine(replica: underBranch).sync()
        try await SyncEngine(replica: direct).sync()
        try await branch.link.runRound()

        // Throughput: rep → branch, branch → head office in one round, head office → rep.
        try makeTripEdits(underBranch, edits: changes)
        var push = SyncProgress(), relay = SyncProgress(), pull = SyncProgress()
        let pushTime = try await clock.measure { push = try await SyncEngine(replica: underBranch).sync() }
        let relayTime = try await clock.measure { relay = try await branch.link.runRound() }
        let pullTime = try await clock.measure { pull = try await SyncEngine(replica: direct).sync() }

        // One round of the link carrying a single change, run by hand (a part of the delay).
        var round: [Double] = []
        for n in 0...samples {
            _ = try underBranch.insert("accounts", ["name": .string("Round probe \(n)"), "city": .string("Алматы")])
            try await SyncEngine(replica: underBranch).sync()
            let time = try await clock.measure { try await branch.link.runRound() }
            if n > 0 { round.append(time.seconds * 1000) }
        }

        // Delay: the link runs on its own, as in a branch server.
        let running = Task { await branch.link.run() }
        try await Task.sleep(for: .milliseconds(300))
        var tier: [Double] = [], branchSync: [Double] = [], directSync: [Double] = []
        for n in 0...samples {
            // One warm-up sample of each, then the timed ones. The pause lets the link settle
            // in its wait between rounds, where a rep's push usually finds it; its length
            // varies across the link's 50 ms check of nudges, so pushes meet every phase of it.
            try await Task.sleep(for: .milliseconds(300 + 50 * n / samples))
            let id = try underBranch.insert("accounts", ["name": .string("Delay probe \(n)"), "city": .string("Алматы")])
            let start = clock.now
            try await SyncEngine(replica: underBranch).sync()
            let synced = clock.now
            while try hq.storage.replica.get("accounts", id: id) == nil {
                guard clock.now - start < .seconds(30) else {
                    FileHandle.standardError.write(Data("relay: a change pushed to the branch did not reach head office within 30 s.\n".utf8))
                    throw ExitCode.failure
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            let arrived = clock.now
            try await Task.sleep(for: .milliseconds(300))
            _ = try direct.insert("accounts", ["name": .string("Direct probe \(n)"), "city": .string("Улаанбаатар")])
            let directTime = try await clock.measure { try await SyncEngine(replica: direct).sync() }
            guard n > 0 else { continue }
            tier.append((arrived - start).seconds * 1000)
            branchSync.append((synced - start).seconds * 1000)
            directSync.append(directTime.seconds * 1000)
        }
        running.cancel()
        await running.value
        try await branch.stop()
        try await hq.stop()

        Report.print([("changes", Double(changes)),
                      ("rep_push_seconds", pushTime.seconds), ("rep_pushed", Double(push.pushed)),
                      ("relay_seconds", relayTime.seconds), ("relay_pushed", Double(relay.pushed)),
                      ("relay_changes_per_second", Double(relay.pushed) / relayTime.seconds),
                      ("direct_pull_seconds", pullTime.seconds), ("direct_pulled", Double(pull.pulled)),
                      ("direct_pull_changes_per_second", Double(pull.pulled) / pullTime.seconds),
                      ("samples", Double(samples)),
                      ("tier_delay_median_ms", median(tier)), ("tier_delay_p95_ms", percentile(tier, 0.95)),
                      ("branch_sync_median_ms", median(branchSync)), ("single_round_median_ms", median(round)),
                      ("direct_sync_median_ms", median(directSync)), ("direct_sync_p95_ms", percentile(directSync, 0.95)),
                      ("extra_delay_median_ms", median(tier) - median(directSync))],
                     json: options.json, title: "relay: \(changes) changes through a branch, and \(samples) single changes through each tier")
    }
}

/// The middle value (the mean of the two middle ones for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// The nearest-rank percentile: the smallest value at least `fraction` of the values are at or below.
func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[max(0, min(sorted.count, rank) - 1)]
}
