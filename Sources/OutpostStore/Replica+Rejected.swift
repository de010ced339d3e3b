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
    /// values that change wrote (a field group whole, the elements it added to a set; a counter
    /// is left as it stands here, its step cannot be told again), or deleting again: after a
    /// scope or rights change, it goes up at the next sync. It works for a record that left
    /// this laptop too (it is written anew). The refusal is dropped.
    public func retryRejected(_ dot: Dot) throws {
        let kept = try read { db in try rejected(db, dot) }
        guard let (change, origin) = kept else {
            throw StoreError(.notFound, "There is no refused change \(dot) here; `outpost status` lists them.")
        }
        guard origin == "server" else {
            throw StoreError(.invalidInput, "Change \(dot) was written elsewhere and refused by this replica; it cannot be sent again from here, only discarded.")
        }
        let table = try table(change.collection)
        var writes: [FieldWrite] = []
        for (key, state) in change.fields {
            let own = state.entries.values.filter { $0.dot == change.dot }
            if let members = table.rules.groups[key] {
                guard case .group(let parts)? = own.first?.value else { continue }
                writes += members.map { .set($0, parts[$0] ?? .null) }
                continue
            }
            switch table.rules.rule(of: key) ?? .lww {
            case .counter:
                continue
            case .set:
                for entry in own { if case .string(let element) = entry.value { writes.append(.add(key, element)) } }
            default:
                if let value = own.first?.value { writes.append(.set(key, value)) }
            }
        }
        try write { db in
            let loaded = try RecordIO.load(db, table: table, collection: change.collection, id: change.recordID)
            try commitLocal(db, table: table, id: change.recordID, loaded: loaded) { state, stamp in
                change.isDelete ? try state.delete(stamp: stamp, rules: table.rules, recordID: change.recordID)
                    : try state.write(writes, stamp: stamp, rules: table.rules, recordID: change.recordID)
            }
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
            try Self.feedShrank(db)
            // From its purge base, if it has one (a laptop that started from a copy made after a purge).
            let rebuilt = try stateFromHistory(db, collection: change.collection, id: change.recordID)
            try RecordIO.save(db, table: table, collection: change.collection, id: change.recordID, old: old, new: rebuilt, children: children, tables: tables)
            // Changed without a new feed entry: the search index is told here.
            try indexForSearch(db, collection: change.collection, id: change.recordID)
        }
    }
}
