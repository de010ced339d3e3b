import Crypto
import Foundation
import GRDB
import OutpostCore
import Synchronization

/// A short fingerprint of a change: SHA-256 of its binary encoding, first 16 bytes in hex.
///
/// Two folders that wrote under one replica id compare their writes by digest, so a copy can
/// learn which of its writes the server already holds without sending them again.
public enum ChangeDigest {
    /// The digest of a change.
    public static func of(_ change: Change) -> String { of(bytes: BinaryCodec.encode(change)) }

    static func of<Bytes: Sequence>(bytes: Bytes) -> String where Bytes.Element == UInt8 {
        SHA256.hash(data: Array(bytes)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}

/// What taking a new replica id did to a copied or restored folder.
public struct ReissueReport: Hashable, Sendable {
    /// The id the folder wrote under before, and the one it writes under now.
    public let old: ReplicaID, new: ReplicaID
    /// How many of its writes it renamed (the ones the server did not hold).
    public let reissued: Int
    /// How many records it rebuilt from its change feed.
    public let recordsRebuilt: Int
}

/// How far a copy's writes agree with what a parent stores under the same replica id.
public struct ForkAgreement: Hashable, Sendable {
    /// The copy keeps its writes up to this counter under the old id; the rest must be renamed.
    public let keptThrough: UInt64
    /// The first feed position holding a write of the old id that the copy does not hold (it
    /// skipped them while it wrote under that id), if there is one.
    public let firstUnheldSeq: Int64?
}

extension Replica {
    /// Digests of the changes made here with counters above `after`, in counter order.
    public func ownChangeDigests(after: UInt64) throws -> [String] {
        try read { db in
            try Data.fetchAll(db, sql: "SELECT change FROM outpost_feed WHERE replica = ? AND counter > ? ORDER BY counter",
                              arguments: [try Self.currentID(db).rawValue, after]).map { ChangeDigest.of(bytes: $0) }
        }
    }

    /// Parent side: how far a copy of the child `replica` agrees with what is stored here.
    ///
    /// The copy says which of its writes it knows to be acknowledged (`acknowledged`) and sends
    /// the digests of its writes after that, in counter order. Writes up to the acknowledgement
    /// are here by the meaning of acknowledgement, unless this store lost them (restored from an
    /// older backup, so its own acknowledgement is lower); after it, the copy keeps the longest
    /// run whose digests match what is stored here.
    public func agreement(of replica: ReplicaID, acknowledged: UInt64, digests: [String]) throws -> ForkAgreement {
        try read { db in
            let stored = try Self.acknowledged(db, replica)
            var kept = min(stored, acknowledged)
            if stored >= acknowledged {
                for (i, digest) in digests.enumerated() {
                    let counter = acknowledged + UInt64(i) + 1
                    guard let bytes = try Self.storedBytes(db, Dot(replica, counter), sender: replica),
                          ChangeDigest.of(bytes: bytes) == digest else { break }
                    kept = counter
                }
            }
            let seq = try Int64.fetchOne(db, sql: "SELECT min(seq) FROM outpost_feed WHERE replica = ? AND counter > ?",
                                         arguments: [replica.rawValue, kept])
            return ForkAgreement(keptThrough: kept, firstUnheldSeq: seq)
        }
    }

    /// Gives this folder a new replica id after it found itself copied or restored.
    ///
    /// In one transaction: every write made here under the old id after `rename.keptThrough` is
    /// renamed in the feed (and in the refusals kept for it), the records those writes touched are
    /// rebuilt from the feed, the write counter continues from the renamed writes, and `settings`
    /// are stored (`clearing` removed). Nothing is dropped: the renamed writes are pushed again
    /// under their new names by the next sync. Local writers that opened the file earlier pick
    /// up the new id, because a write reads it inside its transaction.
    ///
    /// - warning: Call it only with an id the parent handed out for this folder; two folders that
    ///   write under one id lose each other's writes.
    @discardableResult
    public func reissue(_ rename: ReplicaRename, settings: [String: String] = [:], clearing: [String] = []) throws -> ReissueReport {
        let report = try write { db -> ReissueReport in
            guard try Self.currentID(db) == rename.old else {
                throw StoreError(.invalidInput, "This replica no longer writes as \(rename.old); it already took a new id. Run the sync again.")
            }
            var touched: [String] = []
            var touchedSet = Set<String>()
            let rows = try Row.fetchAll(db, sql: "SELECT seq, change FROM outpost_feed WHERE replica = ? AND counter > ? ORDER BY counter",
                                        arguments: [rename.old.rawValue, rename.keptThrough])
            for row in rows {
                let renamed = try Self.renamed(row["change"], rename)
                try db.execute(sql: "UPDATE outpost_feed SET replica = ?, counter = ?, change = ? WHERE seq = ?",
                               arguments: [renamed.dot.replica.rawValue, renamed.dot.counter, Data(BinaryCodec.encode(renamed)), row["seq"] as Int64])
                let key = renamed.collection + "\u{1F}" + renamed.recordID
                if touchedSet.insert(key).inserted { touched.append(key) }
            }
            for row in try Row.fetchAll(db, sql: "SELECT origin, code, reason, change FROM outpost_rejected WHERE replica = ? AND counter > ?",
                                        arguments: [rename.old.rawValue, rename.keptThrough]) {
                let renamed = try Self.renamed(row["change"], rename)
                try Self.keepRejection(db, renamed, origin: row["origin"], code: row["code"], reason: row["reason"])
            }
            try db.execute(sql: "DELETE FROM outpost_rejected WHERE replica = ? AND counter > ?", arguments: [rename.old.rawValue, rename.keptThrough])
            for key in touched {
                let parts = key.split(separator: "\u{1F}", maxSplits: 1).map(String.init)
                try rebuild(db, collection: parts[0], id: parts[1])
            }
            let counter = try UInt64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'counter'") ?? 0
            let previous = try String.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'previous_ids'")
            for (key, value) in [("replica_id", DatabaseValue(value: rename.new.rawValue)),
                                 ("counter", DatabaseValue(value: Int64(counter > rename.keptThrough ? counter - rename.keptThrough : 0))),
                                 ("previous_ids", DatabaseValue(value: [previous, rename.old.rawValue].compactMap { $0 }.joined(separator: ",")))] {
                try db.execute(sql: "INSERT INTO outpost_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                               arguments: [key, value])
            }
            for (key, value) in settings { try Self.setSetting(db, key, value) }
            for key in clearing { try db.execute(sql: "DELETE FROM outpost_checkpoints WHERE peer = ?", arguments: [key]) }
            return ReissueReport(old: rename.old, new: rename.new, reissued: rows.count, recordsRebuilt: touched.count)
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
    /// with its row, conflicts and orphan marks.
    private func rebuild(_ db: Database, collection: String, id: String) throws {
        let table = tables[collection]
        let loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
        var state = RecordState()
        for blob in try Data.fetchAll(db, sql: "SELECT change FROM outpost_feed WHERE collection = ? AND record_id = ? ORDER BY seq",
                                      arguments: [collection, id]) {
            state = state.applying(try BinaryCodec.decodeChange([UInt8](blob)))
        }
        try RecordIO.save(db, table: table, collection: collection, id: id, old: loaded, new: state, children: children, tables: tables)
    }
}
