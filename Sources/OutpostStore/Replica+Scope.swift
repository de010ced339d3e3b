import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// What a record's scope is decided on (`protocol/scopes.md`).
public enum ScopeSubject: Hashable, Sendable {
    /// Reference data, or a collection that is neither the scope root nor a child of it: everyone's.
    case everyone
    /// A collection this replica's schema does not know (a newer schema's): only a reader of
    /// everything may have it, since no scope can be judged.
    case unjudged
    /// The scope root `id` (the record itself, or a child's parent), with its scope-field values
    /// as text; nil when this replica does not hold that root.
    case root(id: String, values: [String: String]?)
    /// A child whose parent field is empty: its first writer's.
    case unrooted(creator: String?)
}

extension Replica {
    /// The collection scopes are decided on, and its scope fields.
    var scopeRoot: CollectionSpec? { schema.scopeRoot }

    /// What the scope of a record held here is decided on, as this replica holds it now.
    public func scopeSubject(_ collection: String, _ id: String) throws -> ScopeSubject {
        try read { db in try scopeSubject(db, collection, id) }
    }

    /// What the scope of each record is decided on, in one read (a pull page's worth), keyed
    /// by collection and id joined with U+001F.
    public func scopeSubjects(_ records: [(collection: String, id: String)]) throws -> [String: ScopeSubject] {
        try read { db in
            var roots: [String: [String: String]?] = [:]
            var subjects: [String: ScopeSubject] = [:]
            for (collection, id) in records where subjects[collection + "\u{1F}" + id] == nil {
                subjects[collection + "\u{1F}" + id] = try scopeSubject(db, collection, id, roots: &roots)
            }
            return subjects
        }
    }

    /// Which of the records existed here at or before feed position `seq`, in one read.
    public func existedBefore(_ records: [(collection: String, id: String)], seq: Int64) throws -> Set<String> {
        try read { db in
            var found = Set<String>()
            // A record whose older history was purged existed before any position a puller may
            // stand at (pulls from below the purge are refused).
            for (collection, id) in records where try Bool.fetchOne(
                db.cachedStatement(sql: """
                    SELECT EXISTS (SELECT 1 FROM outpost_feed WHERE collection = ?1 AND record_id = ?2 AND seq <= ?3)
                        OR EXISTS (SELECT 1 FROM outpost_purged WHERE collection = ?1 AND record_id = ?2)
                    """),
                arguments: [collection, id, seq]) == true {
                found.insert(collection + "\u{1F}" + id)
            }
            return found
        }
    }

    func scopeSubject(_ db: Database, _ collection: String, _ id: String) throws -> ScopeSubject {
        var roots: [String: [String: String]?] = [:]
        return try scopeSubject(db, collection, id, roots: &roots)
    }

    func scopeSubject(_ db: Database, _ collection: String, _ id: String, roots: inout [String: [String: String]?]) throws -> ScopeSubject {
        guard let spec = tables[collection]?.spec else { return .unjudged }
        guard let root = scopeRoot, !spec.isReferenceData else { return .everyone }
        func values(_ rootID: String) throws -> [String: String]? {
            if let known = roots[rootID] { return known }
            let found = try scopeValues(db, root, rootID)
            roots[rootID] = .some(found)
            return found
        }
        if collection == root.name { return .root(id: id, values: try values(id)) }
        guard let parentField = spec.parentField, spec.field(parentField)?.references == root.name else { return .everyone }
        // Kept for live and deleted records alike.
        let parent = try String.fetchOne(db.cachedStatement(sql: "SELECT parent FROM outpost_records WHERE collection = ? AND id = ?"),
                                         arguments: [collection, id])
        guard let parent, !parent.isEmpty else { return .unrooted(creator: try Self.creator(db, collection, id)) }
        return .root(id: parent, values: try values(parent))
    }

    /// The scope-field values of a root held here (live, or deleted), as text.
    func scopeValues(_ db: Database, _ root: CollectionSpec, _ id: String) throws -> [String: String]? {
        let columns = root.scopeFields.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM \(root.name.quotedDatabaseIdentifier) WHERE id = ?"), arguments: [id]) {
            var values: [String: String] = [:]
            for (i, field) in root.scopeFields.enumerated() { if let text = row[i] as String? { values[field] = text } }
            return values
        }
        guard let record = try resolvedRecord(db, root.name, id) else { return nil }
        return Self.scopeText(record.values, fields: root.scopeFields)
    }

    /// Scope-field values as the text a scope compares.
    public static func scopeText(_ values: [String: FieldValue], fields: [String]) -> [String: String] {
        var text: [String: String] = [:]
        for field in fields {
            guard let value = values[field], value != .null else { continue }
            text[field] = CollectionSpec.format(value)
        }
        return text
    }

    func resolvedRecord(_ db: Database, _ collection: String, _ id: String) throws -> ResolvedRecord? {
        guard let table = tables[collection],
              try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outpost_records WHERE collection = ? AND id = ?"), arguments: [collection, id]) != nil
        else { return nil }
        return try RecordIO.load(db, table: table, collection: collection, id: id).state.resolve(table.rules, recordID: id)
    }

    /// The user who wrote the record's first change held here.
    static func creator(_ db: Database, _ collection: String, _ id: String) throws -> String? {
        // A purge takes the first entries; the record keeps who wrote the first. Past a purge
        // the feed's first entry is a later writer's: unknown rather than wrong.
        if let kept = try Row.fetchOne(db.cachedStatement(sql: "SELECT creator FROM outpost_purged WHERE collection = ? AND record_id = ?"),
                                       arguments: [collection, id]) { return kept[0] }
        guard let blob = try Data.fetchOne(db.cachedStatement(sql: "SELECT change FROM outpost_feed WHERE collection = ? AND record_id = ? ORDER BY seq LIMIT 1"),
                                           arguments: [collection, id]) else { return nil }
        return try? BinaryCodec.decodeChange([UInt8](blob)).author.user
    }

    /// Every root held here (live or deleted) with its scope-field values: what a full scope
    /// answer is computed from.
    public func scopeRoots() throws -> [(id: String, values: [String: String])] {
        guard let root = scopeRoot else { return [] }
        return try read { db in
            var roots: [(String, [String: String])] = []
            for id in try String.fetchAll(db, sql: "SELECT id FROM outpost_records WHERE collection = ? ORDER BY id", arguments: [root.name]) {
                roots.append((id, try scopeValues(db, root, id) ?? [:]))
            }
            return roots
        }
    }

    /// Children held without a root held here (no parent, or a parent not here): a full scope
    /// answer judges them one by one, since no root's eviction takes them.
    public func looseChildren() throws -> [(collection: String, id: String)] {
        guard let root = scopeRoot?.name else { return [] }
        return try read { db in
            try Row.fetchAll(db, sql: """
                SELECT collection, id FROM outpost_records WHERE collection IN (\(childCollections(of: root).map { "'\($0.collection)'" }.joined(separator: ", ")))
                AND (parent IS NULL OR parent NOT IN (SELECT id FROM outpost_records WHERE collection = ?))
                """, arguments: [root]).map { ($0[0], $0[1]) }
        }
    }

    /// Rebuilds every evicted record from what was kept of it (a laptop's own writes): for a
    /// replica that now receives everything, whose walk from the start will not send back what it
    /// wrote itself.
    @discardableResult
    public func restoreEvicted() throws -> Int {
        try write { db in
            var restored = 0
            for row in try Row.fetchAll(db, sql: "SELECT collection, record_id FROM outpost_evicted") {
                let (collection, id): (String, String) = (row[0], row[1])
                try db.execute(sql: "DELETE FROM outpost_evicted WHERE collection = ? AND record_id = ?", arguments: [collection, id])
                guard let table = tables[collection] else { continue }
                let state = try stateFromHistory(db, collection: collection, id: id)
                guard !state.presence.isEmpty else { continue }
                let old = try RecordIO.load(db, table: table, collection: collection, id: id)
                try RecordIO.save(db, table: table, collection: collection, id: id, old: old, new: state.merged(with: old.state), children: children, tables: tables)
                // Rebuilt from feed entries the index has already passed.
                try indexForSearch(db, collection: collection, id: id)
                restored += 1
            }
            return restored
        }
    }

    /// Which of these roots were evicted here (so the server judges them as out of scope).
    public func evicted(_ collection: String, among ids: [String]) throws -> Set<String> {
        try read { db in
            Set(try ids.filter {
                try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outpost_evicted WHERE collection = ? AND record_id = ?"), arguments: [collection, $0]) != nil
            })
        }
    }

    /// Whether this replica holds the record (live or deleted).
    public func holds(_ collection: String, _ id: String) throws -> Bool {
        try read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outpost_records WHERE collection = ? AND id = ?"), arguments: [collection, id]) != nil
        }
    }

    /// The feed entries, up to position `through`, of each record named and, for a root, of its
    /// current children: what a replica lacks of records that entered its scope, in feed order.
    public func history(of records: [(collection: String, id: String)], through: Int64) throws -> [Change] {
        try history(of: records, after: 0, through: through, limit: .max).map(\.change)
    }

    /// The same, a page at a time: entries after feed position `after`, at most `limit`, with
    /// their positions (the last one is where the next page starts).
    public func history(of records: [(collection: String, id: String)], after: Int64, through: Int64, limit: Int) throws -> [(seq: Int64, change: Change)] {
        try read { db in
            var entries: [(Int64, Data)] = []
            for (collection, id) in try withChildren(db, records) {
                for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT seq, change FROM outpost_feed WHERE collection = ? AND record_id = ? AND seq > ? AND seq <= ? ORDER BY seq"),
                                            arguments: [collection, id, after, through]) {
                    entries.append((row[0], row[1]))
                }
            }
            return try entries.sorted { $0.0 < $1.0 }.prefix(limit).map { ($0.0, try BinaryCodec.decodeChange([UInt8]($0.1))) }
        }
    }

    /// The records named and, for a root, every current child (deleted ones too: a record
    /// arrives whole, its tombstones included), each once.
    func withChildren(_ db: Database, _ records: [(collection: String, id: String)]) throws -> [(String, String)] {
        var keys: [(String, String)] = []
        var seen = Set<String>()
        func add(_ collection: String, _ id: String) {
            if seen.insert(collection + "\u{1F}" + id).inserted { keys.append((collection, id)) }
        }
        for (collection, id) in records {
            add(collection, id)
            guard collection == scopeRoot?.name else { continue }
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT collection, id FROM outpost_records WHERE parent = ?"), arguments: [id]) {
                add(row[0], row[1])
            }
        }
        return keys
    }

    /// The scope log: records whose root scope fields or parent changed here, after `seq`.
    public func scopeLog(after seq: Int64, limit: Int) throws -> [(seq: Int64, collection: String, id: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT seq, collection, record_id FROM outpost_scope_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                .map { ($0[0], $0[1], $0[2]) }
        }
    }

    /// The last position of the scope log (0 when empty).
    public func scopeLogEnd() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outpost_scope_log") ?? 0 }
    }

    /// Removes records that left this replica's scope, with their children for a root: plain
    /// rows, states, conflict and orphan marks. Not a delete: nothing is written to the feed,
    /// nothing travels. A field replica also drops their feed entries (a server keeps them: it
    /// relays from its feed). A record with one of this replica's own writes after
    /// `acknowledged` stays: that write is pushed first. Returns the records removed.
    @discardableResult
    public func evict(_ records: [(collection: String, id: String)], acknowledged: UInt64) throws -> [(collection: String, id: String)] {
        try write { db in
            let me = try Self.currentID(db)
            var removed: [(String, String)] = []
            var queue = records
            var seen = Set<String>()
            while let (collection, id) = queue.popLast() {
                guard seen.insert(collection + "\u{1F}" + id).inserted, let table = tables[collection] else { continue }
                if collection == scopeRoot?.name {
                    // Deleted children too: their states keep every value they had.
                    for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT collection, id FROM outpost_records WHERE parent = ?"), arguments: [id]) {
                        queue.append((row[0], row[1]))
                    }
                }
                let unpushed = try Bool.fetchOne(db.cachedStatement(sql: """
                    SELECT 1 FROM outpost_feed WHERE collection = ? AND record_id = ? AND origin = 'local' AND replica = ? AND counter > ? LIMIT 1
                    """), arguments: [collection, id, me.rawValue, Int64(clamping: acknowledged)]) != nil
                guard !unpushed else { continue }
                try db.cachedStatement(sql: table.deleteSQL).execute(arguments: [id])
                try db.cachedStatement(sql: "DELETE FROM outpost_records WHERE collection = ? AND id = ?").execute(arguments: [collection, id])
                try db.cachedStatement(sql: "DELETE FROM outpost_conflicts WHERE collection = ? AND record_id = ?").execute(arguments: [collection, id])
                try db.cachedStatement(sql: "DELETE FROM outpost_orphans WHERE collection = ? AND record_id = ?").execute(arguments: [collection, id])
                // A laptop drops what others wrote of it and keeps its own writes (the rep's work);
                // a server keeps everything (it relays from its feed). Either way the record is
                // rebuilt from what is kept when it comes back.
                if role == .field {
                    try db.cachedStatement(sql: "DELETE FROM outpost_feed WHERE collection = ? AND record_id = ? AND origin <> 'local'").execute(arguments: [collection, id])
                    try db.cachedStatement(sql: "DELETE FROM outpost_purged WHERE collection = ? AND record_id = ?").execute(arguments: [collection, id])
                    try Self.feedShrank(db)
                }
                try Self.forgetSearchText(db, collection: collection, id: id)
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO outpost_evicted (collection, record_id) VALUES (?, ?)").execute(arguments: [collection, id])
                // A server's own children learn of it at their next scope call.
                try db.cachedStatement(sql: "INSERT INTO outpost_scope_log (collection, record_id) VALUES (?, ?)").execute(arguments: [collection, id])
                removed.append((collection, id))
            }
            // Merged into one segment, the index keeps no trigram of what was evicted.
            if !removed.isEmpty { try db.execute(sql: "INSERT INTO outpost_search (outpost_search) VALUES ('optimize')") }
            return removed
        }
    }

    /// Removes every record this replica holds, with its history, conflicts and refusals, and
    /// the server settings in `settings`: what a device an admin revoked does (a stolen laptop
    /// keeps no customer base). Returns how many changes made here had not been acknowledged
    /// (they are removed too, and the caller says so). `keepingRefusals` keeps the changes this
    /// replica refused or had refused (an expired device starting again keeps them for its rep).
    @discardableResult
    public func wipe(acknowledged: UInt64, settings: [String], keepingRefusals: Bool = false, onlyIfAllSent: Bool = false) throws -> Int {
        let unsent = try write { db in
            let me = try Self.currentID(db)
            let unsent = try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_feed WHERE origin = 'local' AND replica = ? AND counter > ?",
                                          arguments: [me.rawValue, Int64(clamping: acknowledged)]) ?? 0
            // Checked in the same transaction: a write made a moment ago in another window is not removed.
            if onlyIfAllSent && unsent > 0 {
                throw StoreError(.invalidInput, "\(unsent) changes made here have not reached the server; nothing was removed.")
            }
            for table in tables.values { try db.execute(sql: "DELETE FROM \(table.spec.name.quotedDatabaseIdentifier)") }
            for table in ["outpost_records", "outpost_feed", "outpost_conflicts", "outpost_orphans", "outpost_rejected",
                          "outpost_closed_conflicts", "outpost_scope_log", "outpost_evicted", "outpost_purged", "outpost_purged_writes", "outpost_purged_heads"] where !(keepingRefusals && table == "outpost_rejected") {
                try db.execute(sql: "DELETE FROM \(table)")
            }
            try Self.dropSearchIndex(db)
            for key in settings { try db.execute(sql: "DELETE FROM outpost_checkpoints WHERE peer = ?", arguments: [key]) }
            // A snapshot left half-downloaded holds customer data too.
            try? FileManager.default.removeItem(atPath: bootstrapFilePath)
            return unsent
        }
        // Rewritten and its log emptied: no page of the removed data survives in the file.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "VACUUM")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        return unsent
    }
}
