import ArgumentParser
import Foundation
import GRDB
import OutpostSchema
import OutpostStore
import OutpostTestSupport

/// How fast a storage layout can go when every byte it writes is already computed: the SQL
/// floor under `apply`, for today's layout and for leaner ones.
///
/// The rows come from a real apply of the CRM mix (feed entries, state blobs, plain rows), so
/// sizes and keys are the real ones; only the merge work (checks, resolve, encoding) is gone.
/// A layout whose floor is below the `apply` target cannot meet it whatever the Swift side does.
struct ApplyFloorBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply-floor",
        abstract: "The SQL floor of apply: today's statements and leaner layouts, with every value precomputed.",
        discussion: """
            Layouts, each in transactions of --batch changes, WAL, synchronous=FULL, against the raw
            upsert of the same rows (the `apply` baseline):
              current  today's statements: feed row (dot and by-record indexes), record state read,
                       plain row read, state upsert, plain upsert (with its read-only triggers),
                       parent check for a new child
              lean     the state in a column of the plain row, the feed keyed by dot only
                       (WITHOUT ROWID, no by-record index), one read of the plain row
              paged    the state in the plain row, the feed as one row per page, and applied dots
                       kept as counter ranges per replica (no per-change feed row at all)
            floor_ratio = raw time / layout time: the best `apply` ratio that layout allows.
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "How many changes.") var changes = 50_000
    @Option(help: "Changes per transaction.") var batch = 1_000

    /// One change as the replica stored it, with the record rows it finally left behind.
    struct StoredChange {
        let replica: String, counter: Int64, collection: String, recordID: String, origin: String, change: Data
    }

    func run() throws {
        let workload = try CRMWorkload(count: changes)
        let folder = BenchFolder()
        defer { folder.remove() }
        let replica = try Replica.create(at: folder.path("replica.sqlite"), options: ReplicaOptions(user: "bench", device: "bench"))
        for start in stride(from: 0, to: workload.changes.count, by: batch) {
            try replica.apply(Array(workload.changes[start..<min(start + batch, workload.changes.count)]), from: "bench-source")
        }
        let source = try DatabaseQueue(path: replica.path)
        let (feed, states, plainRows) = try source.read { db in
            let feed = try Row.fetchAll(db, sql: "SELECT replica, counter, collection, record_id, origin, change FROM outpost_feed ORDER BY seq").map {
                StoredChange(replica: $0[0], counter: $0[1], collection: $0[2], recordID: $0[3], origin: $0[4], change: $0[5])
            }
            var states: [String: [DatabaseValue]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT collection, id, state, live, conflicts, parent FROM outpost_records") {
                states[(row[0] as String) + "/" + (row[1] as String)] = Array(row.databaseValues)
            }
            var plain: [String: [DatabaseValue]] = [:]
            for c in Schema.crm.collections {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(c.name.quotedDatabaseIdentifier)") {
                    plain[c.name + "/" + (row[0] as String)] = Array(row.databaseValues)
                }
            }
            return (feed, states, plain)
        }
        try source.close()
        let pages = stride(from: 0, to: feed.count, by: batch).map { Array(feed[$0..<min($0 + batch, feed.count)]) }

        let raw = try time(folder.path("raw.sqlite"), pages: pages, stateColumn: false, feedSQL: []) { db, page in
            for c in page {
                if let row = plainRows[c.collection + "/" + c.recordID] {
                    try db.cachedStatement(sql: Self.upsertSQL(c.collection, state: false)).execute(arguments: StatementArguments(row))
                }
            }
        }
        let current = try timeCurrent(folder.path("current.sqlite"), source: replica.path, pages: pages, states: states, plainRows: plainRows)
        let lean = try time(folder.path("lean.sqlite"), pages: pages, stateColumn: true, feedSQL: [
            "CREATE TABLE feed (replica TEXT NOT NULL, counter INTEGER NOT NULL, collection TEXT NOT NULL, record_id TEXT NOT NULL, origin TEXT NOT NULL, change BLOB NOT NULL, PRIMARY KEY (replica, counter)) WITHOUT ROWID",
        ]) { db, page in
            for c in page {
                try db.cachedStatement(sql: "INSERT INTO feed VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
                    .execute(arguments: [c.replica, c.counter, c.collection, c.recordID, c.origin, c.change])
            }
            try Self.writeRecords(db, page, states: states, plainRows: plainRows)
        }
        let paged = try time(folder.path("paged.sqlite"), pages: pages, stateColumn: true, feedSQL: [
            "CREATE TABLE feed_pages (seq INTEGER PRIMARY KEY, origin TEXT NOT NULL, changes BLOB NOT NULL)",
            "CREATE TABLE applied_ranges (replica TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL, PRIMARY KEY (replica, low)) WITHOUT ROWID",
        ]) { db, page in
            var blob = Data()
            var ranges: [String: (Int64, Int64)] = [:]
            for c in page {
                blob.append(c.change)
                let r = ranges[c.replica] ?? (c.counter, c.counter)
                ranges[c.replica] = (min(r.0, c.counter), max(r.1, c.counter))
            }
            try db.cachedStatement(sql: "INSERT INTO feed_pages (origin, changes) VALUES (?, ?)").execute(arguments: [page[0].origin, blob])
            for (replica, r) in ranges {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO applied_ranges VALUES (?, ?, ?)").execute(arguments: [replica, r.0, r.1])
            }
            try Self.writeRecords(db, page, states: states, plainRows: plainRows)
        }
        Report.print([("raw_per_s", Double(feed.count) / raw),
                      ("current_per_s", Double(feed.count) / current), ("current_floor_ratio", raw / current),
                      ("lean_per_s", Double(feed.count) / lean), ("lean_floor_ratio", raw / lean),
                      ("paged_per_s", Double(feed.count) / paged), ("paged_floor_ratio", raw / paged),
                      ("changes", Double(feed.count))],
                     json: options.json, title: "apply-floor: \(feed.count) CRM changes in transactions of \(batch)")
    }

    static func upsertSQL(_ collection: String, state: Bool) -> String {
        (state ? upsertWithState : upsertPlain)[collection]!
    }

    static let upsertPlain = Dictionary(uniqueKeysWithValues: Schema.crm.collections.map { ($0.name, buildUpsertSQL($0.name, state: false)) })
    static let upsertWithState = Dictionary(uniqueKeysWithValues: Schema.crm.collections.map { ($0.name, buildUpsertSQL($0.name, state: true)) })

    static func buildUpsertSQL(_ collection: String, state: Bool) -> String {
        let spec = try! Schema.crm.collection(collection)
        let columns = ["id"] + spec.fields.map(\.name) + (state ? ["_outpost_state"] : [])
        let updates = columns.dropFirst().map { "\($0.quotedDatabaseIdentifier) = excluded.\($0.quotedDatabaseIdentifier)" }.joined(separator: ", ")
        return "INSERT INTO \(collection.quotedDatabaseIdentifier) (\(columns.map(\.quotedDatabaseIdentifier).joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", "))) ON CONFLICT(id) DO UPDATE SET \(updates)"
    }

    /// The lean layouts' record work: one read of the plain row (state included), a parent check
    /// for a new child, one upsert carrying the state.
    static func writeRecords(_ db: Database, _ page: [StoredChange], states: [String: [DatabaseValue]], plainRows: [String: [DatabaseValue]]) throws {
        var seen = Set<String>()
        for c in page {
            let key = c.collection + "/" + c.recordID
            guard seen.insert(key).inserted else { continue }
            let existing = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM \(c.collection.quotedDatabaseIdentifier) WHERE id = ?"), arguments: [c.recordID])
            let state = states[key]!
            if existing == nil, let parent = String.fromDatabaseValue(state[5]) {
                _ = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM accounts WHERE id = ?"), arguments: [parent])
            }
            if let row = plainRows[key] {
                try db.cachedStatement(sql: upsertSQL(c.collection, state: true)).execute(arguments: StatementArguments(row + [state[2]]))
            }
        }
    }

    /// Times `body` over every page, one transaction each, on a new file with the plain tables
    /// (and a state column if asked) and the given feed tables.
    private func time(_ path: String, pages: [[StoredChange]], stateColumn: Bool, feedSQL: [String], _ body: (Database, [StoredChange]) throws -> Void) throws -> Double {
        let queue = try rawDatabase(path)
        try queue.write { db in
            if stateColumn {
                for c in Schema.crm.collections { try db.execute(sql: "ALTER TABLE \(c.name.quotedDatabaseIdentifier) ADD COLUMN _outpost_state BLOB") }
            }
            for sql in feedSQL { try db.execute(sql: sql) }
        }
        return try ContinuousClock().measure {
            for page in pages { try queue.write { db in try body(db, page) } }
        }.seconds
    }

    /// Today's statements, in apply's order, on a file with the replica's own schema (tables,
    /// indexes and triggers copied from the replica the changes were applied to).
    private func timeCurrent(_ path: String, source: String, pages: [[StoredChange]], states: [String: [DatabaseValue]],
                             plainRows: [String: [DatabaseValue]]) throws -> Double {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            db.add(function: DatabaseFunction("outpost_writer", argumentCount: 0, pure: false) { _ in 1 })
        }
        let schema = try DatabaseQueue(path: source, configuration: config).read { db in
            try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'outpost_search%'
                ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END
                """)
        }
        let queue = try DatabaseQueue(path: path, configuration: config)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            for sql in schema { try db.execute(sql: sql) }
            try db.execute(sql: "INSERT INTO outpost_meta (key, value) VALUES ('hlc', '0')")
        }
        let parents = Dictionary(uniqueKeysWithValues: Schema.crm.collections.compactMap { c in
            c.parentField.flatMap { c.field($0)?.references }.map { (c.name, $0) }
        })
        return try ContinuousClock().measure {
            for page in pages {
                try queue.write { db in
                    _ = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outpost_evicted LIMIT 1"))
                    var order: [StoredChange] = []
                    var seen = Set<String>()
                    for c in page {
                        try db.cachedStatement(sql: """
                            INSERT INTO outpost_feed (replica, counter, collection, record_id, origin, change) VALUES (?, ?, ?, ?, ?, ?)
                            ON CONFLICT (replica, counter) DO NOTHING
                            """).execute(arguments: [c.replica, c.counter, c.collection, c.recordID, c.origin, c.change])
                        if seen.insert(c.collection + "/" + c.recordID).inserted { order.append(c) }
                    }
                    for c in order {
                        let key = c.collection + "/" + c.recordID
                        let old = try Row.fetchOne(db.cachedStatement(sql: "SELECT state, live, conflicts FROM outpost_records WHERE collection = ? AND id = ?"),
                                                   arguments: [c.collection, c.recordID])
                        if let old, old["live"] as Bool {
                            _ = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM \(c.collection.quotedDatabaseIdentifier) WHERE id = ?"), arguments: [c.recordID])
                        }
                        let state = states[key]!
                        try db.cachedStatement(sql: """
                            INSERT INTO outpost_records (collection, id, state, live, conflicts, parent) VALUES (?, ?, ?, ?, ?, ?)
                            ON CONFLICT (collection, id) DO UPDATE SET state = excluded.state, live = excluded.live, conflicts = excluded.conflicts,
                                parent = excluded.parent
                            """).execute(arguments: StatementArguments(state))
                        if let row = plainRows[key] {
                            try db.cachedStatement(sql: Self.upsertSQL(c.collection, state: false)).execute(arguments: StatementArguments(row))
                        }
                        if old == nil, let parentCollection = parents[c.collection], let parent = String.fromDatabaseValue(state[5]) {
                            let live = try Bool.fetchOne(db.cachedStatement(sql: "SELECT live FROM outpost_records WHERE collection = ? AND id = ?"),
                                                         arguments: [parentCollection, parent]) ?? false
                            if live {
                                try db.cachedStatement(sql: "DELETE FROM outpost_orphans WHERE collection = ? AND record_id = ?").execute(arguments: [c.collection, c.recordID])
                            }
                        }
                    }
                    try db.cachedStatement(sql: "UPDATE outpost_meta SET value = ? WHERE key = 'hlc'").execute(arguments: ["1"])
                }
            }
        }.seconds
    }
}
