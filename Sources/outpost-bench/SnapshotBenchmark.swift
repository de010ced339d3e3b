import ArgumentParser
import Foundation
import OutpostCore
import OutpostSchema
import OutpostWire
import OutpostServer
import OutpostStore
import OutpostTestSupport

/// `outpost-bench snapshot`: how fast a new laptop starts from a snapshot file instead of a bootstrap.
struct SnapshotBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Head office with N records writes a snapshot file; a new laptop starts from it.",
        discussion: """
            Measures the server's `outpost-admin snapshot` work (VACUUM INTO and the rewrite of the
            copy) and a laptop's `outpost init --from-snapshot` (copy, open, count). Target for
            1,000,000 records: the laptop's start under 10 s.
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "Records at head office.") var records = 1_000_000

    func run() async throws {
        let folder = BenchFolder()
        defer { folder.remove() }
        let storage = try SQLiteServerStorage(directory: folder.path("hq"))
        let workload = try CRMWorkload(count: records, replica: "colleagues")
        try preload(storage.replica, workload.changes, origin: "colleagues")
        try storage.store.addUser(UserInfo(name: "newcomer", role: "rep", scope: "all"))
        let clock = ContinuousClock()
        let file = folder.path("newcomer.outpost")
        var info: SnapshotInfo?
        let server = try clock.measure { info = try storage.store.writeSnapshot(to: file, user: "newcomer") }
        let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        var count = 0
        let laptop = try clock.measure {
            let path = folder.path("laptop/replica.sqlite")
            try FileManager.default.createDirectory(atPath: folder.path("laptop"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: file, toPath: path)
            let replica = try Replica.open(at: path)
            count = try replica.schema.collections.reduce(0) { $0 + (try replica.count($1.name)) }
        }
        Report.print([("records", Double(info?.records ?? 0)), ("laptop_records", Double(count)), ("server_snapshot_seconds", server.seconds),
                      ("laptop_start_seconds", laptop.seconds), ("file_mb", Double(size) / 1_048_576)],
                     json: options.json, title: "snapshot: a new laptop starts from a file of \(records) records")
    }
}
