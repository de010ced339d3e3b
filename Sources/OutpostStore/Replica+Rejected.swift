import Foundation
import GRDB
import OutpostCore
import OutpostSchema

extension Replica {
    /// The kept refusal of `dot`, if any: the change whole, who refused it and why.
    func rejected(_ db: Database, _ dot: Dot) throws -> (change: Change, origin: String)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT origin, change FROM outpost_rejected WHERE replica = ? AND counter = ? ORDER BY origin LIMIT 1",
                                         arguments: [dot.replica.rawValue, dot.counter]) else { return nil }
        return (try BinaryCodec.decodeChange([UInt8](row["change"] as Data)), row["origin"])
    }

    /// Writes a change the server refused again, as a new change of this replica with the
    /// values the record shows here now for the fields it wrote (or deleting again): after a
    /// scope or rights change, it goes up at the next sync. The refusal is dropped.
    public func retryRejected(_ dot: Dot) throws {
        let kept = try read { db in try rejected(db, dot) }
        guard let (change, origin) = kept else {
            throw StoreError(.notFound, "There is no refused change \(dot) here; `outpost status` lists them.")
        }
        guard origin == "server" else {
            throw StoreError(.invalidInput, "Change \(dot) was written elsewhere and refused by this replica; it cannot be sent again from here, only discarded.")
        }
        let table = try table(change.collection)
        guard let record = try resolved(change.collection, id: change.recordID) else {
            throw StoreError(.notFound, "\(change.collection) \(change.recordID) is no longer on this replica (it left your scope); discard the refused change, or ask an admin.")
        }
        if change.isDelete {
            try delete(change.collection, id: change.recordID)
        } else {
            var fields: [String] = []
            for key in change.fields.keys { fields += table.rules.groups[key] ?? [key] }
            let writes = fields.filter { table.spec.field($0) != nil }.map { FieldWrite.set($0, record.values[$0] ?? .null) }
            if writes.isEmpty {
                try write { db in
                    let loaded = try RecordIO.load(db, table: table, collection: change.collection, id: change.recordID)
                    try commitLocal(db, table: table, id: change.recordID, loaded: loaded) { state, stamp in
                        try state.write([], stamp: stamp, rules: table.rules, recordID: change.recordID)
                    }
                }
            } else {
                try update(change.collection, id: change.recordID, writes)
            }
        }
        try write { db in
            try db.execute(sql: "DELETE FROM outpost_rejected WHERE replica = ? AND counter = ? AND origin = 'server'", arguments: [dot.replica.rawValue, dot.counter])
        }
    }

    /// Drops a refused change: the record is rebuilt here from every other change held of it,
    /// as if the refused one had never been made; the refusal is dropped. What the rep wrote in
    /// that change is then gone from this replica: only their explicit action does this.
    public func discardRejected(_ dot: Dot) throws {
        try write { db in
            guard let (change, _) = try rejected(db, dot) else {
                throw StoreError(.notFound, "There is no refused change \(dot) here; `outpost status` lists them.")
            }
            try db.execute(sql: "DELETE FROM outpost_rejected WHERE replica = ? AND counter = ?", arguments: [dot.replica.rawValue, dot.counter])
            let applied = try Bool.fetchOne(db, sql: "SELECT 1 FROM outpost_feed WHERE replica = ? AND counter = ?", arguments: [dot.replica.rawValue, dot.counter]) != nil
            guard applied, let table = tables[change.collection] else { return }
            let old = try RecordIO.load(db, table: table, collection: change.collection, id: change.recordID)
            try db.execute(sql: "DELETE FROM outpost_feed WHERE replica = ? AND counter = ?", arguments: [dot.replica.rawValue, dot.counter])
            var rebuilt = RecordState()
            for blob in try Data.fetchAll(db, sql: "SELECT change FROM outpost_feed WHERE collection = ? AND record_id = ? ORDER BY seq",
                                          arguments: [change.collection, change.recordID]) {
                rebuilt = rebuilt.applying(try BinaryCodec.decodeChange([UInt8](blob)))
            }
            try RecordIO.save(db, table: table, collection: change.collection, id: change.recordID, old: old, new: rebuilt, children: children, tables: tables)
        }
    }
}
