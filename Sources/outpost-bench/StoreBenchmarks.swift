import ArgumentParser
import Foundation
import GRDB
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostTestSupport

/// A scratch folder for one benchmark run.
struct BenchFolder {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-bench-\(UUID().uuidString)")
    init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// A plain SQLite file with the same collection tables and pragmas as a replica, and nothing else.
func rawDatabase(_ path: String) throws -> DatabaseQueue {
    var config = Configuration()
    config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let queue = try DatabaseQueue(path: path, configuration: config)
    try queue.writeWithoutTransaction { db in
        try db.execute(sql: "PRAGMA journal_mode = WAL")
        for c in Schema.crm.collections {
            let columns = c.fields.map { "\($0.name.quotedDatabaseIdentifier) \($0.type.sqliteType)" }.joined(separator: ", ")
            try db.execute(sql: "CREATE TABLE \(c.name.quotedDatabaseIdentifier) (id TEXT PRIMARY KEY NOT NULL, \(columns))")
            for f in c.fields where f.type == .reference {
                try db.execute(sql: "CREATE INDEX \("\(c.name)_by_\(f.name)".quotedDatabaseIdentifier) ON \(c.name.quotedDatabaseIdentifier) (\(f.name.quotedDatabaseIdentifier))")
            }
        }
    }
    return queue
}

/// The plain row each change leaves behind, for the raw-upsert baseline.
func materializedRows(_ changes: [Change]) throws -> [(collection: String, values: [DatabaseValue])] {
    var states: [String: RecordState] = [:]
    return try changes.map { change in
        let key = change.collection + "/" + change.recordID
        let state = (states[key] ?? RecordState()).applying(change)
        states[key] = state
        let spec = try Schema.crm.collection(change.collection)
        let resolved = state.resolve(spec.rules, recordID: change.recordID)
        return (change.collection, [change.recordID.databaseValue] + spec.fields.map {
            ColumnMapping.databaseValue(resolved.values[$0.name] ?? .null, type: $0.type)
        })
    }
}

struct ApplyBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply N remote changes (CRM mix) against a raw SQLite upsert of the same rows, same pragmas.",
        discussion: """
            Both sides write in transactions of --batch changes (as sync pages do), to files in WAL
            mode with synchronous=FULL. ratio = apply_per_s / raw_upsert_per_s; the target is >= 0.5.
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "How many changes.") var changes = 50_000
    @Option(help: "Changes per transaction.") var batch = 1_000

    func run() throws {
        let workload = try CRMWorkload(count: changes)
        let rows = try materializedRows(workload.changes)
        let folder = BenchFolder()
        defer { folder.remove() }
        let clock = ContinuousClock()

        let replica = try Replica.create(at: folder.path("replica.sqlite"), options: ReplicaOptions(user: "bench", device: "bench"))
        let cpuBefore = cpuSeconds()
        let applyTime = try clock.measure {
            for start in stride(from: 0, to: workload.changes.count, by: batch) {
                let page = Array(workload.changes[start..<min(start + batch, workload.changes.count)])
                try replica.apply(page, from: "bench-source")
            }
        }
        // Wall time beyond CPU time is the disk (commits wait for fsync).
        let applyCPU = cpuSeconds() - cpuBefore

        let raw = try rawDatabase(folder.path("raw.sqlite"))
        let upsertSQL = ApplyFloorBenchmark.upsertPlain
        let rawCPUBefore = cpuSeconds()
        let rawTime = try clock.measure {
            for start in stride(from: 0, to: rows.count, by: batch) {
                try raw.write { db in
                    for row in rows[start..<min(start + batch, rows.count)] {
                        try db.cachedStatement(sql: upsertSQL[row.collection]!).execute(arguments: StatementArguments(row.values))
                    }
                }
            }
        }
        let rawCPU = cpuSeconds() - rawCPUBefore
        let applyRate = Double(changes) / applyTime.seconds
        let rawRate = Double(changes) / rawTime.seconds
        Report.print([("apply_per_s", applyRate), ("raw_upsert_per_s", rawRate), ("ratio", applyRate / rawRate),
                      ("apply_seconds", applyTime.seconds), ("apply_cpu_seconds", applyCPU),
                      ("raw_seconds", rawTime.seconds), ("raw_cpu_seconds", rawCPU),
                      ("changes", Double(changes)), ("batch", Double(batch))],
                     json: options.json, title: "apply: \(changes) CRM changes in transactions of \(batch)")
    }
}

struct LocalWriteBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local-write",
        abstract: "Edits through the replica API against plain UPDATEs of the same rows, one transaction per edit.",
        discussion: "overhead = API time / plain time; the target is <= 1.5. Each edit is a user action, so each commits on its own.")

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "How many records to edit.") var records = 1_000
    @Option(help: "How many edits.") var edits = 2_000

    func run() throws {
        let folder = BenchFolder()
        defer { folder.remove() }
        let replica = try Replica.create(at: folder.path("replica.sqlite"), options: ReplicaOptions(user: "bench", device: "bench"))
        var ids: [String] = []
        let workload = try CRMWorkload(count: records * 8)
        let accountChanges = workload.changes.filter { $0.collection == "accounts" && $0.fields["name"] != nil }.prefix(records)
        try replica.apply(Array(accountChanges), from: "bench-source")
        ids = accountChanges.map(\.recordID)
        let raw = try rawDatabase(folder.path("raw.sqlite"))
        let rows = try materializedRows(Array(accountChanges))
        try raw.write { db in
            for row in rows {
                try db.execute(sql: "INSERT INTO accounts VALUES (\(row.values.map { _ in "?" }.joined(separator: ", ")))", arguments: StatementArguments(row.values))
            }
        }
        let clock = ContinuousClock()
        let apiTime = try clock.measure {
            for n in 0..<edits {
                try replica.update("accounts", id: ids[n % ids.count], [.set("phone", .string("+7 777 \(n)"))])
            }
        }
        let plainTime = try clock.measure {
            for n in 0..<edits {
                try raw.write { db in
                    try db.execute(sql: "UPDATE accounts SET phone = ? WHERE id = ?", arguments: ["+7 777 \(n)", ids[n % ids.count]])
                }
            }
        }
        Report.print([("api_edits_per_s", Double(edits) / apiTime.seconds), ("plain_updates_per_s", Double(edits) / plainTime.seconds),
                      ("overhead", apiTime.seconds / plainTime.seconds), ("edits", Double(edits))],
                     json: options.json, title: "local-write: \(edits) edits of \(ids.count) accounts")
    }
}

struct MetadataBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata",
        abstract: "Outpost's bytes per record against the record's own bytes, on the CRM mix.",
        discussion: """
            ratio: the replicated state kept per record (outpost_records) over the record's own bytes
            (id and column values in the plain tables); the target is <= 1.0. history_ratio: the
            change feed (audit trail and relay source, purged by retention) over the same.
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "How many changes.") var changes = 20_000

    func run() throws {
        let workload = try CRMWorkload(count: changes)
        let folder = BenchFolder()
        defer { folder.remove() }
        let replica = try Replica.create(at: folder.path("replica.sqlite"), options: ReplicaOptions(user: "bench", device: "bench"))
        for start in stride(from: 0, to: workload.changes.count, by: 1_000) {
            try replica.apply(Array(workload.changes[start..<min(start + 1_000, workload.changes.count)]), from: "bench-source")
        }
        let db = try DatabaseQueue(path: replica.path)
        let (recordBytes, records, stateBytes, feedBytes) = try db.read { db -> (Double, Double, Double, Double) in
            var bytes = 0.0, count = 0.0
            for c in Schema.crm.collections {
                let sum = (["id"] + c.fields.map(\.name)).map { "coalesce(length(CAST(\($0.quotedDatabaseIdentifier) AS BLOB)), 0)" }.joined(separator: " + ")
                bytes += try Double.fetchOne(db, sql: "SELECT coalesce(sum(\(sum)), 0) FROM \(c.name.quotedDatabaseIdentifier)") ?? 0
                count += try Double.fetchOne(db, sql: "SELECT count(*) FROM \(c.name.quotedDatabaseIdentifier)") ?? 0
            }
            let state = try Double.fetchOne(db, sql: "SELECT sum(length(collection) + length(id) + length(state) + 2) FROM outpost_records") ?? 0
            let feed = try Double.fetchOne(db, sql: "SELECT sum(8 + length(replica) + 8 + length(collection) + length(record_id) + length(origin) + length(change)) FROM outpost_feed") ?? 0
            return (bytes, count, state, feed)
        }
        try db.close()
        Report.print([("ratio", stateBytes / recordBytes), ("history_ratio", feedBytes / recordBytes),
                      ("record_bytes_per_record", recordBytes / records), ("state_bytes_per_record", stateBytes / records),
                      ("feed_bytes_per_record", feedBytes / records), ("records", records)],
                     json: options.json, title: "metadata: \(Int(records)) records from \(changes) changes")
    }
}

/// CPU time this process has used (user and system), in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
