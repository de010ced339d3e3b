import Foundation
import GRDB
import OutpostCore
import OutpostSchema

extension Replica {
    /// Creates a record and returns its new id (a UUIDv7 made here, offline).
    ///
    /// Every field is checked against the schema (known field, type, pick list), required
    /// fields must be present; nothing is written if anything is wrong.
    @discardableResult
    public func insert(_ collection: String, _ values: [String: FieldValue]) throws -> String {
        let table = try table(collection)
        try checkWritable(table.spec)
        let values = try withDefaults(values, table.spec)
        for f in table.spec.fields where f.required && (values[f.name] ?? .null) == .null {
            throw StoreError(.invalidInput, "\(collection).\(f.name) is required; give it a value (\(f.name)=...).")
        }
        let writes = values.sorted { $0.key < $1.key }.map { FieldWrite.set($0.key, $0.value) }
        try check(writes, table.spec)
        let id = UUIDv7.make(millis: wallClock())
        try write { db in
            let loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
            try commitLocal(db, table: table, id: id, loaded: loaded) { state, stamp in
                try state.write(writes, stamp: stamp, rules: table.rules, recordID: id)
            }
        }
        return id
    }

    /// Edits fields of an existing record. Set fields take `.add`/`.remove`; counters `.increment`.
    /// `author` stamps an admin's write at a server (the replica's own author otherwise).
    public func update(_ collection: String, id: String, _ writes: [FieldWrite], author: Author? = nil) throws {
        let table = try table(collection)
        try checkWritable(table.spec)
        guard !writes.isEmpty else { throw StoreError(.invalidInput, "Nothing to change: give at least one field=value.") }
        try check(writes, table.spec)
        for case .set(let field, .null) in writes where table.spec.field(field)?.required == true {
            throw StoreError(.invalidInput, "\(collection).\(field) is required and cannot be emptied.")
        }
        try write { db in
            let loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
            guard loaded.live else { throw StoreError.notFound(collection, id) }
            try commitLocal(db, table: table, id: id, loaded: loaded, author: author) { state, stamp in
                try state.write(writes, stamp: stamp, rules: table.rules, recordID: id)
            }
        }
    }

    /// Deletes a record: a tombstone that replicates; the record's history stays.
    public func delete(_ collection: String, id: String, author: Author? = nil) throws {
        let table = try table(collection)
        try checkWritable(table.spec)
        try write { db in
            let loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
            guard loaded.live else { throw StoreError.notFound(collection, id) }
            try commitLocal(db, table: table, id: id, loaded: loaded, author: author) { state, stamp in
                try state.delete(stamp: stamp, rules: table.rules, recordID: id)
            }
        }
    }

    /// `values` with the schema's defaults for the fields not given: what a rep typing in a
    /// hurry means (an activity happens now, a new task is open).
    func withDefaults(_ values: [String: FieldValue], _ spec: CollectionSpec) throws -> [String: FieldValue] {
        var filled = values
        for field in spec.fields where (values[field.name] ?? .null) == .null {
            guard let text = field.defaultText else { continue }
            switch (text, field.type) {
            case ("now", .timestamp): filled[field.name] = .timestamp(Int64(wallClock()))
            case ("now", .date):
                let day = ISO8601DateFormatter.string(from: Date(timeIntervalSince1970: Double(wallClock()) / 1000), timeZone: TimeZone(identifier: "UTC")!,
                                                      formatOptions: [.withFullDate])
                filled[field.name] = .date(day)
            default:
                do { filled[field.name] = try spec.parse(text, for: field.name) } catch { throw StoreError(error) }
            }
        }
        return filled
    }

    /// Takes the next dot and HLC, builds the change, and commits record, row and feed entry
    /// in the caller's transaction. The counter is persisted in the same transaction, so it
    /// never goes back, even after a crash.
    func commitLocal(_ db: Database, table: CollectionTable, id: String, loaded: LoadedRecord, author: Author? = nil,
                             make: (RecordState, WriteStamp) throws -> Change) throws {
        let stamp = try nextStamp(db, author: author)
        let change: Change
        do { change = try make(loaded.state, stamp) } catch let error as CoreError { throw StoreError(error) }
        try RecordIO.save(db, table: table, collection: table.spec.name, id: id, old: loaded,
                          new: loaded.state.applying(change), children: children, tables: tables)
        _ = try RecordIO.appendToFeed(db, change, origin: "local")
    }

    /// The next write stamp: counter + 1 and an HLC tick, both persisted.
    func nextStamp(_ db: Database, author: Author? = nil) throws -> WriteStamp {
        guard let counter = try UInt64.fetchOne(db, sql: "UPDATE outpost_meta SET value = value + 1 WHERE key = 'counter' RETURNING value") else {
            throw StoreError(.corrupt, "\(path) has no write counter; it is not an intact Outpost replica.")
        }
        let replicaID = try Self.currentID(db)
        var clock = HybridLogicalClock(last: try storedHLC(db))
        let hlc = clock.tick(wallMillis: wallClock())
        try db.execute(sql: "UPDATE outpost_meta SET value = ? WHERE key = 'hlc'", arguments: [hlc.description])
        return WriteStamp(dot: Dot(replicaID, counter), hlc: hlc, author: author ?? self.author)
    }

    func storedHLC(_ db: Database) throws -> HLCTimestamp {
        let text = try String.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'hlc'") ?? "0:0"
        return (try? HLCTimestamp(parsing: text)) ?? .zero
    }

    func checkWritable(_ spec: CollectionSpec) throws {
        if spec.isReferenceData && role != .headOffice {
            throw StoreError(.readOnly, "\(spec.name) is reference data: it is written at head office and read-only on this replica.")
        }
    }

    private func check(_ writes: [FieldWrite], _ spec: CollectionSpec) throws {
        do {
            for w in writes {
                let field = try spec.knownField(w.field)
                switch w {
                case .set(_, let value): try spec.check(value, for: w.field)
                case .add(_, let item), .remove(_, let item):
                    guard field.type == .set else {
                        throw StoreError(.invalidInput, "\(spec.name).\(w.field) is not a set; use \(w.field)=value.")
                    }
                    guard !item.isEmpty else { throw StoreError(.invalidInput, "An empty element cannot be added to or removed from \(spec.name).\(w.field).") }
                    guard item.utf8.count <= ValueLimits.setElementBytes else {
                        throw StoreError(.invalidInput, "An element of \(spec.name).\(w.field) may hold at most \(ValueLimits.setElementBytes) bytes; this one holds \(item.utf8.count).")
                    }
                case .increment:
                    guard field.rule == .counter else {
                        throw StoreError(.invalidInput, "\(spec.name).\(w.field) is not a counter.")
                    }
                }
            }
        } catch let error as SchemaError {
            throw StoreError(error)
        }
    }
}
