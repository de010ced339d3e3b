import Foundation
import GRDB
import OutpostCore

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
    public func writeSnapshot(to path: String, user: String, device: String, server: String) throws -> SnapshotInfo {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.replicaExists, "\(path) already exists; choose another --out file.")
        }
        try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
        let id = "r" + String(UUIDv7.make(millis: wallClock()).filter(\.isHexDigit).suffix(16))
        let copy = try DatabaseQueue(path: path)
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
            try db.execute(sql: "DELETE FROM outpost_closed_conflicts")
            try Self.setSetting(db, "server.id", server)
            try Self.setSetting(db, "sync.cursor", String(cursor))
            let records = try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_records WHERE live = 1") ?? 0
            return SnapshotInfo(replica: id, cursor: cursor, records: records)
        }
        try copy.close()
        return info
    }
}
