import Crypto
import Foundation
import GRDB
import OutpostCore
import Synchronization

/// A short fingerprint of a change: SHA-256 of its canonical JSON (`protocol/merge.md`), first
/// 16 bytes in lowercase hex.
///
/// Two folders that wrote under one replica id compare their writes by digest, so a copy can
/// learn which of its writes the server already holds without sending them again. The canonical
/// JSON, not the internal binary encoding, so that any implementation can compute it.
public enum ChangeDigest {
    /// The digest of a change.
    public static func of(_ change: Change) -> String {
        SHA256.hash(data: change.json.canonicalBytes).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}

/// What taking a new replica id did to a copied or restored folder.
public struct ReissueReport: Hashable, Sendable {
    /// The id the folder wrote under before, and the one it writes under now.
    public let old: ReplicaID, new: ReplicaID
    /// How many of its writes took the new id (the server held them under no name).
    public let reissued: Int
    /// How many took the names another copy of the folder had already given them.
    public let adopted: Int
    /// How many records it rebuilt from its change feed.
    public let recordsRebuilt: Int
}

extension Replica {
    /// Digests of the changes made here with counters above `after`, in counter order.
    public func ownChangeDigests(after: UInt64) throws -> [String] {
        try read { db in
            try Data.fetchAll(db, sql: "SELECT change FROM outpost_feed WHERE replica = ? AND counter > ? ORDER BY counter",
                              arguments: [try Self.currentID(db).rawValue, after]).map { ChangeDigest.of(try BinaryCodec.decodeChange([UInt8]($0))) }
        }
    }

    /// Parent side: the change stored under `dot` (applied, or refused from the replica that
    /// wrote it), if any.
    public func storedChange(_ dot: Dot) throws -> Change? {
        try read { db in
            try Self.storedBytes(db, dot, sender: dot.replica).map { try BinaryCodec.decodeChange($0) }
        }
    }

    /// The first feed position holding a write of `replica` with a counter above `counter`, if any.
    public func firstFeedSeq(of replica: ReplicaID, after counter: UInt64) throws -> Int64? {
        try read { db in
            try Int64.fetchOne(db, sql: "SELECT min(seq) FROM outpost_feed WHERE replica = ? AND counter > ?", arguments: [replica.rawValue, counter])
        }
    }

    /// Gives this folder a new replica id after it found itself copied or restored.
    ///
    /// In one transaction: every write made here under the old id after `rename.keptThrough` is
    /// renamed in the feed (and in the refusals kept for it), the records those writes touched are
    /// rebuilt from the feed, the write counter continues from the renamed writes, and `settings`
    /// are stored (`clearing` removed, and what `reporting` makes of the report added). Nothing
    /// is dropped: the renamed writes are pushed again under their new names by the next sync. Local writers that opened the file earlier pick
    /// up the new id, because a write reads it inside its transaction.
    ///
    /// - warning: Call it only with an id the parent handed out for this folder; two folders that
    ///   write under one id lose each other's writes.
    @discardableResult
    public func reissue(_ rename: ReplicaRename, settings: [String: String] = [:], clearing: [String] = [],
                        reporting: (ReissueReport) -> [String: String] = { _ in [:] }) throws -> ReissueReport {
        let report = try write { db -> ReissueReport in
            guard try Self.currentID(db) == rename.old else {
                throw StoreError(.invalidInput, "This replica no longer writes as \(rename.old); it already took a new id. Run the sync again.")
            }
            var touched: [(collection: String, id: String)] = []
            var seen = Set<[String]>()
            let rows = try Row.fetchAll(db, sql: "SELECT seq, change FROM outpost_feed WHERE replica = ? AND counter > ? ORDER BY counter",
                                        arguments: [rename.old.rawValue, rename.keptThrough])
            var reissued = 0
            for row in rows {
                let renamed = try Self.renamed(row["change"], rename)
                if renamed.dot.replica == rename.new { reissued += 1 }
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM outpost_feed WHERE replica = ? AND counter = ?",
                                     arguments: [renamed.dot.replica.rawValue, renamed.dot.counter]) == true {
                    // Another copy of this folder already sent this write under the name it now
                    // takes, and it arrived here: keep that one, drop this second copy of it.
                    try db.execute(sql: "DELETE FROM outpost_feed WHERE seq = ?", arguments: [row["seq"] as Int64])
                    try Self.feedShrank(db)
                } else {
                    try db.execute(sql: "UPDATE outpost_feed SET replica = ?, counter = ?, change = ? WHERE seq = ?",
                                   arguments: [renamed.dot.replica.rawValue, renamed.dot.counter, Data(BinaryCodec.encode(renamed)), row["seq"] as Int64])
                }
                if seen.insert([renamed.collection, renamed.recordID]).inserted { touched.append((renamed.collection, renamed.recordID)) }
            }
            for row in try Row.fetchAll(db, sql: "SELECT origin, code, reason, change FROM outpost_rejected WHERE replica = ? AND counter > ?",
                                        arguments: [rename.old.rawValue, rename.keptThrough]) {
                let renamed = try Self.renamed(row["change"], rename)
                try Self.keepRejection(db, renamed, origin: row["origin"], code: row["code"], reason: row["reason"])
            }
            try db.execute(sql: "DELETE FROM outpost_rejected WHERE replica = ? AND counter > ?", arguments: [rename.old.rawValue, rename.keptThrough])
            for record in touched { try rebuild(db, collection: record.collection, id: record.id) }
            let counter = try UInt64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'counter'") ?? 0
            let ownStart = rename.segments[rename.segments.count - 1].after
            let previous = try String.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'previous_ids'")
            for (key, value) in [("replica_id", DatabaseValue(value: rename.new.rawValue)),
                                 ("counter", DatabaseValue(value: Int64(counter > ownStart ? counter - ownStart : 0))),
                                 ("previous_ids", DatabaseValue(value: [previous, rename.old.rawValue].compactMap { $0 }.joined(separator: ",")))] {
                try db.execute(sql: "INSERT INTO outpost_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                               arguments: [key, value])
            }
            let report = ReissueReport(old: rename.old, new: rename.new, reissued: reissued, adopted: rows.count - reissued, recordsRebuilt: touched.count)
            for (key, value) in settings.merging(reporting(report), uniquingKeysWith: { $1 }) { try Self.setSetting(db, key, value) }
            for key in clearing { try db.execute(sql: "DELETE FROM outpost_checkpoints WHERE peer = ?", arguments: [key]) }
            return report
        }
        identity.withLock { $0 = rename.new }
        return report
    }

    /// The ids this folder wrote under before it took its current one, oldest first.
    public func previousReplicaIDs() throws -> [String] {
        try read { db in
            (try String.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'previous_ids'") ?? "").split(separator: ",").map(String.init)
        }
    }

    private static func renamed(_ blob: Data, _ rename: ReplicaRename) throws -> Change {
        do {
            return try rename.rename(try BinaryCodec.decodeChange([UInt8](blob)))
        } catch {
            throw StoreError(.corrupt, "A change in the feed cannot be read or renamed (\(error)); nothing was changed.")
        }
    }

    /// Recomputes a record's state as the join of every change of it in the feed, and saves it
    /// with its row, conflicts and orphan marks. What is stored of it need not be readable: a
    /// state whose plain row was changed or deleted behind Outpost's back, or a plain row with
    /// no record behind it, is replaced all the same.
    func rebuild(_ db: Database, collection: String, id: String) throws {
        let table = tables[collection]
        var loaded: LoadedRecord
        do {
            loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
        } catch let error as StoreError where error.code == .corrupt {
            let row = try Row.fetchOne(db, sql: "SELECT live, conflicts FROM outpost_records WHERE collection = ? AND id = ?", arguments: [collection, id])
            loaded = LoadedRecord(state: RecordState(), live: row?["live"] ?? false, conflicts: row?["conflicts"] ?? 0)
        }
        if !loaded.live, let table, try Row.fetchOne(db.cachedStatement(sql: table.selectSQL), arguments: [id]) != nil { loaded.live = true }
        // A record whose history was purged is its state at the purge plus what came after.
        let state = try stateFromHistory(db, collection: collection, id: id)
        try RecordIO.save(db, table: table, collection: collection, id: id, old: loaded, new: state, children: children, tables: tables)
    }
}
