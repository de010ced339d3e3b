import Foundation
import GRDB
import OutpostCore

/// Where a replica stands, as any server of the tree reads it: its `seen` vector.
extension Replica {
    /// The feed position before the first write that a replica which has seen `seen` lacks:
    /// every server applies each replica's writes in counter order, so a replica that holds a
    /// write of another holds all its earlier ones that reached this server.
    public func firstUnseenFeedPosition(seen: [String: UInt64]) throws -> Int64 {
        try read { db in
            // A write a purge removed from the feed that it has not seen: no position here gives
            // it back, so it starts before the purge (and again from a copy).
            for row in try Row.fetchAll(db, sql: "SELECT replica, counter AS top FROM outpost_purged_heads")
            where (row["top"] as UInt64) > seen[row["replica"] as String] ?? 0 {
                return 0
            }
            let end = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outpost_feed") ?? 0
            var start = end
            let first = try db.cachedStatement(sql: "SELECT min(seq) FROM outpost_feed WHERE replica = ? AND counter > ?")
            for row in try Row.fetchAll(db, sql: "SELECT replica, max(counter) AS top FROM outpost_feed GROUP BY replica") {
                let replica: String = row["replica"], top: UInt64 = row["top"]
                let have = seen[replica] ?? 0
                guard top > have, let seq = try Int64.fetchOne(first, arguments: [replica, have]) else { continue }
                start = min(start, seq - 1)
            }
            return max(0, start)
        }
    }
}
