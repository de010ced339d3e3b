import Foundation
import GRDB
import OutpostCore

extension Replica {
    /// A stored setting (server URL, sync cursor, ...), or nil.
    public func setting(_ key: String) throws -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT detail FROM outpost_checkpoints WHERE peer = ?", arguments: [key]) }
    }

    /// Stores settings (and removes those in `clearing`) in one transaction.
    public func setSettings(_ values: [String: String], clearing: [String] = []) throws {
        try write { db in
            for (k, v) in values { try Self.setSetting(db, k, v) }
            for k in clearing { try db.execute(sql: "DELETE FROM outpost_checkpoints WHERE peer = ?", arguments: [k]) }
        }
    }

    static func setSetting(_ db: Database, _ key: String, _ value: String) throws {
        try db.execute(sql: "INSERT INTO outpost_checkpoints (peer, detail) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET detail = excluded.detail",
                       arguments: [key, value])
    }

    /// The write counter (last dot issued here).
    public func counter() throws -> UInt64 {
        try read { db in try UInt64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'counter'") ?? 0 }
    }

    /// The replica id as stored (the one local writes use), read inside the caller's transaction.
    static func currentID(_ db: Database) throws -> ReplicaID {
        guard let text = try String.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'replica_id'"),
              let id = try? ReplicaID(text) else {
            throw StoreError(.corrupt, "The replica's identity is missing or damaged.")
        }
        return id
    }

    /// Changes made here with counters above `after` (and at most `through`), in counter order.
    public func localChanges(after counter: UInt64, through: UInt64 = .max, limit: Int) throws -> [Change] {
        try read { db in
            try Data.fetchAll(db, sql: "SELECT change FROM outpost_feed WHERE replica = ? AND counter > ? AND counter <= ? ORDER BY counter LIMIT ?",
                              arguments: [try Self.currentID(db).rawValue, counter, Int64(clamping: through), limit]).map { try BinaryCodec.decodeChange([UInt8]($0)) }
        }
    }

    /// How many changes made here have counters above `after`.
    public func localChangeCount(after counter: UInt64) throws -> Int {
        try read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_feed WHERE replica = ? AND counter > ?",
                             arguments: [try Self.currentID(db).rawValue, counter]) ?? 0
        }
    }

    /// The highest counter of `replica` whose change was applied here (0 if none).
    public func seenCounter(of replica: String) throws -> UInt64 {
        try read { db in
            try Self.seenCounter(db, of: replica)
        }
    }

    /// The highest counter of `replica` held here, in the feed or purged from it (0 if none).
    static func seenCounter(_ db: Database, of replica: String) throws -> UInt64 {
        try UInt64.fetchOne(db.cachedStatement(sql: """
            SELECT max(coalesce((SELECT max(counter) FROM outpost_feed WHERE replica = ?1), 0),
                       coalesce((SELECT counter FROM outpost_purged_heads WHERE replica = ?1), 0))
            """), arguments: [replica]) ?? 0
    }

    /// Highest counter seen per origin replica (the replica-level version vector of the feed).
    public func seenCounters() throws -> [String: UInt64] {
        try read { db in
            var result: [String: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT replica, max(counter) AS c FROM outpost_feed GROUP BY replica") {
                result[row["replica"]] = row["c"]
            }
            // Writes held only through purge bases (a laptop that started from a copy made
            // after a purge): held all the same.
            for row in try Row.fetchAll(db, sql: "SELECT replica, counter FROM outpost_purged_heads") {
                result[row["replica"]] = max(result[row["replica"] as String] ?? 0, row["counter"])
            }
            return result
        }
    }

    /// The refusals this replica's own parent sent for writes of `replica` it relayed (a branch
    /// tells the rep who wrote them): at most `limit`, oldest first.
    public func upstreamRefusals(of replica: String, limit: Int = 100) throws -> [(dot: Dot, code: String, reason: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT counter, code, reason FROM outpost_rejected WHERE origin = 'server' AND replica = ? ORDER BY counter LIMIT ?",
                             arguments: [replica, limit]).compactMap { row in
                guard let id = try? ReplicaID(replica) else { return nil }
                return (Dot(id, row["counter"]), row["code"], row["reason"])
            }
        }
    }

    /// Keeps the server's refusals of changes made here, so `status` can show them (the change itself stays applied here).
    public func recordUpstreamRejections(_ rejections: [(dot: Dot, code: String, reason: String)], origin: String) throws {
        guard !rejections.isEmpty else { return }
        try write { db in
            for r in rejections {
                guard let blob = try Data.fetchOne(db, sql: "SELECT change FROM outpost_feed WHERE replica = ? AND counter = ?",
                                                   arguments: [r.dot.replica.rawValue, r.dot.counter]) else { continue }
                try db.execute(sql: """
                    INSERT OR REPLACE INTO outpost_rejected (replica, counter, origin, code, reason, change) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [r.dot.replica.rawValue, r.dot.counter, origin, r.code, r.reason, blob])
            }
        }
    }

    /// Each writer in the feed with its newest counter and how many of its writes are held.
    public func feedWriters() throws -> [(replica: String, newest: UInt64, count: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT replica, max(counter) AS newest, count(*) AS n FROM outpost_feed GROUP BY replica").map {
                ($0["replica"], $0["newest"], $0["n"])
            }
        }
    }

    /// About how many feed entries come after `cursor`, for progress: sequence numbers are dense
    /// on a server (a laptop that took a new id may have dropped a few of its own).
    public func feedCount(after cursor: Int64) throws -> Int {
        try read { db in max(0, Int(try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outpost_feed") ?? 0) - Int(cursor)) }
    }
}
