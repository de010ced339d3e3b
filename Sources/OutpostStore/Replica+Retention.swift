import Foundation
import GRDB
import OutpostCore

/// What a purge removed (`protocol/sync.md`, "Retention").
public struct PurgeReport: Sendable, Codable, Hashable {
    /// Deleted records whose history went (each keeps its last state as its tombstone).
    public var tombstones = 0
    /// Feed entries removed with them.
    public var feedEntries = 0
    /// Deleted records still whole here (at or after the low-water mark, or with an open conflict).
    public var kept = 0

    public init() {}
}

extension Replica {
    /// Purges the history of deleted records every active replica has seen deleted: those whose
    /// whole history lies at or before feed position `lowWaterMark` lose their feed entries
    /// (the change feed is most of what a deleted record costs). The record's last state stays
    /// as its tombstone: a write from a device that expired meanwhile, made to the record before
    /// it knew of the delete, then comes back as a delete-versus-update conflict for an admin,
    /// with the same outcome on every replica (laptops that never purge hold the same state).
    /// Records with an open conflict are kept whole.
    @discardableResult
    public func purgeTombstones(through lowWaterMark: Int64) throws -> PurgeReport {
        try write { db in
            var report = PurgeReport()
            // Feed positions are rowids: removing the last entry would let the next write take
            // its position again, one that pullers have already passed. It stays.
            let end = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outpost_feed") ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT r.collection, r.id, r.conflicts, max(f.seq) AS last, count(f.seq) AS entries
                FROM outpost_records r JOIN outpost_feed f ON f.collection = r.collection AND f.record_id = r.id
                WHERE r.live = 0 GROUP BY r.collection, r.id
                """)
            for row in rows {
                let (collection, id): (String, String) = (row["collection"], row["id"])
                guard (row["last"] as Int64) <= lowWaterMark, (row["last"] as Int64) < end, (row["conflicts"] as Int) == 0 else {
                    report.kept += 1
                    continue
                }
                try db.execute(sql: "DELETE FROM outpost_feed WHERE collection = ? AND record_id = ?", arguments: [collection, id])
                try db.execute(sql: """
                    INSERT OR IGNORE INTO outpost_purged (collection, record_id, state)
                        SELECT collection, id, state FROM outpost_records WHERE collection = ? AND id = ?
                    """, arguments: [collection, id])
                report.tombstones += 1
                report.feedEntries += row["entries"] as Int
            }
            if report.tombstones > 0 {
                // Below here the feed no longer says everything: a replica starting from a lower
                // position would walk past deletes it never sees.
                try db.execute(sql: """
                    INSERT INTO outpost_meta (key, value) VALUES ('purged_through', ?)
                    ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)
                    """, arguments: [lowWaterMark])
            }
            return report
        }
    }

    /// The highest low-water mark a purge removed history below (0 if none ever did): a replica
    /// whose position is lower starts again from a snapshot.
    public func purgedThrough() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'purged_through'") ?? 0 }
    }

    /// Of these records, those whose history was purged here, with their state at the purge.
    public func purgedStates(_ records: [(collection: String, id: String)]) throws -> [(collection: String, id: String, state: RecordState)] {
        try read { db in
            try records.compactMap { record in
                try purgedBase(db, collection: record.collection, id: record.id).map { (record.collection, record.id, $0) }
            }
        }
    }

    /// A record's state when its history was purged (nil if it never was).
    func purgedBase(_ db: Database, collection: String, id: String) throws -> RecordState? {
        guard let blob = try Data.fetchOne(db.cachedStatement(sql: "SELECT state FROM outpost_purged WHERE collection = ? AND record_id = ?"),
                                           arguments: [collection, id]) else { return nil }
        do {
            return try BinaryCodec.decodeState([UInt8](blob), keys: tables[collection]?.keys ?? .empty) { _ in nil }
        } catch {
            throw StoreError(.corrupt, "The state kept for \(collection) \(id) when its history was purged cannot be read (\(error)); nothing was changed.")
        }
    }

    /// Takes in records whose history was purged at the server, as they stood then: each is
    /// merged into what is held of it (a join, so order and repetition do not matter) and kept
    /// as its purge base, so a rebuild starts from it.
    public func takePurgedStates(_ states: [(collection: String, id: String, state: RecordState)]) throws {
        try write { db in
            for item in states {
                let table = tables[item.collection]
                try db.execute(sql: "INSERT OR REPLACE INTO outpost_purged (collection, record_id, state) VALUES (?, ?, ?)",
                               arguments: [item.collection, item.id, Data(BinaryCodec.encode(item.state, keys: table?.keys ?? .empty) { _, _ in false })])
                let loaded = try RecordIO.load(db, table: table, collection: item.collection, id: item.id)
                let merged = loaded.state.merged(with: item.state)
                if merged != loaded.state {
                    try RecordIO.save(db, table: table, collection: item.collection, id: item.id, old: loaded, new: merged, children: children, tables: tables)
                }
            }
        }
    }

    /// Deleted records held here (whole or as purged markers).
    public func tombstoneCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_records WHERE live = 0") ?? 0 }
    }
}
