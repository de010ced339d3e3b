import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// A live record as a user sees it.
public struct RecordView: Hashable, Sendable {
    /// The record's id.
    public let id: String
    /// Field values by name (every field of the schema; null when empty).
    public let values: [String: FieldValue]
}

/// One write in a record's history.
public struct HistoryEntry: Hashable, Sendable {
    /// Position in this replica's feed.
    public let seq: Int64
    /// The write's dot (its replica is where it was made).
    public let dot: Dot
    /// When it was made.
    public let hlc: HLCTimestamp
    /// Who made it.
    public let author: Author
    /// Where this replica got it from (`local` or a peer).
    public let origin: String
    /// True for a delete.
    public let isDelete: Bool
    /// The fields it wrote, with the values as the writer saw them after writing.
    public let fields: [String: FieldValue]
}

/// A feed entry as stored, its change still encoded.
public struct StoredFeedRow: Sendable {
    /// Feed position.
    public let seq: Int64
    /// `local` or the peer it came from.
    public let origin: String
    /// The change's dot and record.
    public let dot: Dot
    public let collection: String, recordID: String
    /// The change in the store's binary form.
    public let encoded: [UInt8]

    /// The change itself.
    public func change() throws -> Change { try BinaryCodec.decodeChange(encoded) }
}

/// An entry of the change feed (for observers and sync).
public struct FeedEntry: Hashable, Sendable {
    /// Feed position.
    public let seq: Int64
    /// The change's dot.
    public let dot: Dot
    /// The record touched.
    public let collection: String, recordID: String
    /// `local` or the peer it came from.
    public let origin: String
}

/// A child record whose parent does not exist on this replica.
public struct Orphan: Hashable, Sendable {
    /// The child.
    public let collection: String, recordID: String
    /// The missing parent.
    public let parentCollection: String, parentID: String

    /// Creates an orphan mark.
    public init(collection: String, recordID: String, parentCollection: String, parentID: String) {
        self.collection = collection
        self.recordID = recordID
        self.parentCollection = parentCollection
        self.parentID = parentID
    }
}

extension Replica {
    /// A live record, or nil.
    public func get(_ collection: String, id: String) throws -> RecordView? {
        let table = try table(collection)
        return try read { db in
            try Row.fetchOne(db, sql: table.selectSQL, arguments: [id]).map { Self.view($0, table.spec) }
        }
    }

    /// Live records matching every `where` pair (a set field matches when it contains the value).
    public func query(_ collection: String, where filters: [(field: String, value: FieldValue)] = [],
                      orderBy: String? = nil, descending: Bool = false, limit: Int? = nil) throws -> [RecordView] {
        let table = try table(collection)
        var clauses: [String] = []
        var arguments: [DatabaseValue] = []
        for (field, value) in filters {
            let spec: FieldSpec
            do { spec = try table.spec.knownField(field) } catch { throw StoreError(error) }
            let column = field.quotedDatabaseIdentifier
            if value == .null {
                clauses.append("\(column) IS NULL")
            } else if spec.type == .set, case .set(let items) = value {
                for item in items {
                    clauses.append("EXISTS (SELECT 1 FROM json_each(\(column)) WHERE value = ?)")
                    arguments.append(item.databaseValue)
                }
            } else {
                clauses.append("\(column) = ?")
                arguments.append(ColumnMapping.databaseValue(value, type: spec.type))
            }
        }
        var sql = table.selectSQL.replacingOccurrences(of: " WHERE id = ?", with: "")
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        if let orderBy {
            do { _ = try table.spec.knownField(orderBy) } catch { throw StoreError(error) }
            sql += " ORDER BY \(orderBy.quotedDatabaseIdentifier) \(descending ? "DESC" : "ASC"), id"
        } else {
            sql += " ORDER BY id"
        }
        if let limit { sql += " LIMIT \(max(0, limit))" }
        return try read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { Self.view($0, table.spec) }
        }
    }

    /// How many live records a collection holds.
    public func count(_ collection: String) throws -> Int {
        let table = try table(collection)
        return try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.spec.name.quotedDatabaseIdentifier)") ?? 0 }
    }

    /// Open tasks due at or before `millis` (overdue first), readable with no connection.
    public func dueTasks(atOrBefore millis: Int64) throws -> [RecordView] {
        let table = try table("tasks")
        let sql = table.selectSQL.replacingOccurrences(of: " WHERE id = ?", with: "")
            + " WHERE due_at IS NOT NULL AND due_at <= ? AND (status IS NULL OR status = 'open') ORDER BY due_at, id"
        return try read { db in
            try Row.fetchAll(db, sql: sql, arguments: [CivilTime.iso8601(millis: millis)]).map { Self.view($0, table.spec) }
        }
    }

    /// Every write of a record, oldest first, field by field.
    public func history(_ collection: String, id: String) throws -> [HistoryEntry] {
        let rules = (try? schema.collection(collection))?.rules
            ?? CollectionRules(collection: collection, fields: [:])
        let rows = try read { db in
            try Row.fetchAll(db, sql: "SELECT seq, origin, change FROM outpost_feed WHERE collection = ? AND record_id = ? ORDER BY seq",
                             arguments: [collection, id])
        }
        return try rows.map { row in
            let blob: Data = row["change"]
            let change = try BinaryCodec.decodeChange([UInt8](blob))
            let resolved = change.state.resolve(rules, recordID: id)
            var fields: [String: FieldValue] = [:]
            for key in change.fields.keys {
                if let members = rules.groups[key] {
                    for m in members where (resolved.values[m] ?? .null) != .null { fields[m] = resolved.values[m] }
                } else {
                    fields[key] = resolved.values[key] ?? resolved.unknownFields[key]
                }
            }
            return HistoryEntry(seq: row["seq"], dot: change.dot, hlc: change.hlc, author: change.author,
                                origin: row["origin"], isDelete: change.isDelete, fields: fields)
        }
    }

    /// The full resolution of a record (values, unknown fields, conflicts), deleted or not; nil if never seen.
    public func resolved(_ collection: String, id: String) throws -> ResolvedRecord? {
        let table = tables[collection]
        return try read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM outpost_records WHERE collection = ? AND id = ?", arguments: [collection, id]) != nil
            else { return nil }
            let loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
            let rules = table?.rules ?? CollectionRules(collection: collection, fields: [:])
            return loaded.state.resolve(rules, recordID: id)
        }
    }

    /// The replicated state of a record (for sync, digests and tests).
    public func state(_ collection: String, id: String) throws -> RecordState {
        try read { db in try RecordIO.load(db, table: tables[collection], collection: collection, id: id).state }
    }

    /// Conflicts waiting for an admin, as JSON documents (see `protocol/merge.md`, section 8).
    public func conflicts() throws -> [JSONValue] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT detail FROM outpost_conflicts ORDER BY collection, record_id, key").map {
                try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8))
            }
        }
    }

    /// Children whose parent is missing here.
    public func orphans() throws -> [Orphan] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outpost_orphans ORDER BY collection, record_id").map {
                Orphan(collection: $0["collection"], recordID: $0["record_id"], parentCollection: $0["parent_collection"], parentID: $0["parent_id"])
            }
        }
    }

    /// How many changes in the feed were written in this folder (under any id it had).
    public func changesMadeHere() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_feed WHERE origin = 'local'") ?? 0 }
    }

    /// How many changes the feed holds.
    public func changeCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_feed") ?? 0 }
    }

    /// Changes this replica refused, with reasons.
    public func rejections() throws -> [Rejection] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT origin, replica, counter, code, reason, change FROM outpost_rejected ORDER BY replica, counter, origin").map { row in
                let change = try BinaryCodec.decodeChange([UInt8](row["change"] as Data))
                var fields: [String: FieldValue] = [:]
                for (key, state) in change.fields {
                    let own = state.entries.values.filter { $0.dot == change.dot }.map(\.value)
                    if case .group(let parts)? = own.first {
                        for (member, value) in parts { fields[member] = value }
                    } else if own.count > 1 {
                        fields[key] = .set(own.compactMap { if case .string(let s) = $0 { s } else { nil } }.sorted())
                    } else if let value = own.first {
                        fields[key] = value
                    }
                }
                return Rejection(dot: change.dot, collection: change.collection, recordID: change.recordID,
                                 origin: row["origin"], code: row["code"], reason: row["reason"], fields: fields, isDelete: change.isDelete)
            }
        }
    }

    /// Feed entries after `seq`, oldest first.
    public func feed(after seq: Int64, limit: Int = 1_000) throws -> [FeedEntry] {
        try read { db in try Self.feed(db, after: seq, limit: limit) }
    }

    static func feed(_ db: Database, after seq: Int64, limit: Int) throws -> [FeedEntry] {
        try Row.fetchAll(db, sql: "SELECT seq, replica, counter, collection, record_id, origin FROM outpost_feed WHERE seq > ? ORDER BY seq LIMIT ?",
                         arguments: [seq, limit]).map { row in
            FeedEntry(seq: row["seq"], dot: Dot(try ReplicaID(row["replica"] as String), row["counter"]),
                      collection: row["collection"], recordID: row["record_id"], origin: row["origin"])
        }
    }

    /// The changes in the feed with the given sequence numbers (for relaying).
    public func changes(after seq: Int64, limit: Int) throws -> [(seq: Int64, origin: String, change: Change)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT seq, origin, change FROM outpost_feed WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]).map {
                ($0["seq"], $0["origin"], try BinaryCodec.decodeChange([UInt8]($0["change"] as Data)))
            }
        }
    }

    /// Feed entries after `seq` as stored: what a server needs to decide whom each goes to
    /// (its dot and record) read from the feed's columns, the change itself left encoded
    /// until asked for (a pull page sends most changes from text it already holds).
    public func feedRows(after seq: Int64, limit: Int) throws -> [StoredFeedRow] {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT seq, origin, replica, counter, collection, record_id, change FROM outpost_feed WHERE seq > ? ORDER BY seq LIMIT ?"),
                             arguments: [seq, limit]).map { row in
                guard let replica = try? ReplicaID(row["replica"] as String) else {
                    throw StoreError(.corrupt, "Feed entry \(row["seq"] as Int64) names no valid replica.")
                }
                return StoredFeedRow(seq: row["seq"], origin: row["origin"], dot: Dot(replica, row["counter"]), collection: row["collection"],
                                     recordID: row["record_id"], encoded: [UInt8](row["change"] as Data))
            }
        }
    }

    /// Calls `onChange` with new feed entries after every commit that adds to the feed.
    ///
    /// Keep the returned object alive for as long as you observe.
    public func observeFeed(after seq: Int64, onError: @escaping @Sendable (any Error) -> Void = { _ in },
                            onChange: @escaping @Sendable ([FeedEntry]) -> Void) -> AnyDatabaseCancellable {
        let last = LastSeen(seq)
        return DatabaseRegionObservation(tracking: Table("outpost_feed")).start(in: pool, onError: onError) { db in
            do {
                let entries = try Self.feed(db, after: last.value, limit: Int.max)
                if let final = entries.last {
                    last.value = final.seq
                    onChange(entries)
                }
            } catch {
                onError(error)
            }
        }
    }

    static func view(_ row: Row, _ spec: CollectionSpec) -> RecordView {
        var values: [String: FieldValue] = [:]
        for f in spec.fields {
            values[f.name] = ColumnMapping.fieldValue(row[f.name] as DatabaseValue, type: f.type) ?? .null
        }
        return RecordView(id: row["id"], values: values)
    }
}

/// The last feed position an observer has delivered; touched only on GRDB's writer queue.
private final class LastSeen: @unchecked Sendable {
    var value: Int64
    init(_ value: Int64) { self.value = value }
}

extension Replica {
    /// Changes applied here per UTC day (by their HLC) over the last `days` days, read from the
    /// newest end of the feed (at most its last 20,000 entries: a figure for people, not a report).
    public func changesPerDay(days: Int) throws -> [String: Int] {
        let since = Int64(wallClock()) - Int64(days) * 86_400_000
        return try read { db in
            var result: [String: Int] = [:]
            for blob in try Data.fetchAll(db, sql: "SELECT change FROM outpost_feed ORDER BY seq DESC LIMIT 20000") {
                guard let change = try? BinaryCodec.decodeChange([UInt8](blob)) else { continue }
                let millis = Int64(change.hlc.wallMillis)
                if millis < since { break }
                result[CivilTime.date(millis: millis), default: 0] += 1
            }
            return result
        }
    }
}
