import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// A record's state as read inside a transaction, with what the save needs to know.
struct LoadedRecord {
    var state: RecordState
    /// Whether the record exists (its plain row is there).
    var live: Bool
    /// How many conflicts are indexed for it.
    var conflicts: Int
}

/// Reading and writing one record's state, plain row, conflicts and orphan marks.
enum RecordIO {
    /// Loads a record (an empty state if this replica has never heard of it).
    static func load(_ db: Database, table: CollectionTable?, collection: String, id: String) throws -> LoadedRecord {
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT state, live, conflicts FROM outpost_records WHERE collection = ? AND id = ?"),
            arguments: [collection, id])
        guard let row else { return LoadedRecord(state: RecordState(), live: false, conflicts: 0) }
        let blob: Data = row["state"]
        let live: Bool = row["live"]
        var columns: [DatabaseValue]?
        if live, let table {
            if let plain = try Row.fetchOne(db.cachedStatement(sql: table.selectSQL), arguments: [id]) {
                columns = Array(plain.databaseValues.dropFirst())
            }
        }
        do {
            let state = try BinaryCodec.decodeState([UInt8](blob), keys: table?.keys ?? .empty) { key in
                columns.flatMap { table?.storedValue(of: key, columns: $0) }
            }
            return LoadedRecord(state: state, live: live, conflicts: row["conflicts"])
        } catch {
            throw StoreError(.corrupt, "The stored state of \(collection) \(id) cannot be read (\(error)). Keep this folder (its change feed still holds every write, synced or not), copy it somewhere safe and report it to an admin.")
        }
    }

    /// Saves a record's new state and keeps everything derived from it in step: the plain row,
    /// the conflict index and the orphan marks. Returns the record as resolved.
    @discardableResult
    static func save(_ db: Database, table: CollectionTable?, collection: String, id: String, old: LoadedRecord,
                     new state: RecordState, children: [String: [(collection: String, field: String)]],
                     tables: [String: CollectionTable]) throws -> ResolvedRecord? {
        guard let table else {
            // A collection this schema does not know: keep and relay its state untouched.
            try db.cachedStatement(sql: """
                INSERT INTO outpost_records (collection, id, state, live, conflicts) VALUES (?, ?, ?, 0, 0)
                ON CONFLICT (collection, id) DO UPDATE SET state = excluded.state
                """).execute(arguments: [collection, id, Data(BinaryCodec.encode(state))])
            return nil
        }
        let resolved = state.resolve(table.rules, recordID: id)
        let columns = resolved.exists ? table.columnValues(resolved) : nil
        let blob = BinaryCodec.encode(state, keys: table.keys) { key, value in
            resolved.exists && table.isRestorable(key, value, resolved: resolved)
        }
        var parent: String?
        if let field = table.spec.parentField, case .reference(let p)? = resolved.values[field] { parent = p }
        try db.cachedStatement(sql: """
            INSERT INTO outpost_records (collection, id, state, live, conflicts, parent) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (collection, id) DO UPDATE SET state = excluded.state, live = excluded.live, conflicts = excluded.conflicts,
                parent = excluded.parent
            """).execute(arguments: [collection, id, Data(blob), resolved.exists, resolved.conflicts.count, parent])

        if let columns {
            try db.cachedStatement(sql: table.upsertSQL).execute(arguments: StatementArguments([id.databaseValue] + columns))
        } else if old.live {
            try db.cachedStatement(sql: table.deleteSQL).execute(arguments: [id])
        }

        if old.conflicts > 0 || !resolved.conflicts.isEmpty {
            if old.conflicts > 0 { try noteClosedConflicts(db, collection: collection, id: id, state: state, open: resolved.conflicts) }
            try db.cachedStatement(sql: "DELETE FROM outpost_conflicts WHERE collection = ? AND record_id = ?").execute(arguments: [collection, id])
            for c in resolved.conflicts {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO outpost_conflicts (id, collection, record_id, key, kind, detail) VALUES (?, ?, ?, ?, ?, ?)")
                    .execute(arguments: [c.id, collection, id, c.key, c.kind.rawValue, c.json.canonicalText])
            }
        }

        try markOrphans(db, spec: table.spec, id: id, resolved: resolved, old: old, new: state, children: children, tables: tables)
        try logScopeChange(db, spec: table.spec, id: id, old: old.state, new: state)
        return resolved
    }

    /// Keeps each conflict that is no longer open with the write that closed it: the newest
    /// write on its key that is not one of its sides. A conflict that only grew (every side is
    /// still in an open conflict on the key) is not closed.
    private static func noteClosedConflicts(_ db: Database, collection: String, id: String, state: RecordState, open: [Conflict]) throws {
        let openSides = open.map { (key: $0.key, dots: Set($0.sides.map(\.dot))) }
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT id, key, kind, detail FROM outpost_conflicts WHERE collection = ? AND record_id = ?"),
                                    arguments: [collection, id])
        for row in rows {
            let key: String = row["key"]
            guard let conflict = try? Conflict(json: JSONValue.parse(Array((row["detail"] as String).utf8))) else { continue }
            let sides = Set(conflict.sides.map(\.dot))
            // Grown, not closed: an open conflict on the key still holds every side.
            if openSides.contains(where: { $0.key == key && sides.isSubset(of: $0.dots) }) { continue }
            let field = key == RecordState.presenceKey ? state.presence : state.fields[key]
            guard let closer = field?.sortedEntries.filter({ !sides.contains($0.dot) }).max(by: FieldEntry.lwwPrecedes) else { continue }
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO outpost_closed_conflicts
                    (id, collection, record_id, key, kind, detail, closed_dot, closed_user, closed_device, closed_at, outcome)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [conflict.id, collection, id, key, conflict.kind.rawValue, row["detail"] as String,
                                         closer.dot.description, closer.author.user, closer.author.device,
                                         Int64(closer.hlc.wallMillis), closer.value.json.canonicalText])
        }
    }

    /// Notes a record whose scope may have changed: a root whose scope field was written, a
    /// child whose parent was. A new record is not noted (it reaches replicas by the feed).
    private static func logScopeChange(_ db: Database, spec: CollectionSpec, id: String, old: RecordState, new state: RecordState) throws {
        guard !old.presence.isEmpty else { return }
        let watched = spec.scopeFields + (spec.parentField.map { [$0] } ?? [])
        guard watched.contains(where: { old.fields[$0] != state.fields[$0] }) else { return }
        try db.cachedStatement(sql: "INSERT INTO outpost_scope_log (collection, record_id) VALUES (?, ?)").execute(arguments: [spec.name, id])
    }

    /// Keeps `outpost_orphans` true: a live child whose parent is not live here is an orphan.
    private static func markOrphans(_ db: Database, spec: CollectionSpec, id: String, resolved: ResolvedRecord, old: LoadedRecord,
                                    new state: RecordState, children: [String: [(collection: String, field: String)]],
                                    tables: [String: CollectionTable]) throws {
        let wasLive = old.live
        // The parent only needs checking when the record appears, disappears or changes parent.
        if let parentField = spec.parentField, let parentCollection = spec.field(parentField)?.references,
           wasLive != resolved.exists || old.state.fields[parentField] != state.fields[parentField] {
            if resolved.exists, case .reference(let parentID)? = resolved.values[parentField] {
                let parentLive = try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT live FROM outpost_records WHERE collection = ? AND id = ?"),
                    arguments: [parentCollection, parentID]) ?? false
                if parentLive {
                    try db.cachedStatement(sql: "DELETE FROM outpost_orphans WHERE collection = ? AND record_id = ?").execute(arguments: [spec.name, id])
                } else {
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO outpost_orphans (collection, record_id, parent_collection, parent_id) VALUES (?, ?, ?, ?)")
                        .execute(arguments: [spec.name, id, parentCollection, parentID])
                }
            } else if wasLive {
                try db.cachedStatement(sql: "DELETE FROM outpost_orphans WHERE collection = ? AND record_id = ?").execute(arguments: [spec.name, id])
            }
        }
        guard resolved.exists != wasLive, let kids = children[spec.name] else { return }
        if resolved.exists {
            try db.cachedStatement(sql: "DELETE FROM outpost_orphans WHERE parent_collection = ? AND parent_id = ?").execute(arguments: [spec.name, id])
        } else {
            for kid in kids {
                let sql = "SELECT id FROM \(kid.collection.quotedDatabaseIdentifier) WHERE \(kid.field.quotedDatabaseIdentifier) = ?"
                for childID in try String.fetchAll(db.cachedStatement(sql: sql), arguments: [id]) {
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO outpost_orphans (collection, record_id, parent_collection, parent_id) VALUES (?, ?, ?, ?)")
                        .execute(arguments: [kid.collection, childID, spec.name, id])
                }
            }
        }
    }

    /// Appends a change to the feed; returns false if its dot was already there.
    static func appendToFeed(_ db: Database, _ change: Change, origin: String) throws -> Bool {
        try db.cachedStatement(sql: """
            INSERT INTO outpost_feed (replica, counter, collection, record_id, origin, change) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (replica, counter) DO NOTHING
            """).execute(arguments: [change.dot.replica.rawValue, change.dot.counter, change.collection, change.recordID,
                                     origin, Data(BinaryCodec.encode(change))])
        return db.changesCount > 0
    }
}
