import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// What a snapshot file stands for.
public struct SnapshotInfo: Hashable, Sendable {
    /// The new replica id the file writes under once a laptop adopts it.
    public let replica: String
    /// The server feed position it holds everything up to (its first sync pulls after it).
    public let cursor: Int64
    /// Records in it.
    public let records: Int
}

extension Replica {
    /// Writes a ready replica file for a new laptop of `user`: this server replica's records,
    /// states and feed (so history answers), under a new replica id with no writes of its own,
    /// positioned at this server's feed end, so the laptop's first sync pulls only what came
    /// after. `server` is this server's replica id as laptops know it.
    ///
    /// Made with `VACUUM INTO` (a consistent copy while syncs go on), then rewritten: the
    /// server's bookkeeping of its children and refusals is dropped, and its own writes are
    /// marked as coming from the server.
    ///
    /// With `keep`, only the records whose scope subject it admits stay in the file (the user's
    /// scope), and the file is compacted so nothing removed lingers in its free pages.
    public func writeSnapshot(to path: String, user: String, device: String, server: String,
                              keep: ((ScopeSubject) -> Bool)? = nil) throws -> SnapshotInfo {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.replicaExists, "\(path) already exists; choose another --out file.")
        }
        // On a reading connection outside a transaction: a consistent copy that never waits for
        // the writer, so pushes go on while a large head office is copied for a new laptop.
        try pool.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
        let id = "r" + String(UUIDv7.make(millis: wallClock()).filter(\.isHexDigit).suffix(16))
        // Rows deleted from the copy are overwritten, not left in free pages: the server's own
        // settings (a branch's token at its parent) must not travel inside a laptop's file.
        var secure = Configuration()
        secure.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        let copy = try DatabaseQueue(path: path, configuration: secure)
        let info = try copy.write { db -> SnapshotInfo in
            let cursor = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outpost_feed") ?? 0
            try db.execute(sql: "UPDATE outpost_feed SET origin = ? WHERE origin = 'local'", arguments: [server])
            for (key, value) in [("replica_id", id), ("user", user), ("device", device), ("role", ReplicaRole.field.rawValue)] {
                try db.execute(sql: "UPDATE outpost_meta SET value = ? WHERE key = ?", arguments: [value, key])
            }
            try db.execute(sql: "UPDATE outpost_meta SET value = 0 WHERE key = 'counter'")
            try db.execute(sql: "DELETE FROM outpost_meta WHERE key = 'previous_ids'")
            try db.execute(sql: "DELETE FROM outpost_checkpoints")
            try db.execute(sql: "DELETE FROM outpost_rejected")
            // A laptop needs each replica's highest purged write (`outpost_purged_heads`), not
            // the server's list of every purged write.
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'outpost_purged_writes')") == true {
                try db.execute(sql: "DELETE FROM outpost_purged_writes")
            }
            // Records this server evicted keep their feed entries here (to rebuild them if they
            // come back); a laptop must neither receive that history nor take those changes for
            // applied when the record reaches it later.
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM outpost_evicted)") == true {
                try db.execute(sql: """
                    DELETE FROM outpost_feed WHERE NOT EXISTS
                        (SELECT 1 FROM outpost_records r WHERE r.collection = outpost_feed.collection AND r.id = outpost_feed.record_id)
                    """)
                try db.execute(sql: "DELETE FROM outpost_evicted")
                try db.execute(sql: """
                    DELETE FROM outpost_purged WHERE NOT EXISTS
                        (SELECT 1 FROM outpost_records r WHERE r.collection = outpost_purged.collection AND r.id = outpost_purged.record_id)
                    """)
            }
            try Self.setSetting(db, "server.id", server)
            try Self.setSetting(db, "sync.cursor", String(cursor))
            let records = try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_records WHERE live = 1") ?? 0
            return SnapshotInfo(replica: id, cursor: cursor, records: records)
        }
        try copy.close()
        guard let keep else { return info }
        let scoped = try Replica.open(at: path)
        var leaving: [(collection: String, id: String)] = try scoped.scopeRoots()
            .filter { !keep(.root(id: $0.id, values: $0.values)) }.map { (scoped.schema.scopeRoot?.name ?? "", $0.id) }
        // Children without a held account (no parent, or one not here) are judged one by one.
        let loose = try scoped.read { db -> [(String, String)] in
            var loose: [(String, String)] = []
            guard let root = scoped.schema.scopeRoot?.name else { return [] }
            for (child, _) in scoped.childCollections(of: root) {
                // Deleted ones too (their states keep every value they had).
                let sql = "SELECT id FROM outpost_records WHERE collection = ? AND (parent IS NULL OR parent NOT IN (SELECT id FROM outpost_records WHERE collection = ?))"
                loose += try String.fetchAll(db, sql: sql, arguments: [child, root]).map { (child, $0) }
            }
            return loose
        }
        for (collection, id) in loose where !keep(try scoped.scopeSubject(collection, id)) { leaving.append((collection, id)) }
        try scoped.evict(leaving, acknowledged: .max)
        let kept = try scoped.pool.write { db -> Int in
            // The new laptop asks for its whole scope at its first sync.
            try db.execute(sql: "DELETE FROM outpost_scope_log")
            try db.execute(sql: "DELETE FROM outpost_evicted")
            try db.execute(sql: """
                DELETE FROM outpost_closed_conflicts WHERE NOT EXISTS
                    (SELECT 1 FROM outpost_records r WHERE r.collection = outpost_closed_conflicts.collection AND r.id = outpost_closed_conflicts.record_id)
                """)
            // Filled again on the new laptop from what it holds.
            try Self.dropSearchIndex(db)
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_records WHERE live = 1") ?? 0
        }
        try scoped.pool.close()
        // The file goes out alone: its write-ahead log folded in, then rewritten so no page of
        // a removed record survives in it.
        let compact = try DatabaseQueue(path: path)
        try compact.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
            try db.execute(sql: "VACUUM")
        }
        try compact.close()
        return SnapshotInfo(replica: info.replica, cursor: info.cursor, records: kept)
    }
}
