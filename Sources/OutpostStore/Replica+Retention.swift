import Foundation
import GRDB
import OutpostCore

/// What a purge removed (`protocol/sync.md`, "Retention").
public struct PurgeReport: Sendable, Codable, Hashable {
    /// Deleted records whose history went (each keeps its last state as its tombstone).
    public var tombstones = 0
    /// Records (live, or deleted after the mark) whose older history went: changed more than
    /// once before the mark, they keep their state then as the base their later changes join.
    public var records = 0
    /// Feed entries removed with them.
    public var feedEntries = 0
    /// Deleted records whose history is still in the feed (after the mark, or with an open conflict).
    public var kept = 0

    public init() {}
}

/// A record whose history was purged, as it stood then: the base its later changes join.
public struct PurgedBase: Sendable {
    public var collection: String
    public var id: String
    public var state: RecordState
    /// The user who created it (its first write's author), when known: an unrooted child is theirs.
    public var creator: String?

    public init(collection: String, id: String, state: RecordState, creator: String?) {
        self.collection = collection
        self.id = id
        self.state = state
        self.creator = creator
    }
}

extension Replica {
    /// Purges the history every active replica has seen: feed entries at or before
    /// `lowWaterMark` leave the feed, folded into their record's base (`outpost_purged`, what a
    /// rebuild and a scoped device the record enters start from); each removed write keeps its
    /// dot and digest (`outpost_purged_writes`), so a copied folder's heal still recognizes it
    /// and a replica whose `seen` lacks it is known to stand before the purge.
    ///
    /// A deleted record goes whole once its whole history lies at or before the mark; its last
    /// state stays as its tombstone, so a write from a device that expired meanwhile, made
    /// before it knew of the delete, comes back as a delete-versus-update conflict with the same
    /// outcome everywhere. Any other record loses the entries at or before the mark when there
    /// are two or more (one entry is already its cheapest form). Records with an open conflict
    /// are kept whole, and so is the feed's last entry (positions are rowids: removing it would
    /// give its position out again, one pullers have passed).
    ///
    /// It runs in transactions of ``purgeBatch`` records, so pushes go on between them: the mark
    /// is raised first (a replica below it starts again from a copy whether or not a given
    /// record's entries are gone yet), and each record is checked again inside its batch.
    @discardableResult
    public func purgeHistory(through lowWaterMark: Int64) throws -> PurgeReport {
        var report = PurgeReport()
        let (cut, candidates) = try read { db -> (Int64, [(String, String)]) in
            let cut = min(lowWaterMark, try Self.feedEnd(db) - 1)
            // Those that qualify now (each is checked again in its batch).
            let rows = try Row.fetchAll(db, sql: """
                SELECT r.collection, r.id FROM outpost_feed f JOIN outpost_records r ON r.collection = f.collection AND r.id = f.record_id
                WHERE f.seq <= ? AND r.conflicts = 0 GROUP BY r.collection, r.id
                HAVING count(f.seq) >= 2 OR (r.live = 0 AND
                    (SELECT max(seq) FROM outpost_feed l WHERE l.collection = r.collection AND l.record_id = r.id) <= ?)
                """, arguments: [cut, cut])
            return (cut, rows.map { ($0[0], $0[1]) })
        }
        if !candidates.isEmpty {
            // Odd while it runs: a branch's take of the purged pages counts only if it saw one
            // finished generation from its first page to its last.
            try write { db in try Self.bumpPurgeGeneration(db) }
            for start in stride(from: 0, to: candidates.count, by: Self.purgeBatch) {
                try write { db in
                    // A search index built here but not yet up to the purged entries would never
                    // see them now (one never built is filled from the records at the first search).
                    let indexed = try Int64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'search_through'") ?? 0
                    for (collection, id) in candidates[start..<min(start + Self.purgeBatch, candidates.count)] {
                        try purgeRecord(db, collection: collection, id: id, cut: cut, reindexing: indexed > 0 && indexed < cut, report: &report)
                    }
                }
            }
            try write { db in try Self.bumpPurgeGeneration(db) }
        }
        report.kept = try read { db in
            try Int.fetchOne(db, sql: """
                SELECT count(*) FROM outpost_records r WHERE r.live = 0
                    AND EXISTS (SELECT 1 FROM outpost_feed f WHERE f.collection = r.collection AND f.record_id = r.id)
                """) ?? 0
        }
        return report
    }

    /// Records a purge handles per transaction.
    static let purgeBatch = 500

    /// Purges one record's entries at or before `cut`, if it qualifies (see ``purgeHistory(through:)``).
    private func purgeRecord(_ db: Database, collection: String, id: String, cut: Int64, reindexing: Bool, report: inout PurgeReport) throws {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT r.live, r.conflicts,
                (SELECT count(*) FROM outpost_feed f WHERE f.collection = r.collection AND f.record_id = r.id AND f.seq <= ?3) AS entries,
                (SELECT max(seq) FROM outpost_feed l WHERE l.collection = r.collection AND l.record_id = r.id) AS last
            FROM outpost_records r WHERE r.collection = ?1 AND r.id = ?2
            """), arguments: [collection, id, cut]), (row["conflicts"] as Int) == 0, (row["entries"] as Int) > 0 else { return }
        let tombstone = !(row["live"] as Bool) && (row["last"] as Int64) <= cut
        guard tombstone || (row["entries"] as Int) >= 2 else { return }
        // Below here the feed no longer says everything: a replica starting from a lower
        // position would walk past changes it never sees (raised in the transaction of the
        // first entry removed).
        try Self.raisePurgedThrough(db, to: cut)
        // Read before its first entry goes.
        let creator = try Self.creator(db, collection, id)
        for entry in try Row.fetchAll(db.cachedStatement(sql: "SELECT change FROM outpost_feed WHERE collection = ? AND record_id = ? AND seq <= ?"),
                                      arguments: [collection, id, cut]) {
            let change = try BinaryCodec.decodeChange([UInt8](entry[0] as Data))
            try Self.keepPurgedWrite(db, change.dot, digest: ChangeDigest.of(change))
        }
        try db.cachedStatement(sql: "DELETE FROM outpost_feed WHERE collection = ? AND record_id = ? AND seq <= ?").execute(arguments: [collection, id, cut])
        if reindexing { try indexForSearch(db, collection: collection, id: id) }
        // Its state now holds every purged change (and those after, which a join takes again
        // harmlessly); whole, values too (a live record's state row leaves them to its plain row).
        let state = try RecordIO.load(db, table: tables[collection], collection: collection, id: id).state
        try keepBase(db, PurgedBase(collection: collection, id: id, state: state, creator: creator))
        if tombstone { report.tombstones += 1 } else { report.records += 1 }
        report.feedEntries += row["entries"] as Int
    }

    static func keepPurgedWrite(_ db: Database, _ dot: Dot, digest: String) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO outpost_purged_writes (replica, counter, digest) VALUES (?, ?, ?)")
            .execute(arguments: [dot.replica.rawValue, dot.counter, digest])
        try db.cachedStatement(sql: """
            INSERT INTO outpost_purged_heads (replica, counter) VALUES (?, ?)
            ON CONFLICT (replica) DO UPDATE SET counter = max(counter, excluded.counter)
            """).execute(arguments: [dot.replica.rawValue, dot.counter])
    }

    func keepBase(_ db: Database, _ base: PurgedBase) throws {
        // A creator known here is kept when the newer base does not say (an older server's).
        try db.cachedStatement(sql: """
            INSERT INTO outpost_purged (collection, record_id, state, creator) VALUES (?, ?, ?, ?)
            ON CONFLICT (collection, record_id) DO UPDATE SET state = excluded.state, creator = coalesce(excluded.creator, creator)
            """).execute(
                       arguments: [base.collection, base.id, Data(BinaryCodec.encode(base.state, keys: tables[base.collection]?.keys ?? .empty) { _, _ in false }),
                                    base.creator])
    }

    static func bumpPurgeGeneration(_ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO outpost_meta (key, value) VALUES ('purge_generation', 1)
            ON CONFLICT (key) DO UPDATE SET value = value + 1
            """)
    }

    /// How many times a purge started or finished here (odd while one runs).
    public func purgeGeneration() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'purge_generation'") ?? 0 }
    }

    /// After a restart no purge runs: one cut short by a crash is marked finished (what it
    /// removed was raised and kept batch by batch).
    public func settlePurgeGeneration() throws {
        try write { db in
            try db.execute(sql: "UPDATE outpost_meta SET value = value + 1 WHERE key = 'purge_generation' AND value % 2 = 1")
        }
    }

    static func raisePurgedThrough(_ db: Database, to position: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT INTO outpost_meta (key, value) VALUES ('purged_through', ?)
            ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)
            """).execute(arguments: [position])
    }

    /// The feed's last position (0 when empty): positions are not dense once history is purged.
    public func feedEnd() throws -> Int64 {
        try read { db in try Self.feedEnd(db) }
    }

    static func feedEnd(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM outpost_feed")) ?? 0
    }

    /// The highest low-water mark a purge removed history below (0 if none ever did): a replica
    /// whose position is lower starts again from a snapshot.
    public func purgedThrough() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'purged_through'") ?? 0 }
    }

    /// Of these records and, for a root, its current children (as ``history(of:after:through:limit:)``
    /// names them), those whose history was purged here, with their state at the purge.
    public func purgedStates(_ records: [(collection: String, id: String)]) throws -> [PurgedBase] {
        try read { db in try withChildren(db, records).compactMap { try purgedRecord(db, collection: $0.0, id: $0.1) } }
    }

    /// A record's state from what is held of its history: its purge base, if any, joined with
    /// every feed entry of it.
    func stateFromHistory(_ db: Database, collection: String, id: String, from start: RecordState = RecordState()) throws -> RecordState {
        var state = start
        if let base = try purgedBase(db, collection: collection, id: id) { state = state.merged(with: base) }
        for blob in try Data.fetchAll(db.cachedStatement(sql: "SELECT change FROM outpost_feed WHERE collection = ? AND record_id = ? ORDER BY seq"),
                                      arguments: [collection, id]) {
            state = state.applying(try BinaryCodec.decodeChange([UInt8](blob)))
        }
        return state
    }

    /// A record whose history was purged here, as it stood then (nil if it never was).
    func purgedRecord(_ db: Database, collection: String, id: String) throws -> PurgedBase? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT state, creator FROM outpost_purged WHERE collection = ? AND record_id = ?"),
                                         arguments: [collection, id]) else { return nil }
        do {
            let state = try BinaryCodec.decodeState([UInt8](row["state"] as Data), keys: tables[collection]?.keys ?? .empty) { _ in nil }
            return PurgedBase(collection: collection, id: id, state: state, creator: row["creator"])
        } catch {
            throw StoreError(.corrupt, "The state kept for \(collection) \(id) when its history was purged cannot be read (\(error)); nothing was changed.")
        }
    }

    /// A record's state when its history was purged (nil if it never was).
    func purgedBase(_ db: Database, collection: String, id: String) throws -> RecordState? {
        try purgedRecord(db, collection: collection, id: id)?.state
    }

    /// Takes in records whose history was purged at the server, as they stood then: each is
    /// merged into what is held of it (a join, so order and repetition do not matter) and kept
    /// as its purge base, so a rebuild starts from it. What it changed here came without a feed
    /// entry: with `raisingMark` (a branch taking its parent's purge), its own feed no longer
    /// says everything either, so a replica pulling from it must start again from a copy (its
    /// purge mark goes past the feed's end). Returns the records it changed.
    @discardableResult
    public func takePurgedStates(_ states: [PurgedBase], raisingMark: Bool = false) throws -> Int {
        try write { db in
            var changed = 0
            for item in states {
                let table = tables[item.collection]
                try keepBase(db, item)
                let loaded = try RecordIO.load(db, table: table, collection: item.collection, id: item.id)
                var merged = loaded.state.merged(with: item.state)
                if try Bool.fetchOne(db.cachedStatement(sql: "DELETE FROM outpost_evicted WHERE collection = ? AND record_id = ? RETURNING 1"),
                                     arguments: [item.collection, item.id]) != nil {
                    // Back after an eviction: what was kept of it is folded in, as apply does.
                    merged = try stateFromHistory(db, collection: item.collection, id: item.id, from: merged)
                }
                if merged != loaded.state {
                    try RecordIO.save(db, table: table, collection: item.collection, id: item.id, old: loaded, new: merged, children: children, tables: tables)
                    // The search index follows the feed, which this change is not in.
                    try indexForSearch(db, collection: item.collection, id: item.id)
                    changed += 1
                }
            }
            if changed > 0, raisingMark { try Self.raisePurgedThrough(db, to: try Self.feedEnd(db) + 1) }
            return changed
        }
    }

    /// Takes in the dots and digests of writes purged at the server (a branch starting below
    /// its parent's purge), so its heals and its children's positions know them too.
    public func takePurgedWrites(_ writes: [(dot: Dot, digest: String)]) throws {
        try write { db in
            for write in writes { try Self.keepPurgedWrite(db, write.dot, digest: write.digest) }
        }
    }

    /// The digest of the write stored under `dot` whose feed entry a purge removed, if any.
    public func purgedWriteDigest(_ dot: Dot) throws -> String? {
        try read { db in try Self.purgedDigest(db, dot) }
    }

    static func purgedDigest(_ db: Database, _ dot: Dot) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT digest FROM outpost_purged_writes WHERE replica = ? AND counter = ?"),
                            arguments: [dot.replica.rawValue, dot.counter])
    }

    /// The highest purged write of `replica` (0 if none).
    public func lastPurgedWrite(of replica: ReplicaID) throws -> UInt64 {
        try read { db in
            try UInt64.fetchOne(db, sql: "SELECT counter FROM outpost_purged_heads WHERE replica = ?", arguments: [replica.rawValue]) ?? 0
        }
    }

    /// One page of what was purged here, for a branch that starts below the purge: the records'
    /// bases in (collection, id) order, then the purged writes in dot order. `after` is the
    /// `next` of the page before (nil for the first); `next` is nil after the last page.
    public func purgedPage(after: String?, limit: Int) throws -> (states: [PurgedBase], writes: [(dot: Dot, digest: String)], next: String?, generation: Int64) {
        let separator: Character = "\u{1F}"
        let parts = after.map { $0.dropFirst().split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false).map(String.init) } ?? []
        let phase = after?.first ?? "s"
        guard after == nil || (parts.count == 2 && (phase == "s" || phase == "w")) else {
            throw StoreError(.invalidInput, "\"after\" is not a position this server gave out; start from the first page (no \"after\").")
        }
        return try read { db in
            let generation = try Int64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'purge_generation'") ?? 0
            if phase == "s" {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT collection, record_id FROM outpost_purged WHERE (collection, record_id) > (?, ?)
                    ORDER BY collection, record_id LIMIT ?
                    """, arguments: [parts.first ?? "", parts.last ?? "", limit])
                let states = try rows.compactMap { try purgedRecord(db, collection: $0["collection"], id: $0["record_id"]) }
                if rows.count == limit, let last = rows.last {
                    return (states, [], "s" + (last["collection"] as String) + String(separator) + (last["record_id"] as String), generation)
                }
                // The states are done: the writes follow, from the first.
                return (states, [], "w" + String(separator), generation)
            }
            let counter = Int64(parts[1]) ?? -1
            let rows = try Row.fetchAll(db, sql: """
                SELECT replica, counter, digest FROM outpost_purged_writes WHERE (replica, counter) > (?, ?)
                ORDER BY replica, counter LIMIT ?
                """, arguments: [parts[0], counter, limit * 20])
            let writes = try rows.map { row in (dot: Dot(try ReplicaID(row["replica"] as String), row["counter"] as UInt64), digest: row["digest"] as String) }
            guard rows.count == limit * 20, let last = writes.last else { return ([], writes, nil, generation) }
            return ([], writes, "w" + last.dot.replica.rawValue + String(separator) + String(last.dot.counter), generation)
        }
    }

    /// Deleted records held here (whole or as purged markers).
    public func tombstoneCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_records WHERE live = 0") ?? 0 }
    }
}
