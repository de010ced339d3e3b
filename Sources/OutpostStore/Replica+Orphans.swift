import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// A conflict that is no longer open, with the write that closed it.
public struct ClosedConflict: Hashable, Sendable {
    /// The conflict as it was when it closed.
    public let conflict: Conflict
    /// The write that closed it: an admin's settlement (device ``Replica/adminDevice``) or a
    /// later edit that had seen every side.
    public let closedBy: Author
    public let closedDot: Dot
    /// When that write was made (milliseconds since 1970).
    public let closedAt: Int64
    /// The value it left (for a delete-versus-update clash: `true` kept the record; for an
    /// orphan: the parent it stands under, or `false` when it was deleted).
    public let outcome: FieldValue
}

extension Replica {
    /// Orphans whose parent was deleted (not merely not arrived yet), as conflicts with two
    /// sides (in dot order, like every conflict): the child's write that put it under the parent
    /// (taking it restores the parent) and the parent's deletion (taking it deletes the child
    /// too). An admin may also re-parent.
    func orphanConflicts() throws -> [Conflict] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT o.collection, o.record_id, o.parent_collection, o.parent_id FROM outpost_orphans o
                JOIN outpost_records p ON p.collection = o.parent_collection AND p.id = o.parent_id AND p.live = 0
                ORDER BY o.collection, o.record_id
                """)
            return try rows.compactMap { row -> Conflict? in
                try orphanConflict(db, collection: row["collection"], id: row["record_id"],
                                   parentCollection: row["parent_collection"], parentID: row["parent_id"])
            }
        }
    }

    /// The orphan conflict of one child, if it is an orphan of a deleted parent.
    private func orphanConflict(_ db: Database, collection: String, id: String, parentCollection: String, parentID: String) throws -> Conflict? {
        guard let table = tables[collection], let field = childCollections(of: parentCollection).first(where: { $0.collection == collection })?.field else { return nil }
        let child = try RecordIO.load(db, table: table, collection: collection, id: id)
        let parent = try RecordIO.load(db, table: tables[parentCollection], collection: parentCollection, id: parentID)
        guard child.live, !parent.live,
              let placed = child.state.fields[field]?.sortedEntries.filter({ $0.value == .reference(parentID) }).max(by: FieldEntry.lwwPrecedes),
              let deletion = parent.state.presence.sortedEntries.filter({ $0.value == .bool(false) }).max(by: FieldEntry.lwwPrecedes)
        else { return nil }
        return Conflict(collection: collection, recordID: id, key: field, kind: .orphan, rule: "parent-deleted",
                        sides: [placed, deletion], provisionalWinner: placed.dot)
    }

    /// Settles an orphan: `.side` of the child's write restores the parent (it comes back with
    /// the fields it had), `.side` of the deletion deletes the child, `.value(.reference(id))`
    /// moves the child under another live parent. One write, stamped with `author`.
    func resolveOrphan(_ conflict: Conflict, choice: ConflictChoice, author: Author) throws -> ConflictResolution {
        guard let parentCollection = tables[conflict.collection]?.spec.field(conflict.key)?.references,
              case .reference(let parentID) = conflict.sides.first(where: { $0.value != .bool(false) })?.value else {
            throw StoreError(.invalidInput, "Conflict \(conflict.id) is not an orphan this replica can settle.")
        }
        enum Action { case restore, deleteChild, move(String) }
        let action: Action
        switch choice {
        case .side(let dot):
            guard let side = conflict.sides.first(where: { $0.dot == dot }) else {
                throw StoreError(.invalidInput, "Conflict \(conflict.id) has no side \(dot); its sides are \(conflict.sides.map(\.dot.description).joined(separator: ", ")).")
            }
            action = side.value == .bool(false) ? .deleteChild : .restore
        case .value(.reference(let to)), .value(.string(let to)):
            action = .move(to)
        case .value:
            throw StoreError(.invalidInput, "Conflict \(conflict.id) is an orphan: give the id of the \(parentCollection) record to move it under, or take a side (restore the parent, or delete).")
        }
        let childTable = try table(conflict.collection)
        let parentTable = try table(parentCollection)
        let (dot, outcome) = try write { db -> (Dot, FieldValue) in
            // Re-derived inside the transaction: someone may have restored, moved or deleted since.
            guard let current = try orphanConflict(db, collection: conflict.collection, id: conflict.recordID,
                                                   parentCollection: parentCollection, parentID: parentID),
                  current.id == conflict.id else {
                throw StoreError(.notFound, "Conflict \(conflict.id) changed while it was being settled (the record or its parent was written since); look at it again.")
            }
            let outcome: FieldValue
            var alsoClosed: [Conflict] = []
            switch action {
            case .restore:
                // Restoring the parent closes its other orphans too; they are noted as closed by the same write.
                for row in try Row.fetchAll(db, sql: "SELECT collection, record_id FROM outpost_orphans WHERE parent_collection = ? AND parent_id = ?",
                                            arguments: [parentCollection, parentID]) {
                    let (collection, child): (String, String) = (row["collection"], row["record_id"])
                    guard collection != conflict.collection || child != conflict.recordID,
                          let sibling = try orphanConflict(db, collection: collection, id: child, parentCollection: parentCollection, parentID: parentID)
                    else { continue }
                    alsoClosed.append(sibling)
                }
                let parent = try RecordIO.load(db, table: parentTable, collection: parentCollection, id: parentID)
                try commitLocal(db, table: parentTable, id: parentID, loaded: parent, author: author) { state, stamp in
                    try state.write([], stamp: stamp, rules: parentTable.rules, recordID: parentID)
                }
                outcome = .reference(parentID)
            case .deleteChild:
                let child = try RecordIO.load(db, table: childTable, collection: conflict.collection, id: conflict.recordID)
                try commitLocal(db, table: childTable, id: conflict.recordID, loaded: child, author: author) { state, stamp in
                    try state.delete(stamp: stamp, rules: childTable.rules, recordID: conflict.recordID)
                }
                outcome = .bool(false)
            case .move(let to):
                guard try RecordIO.load(db, table: parentTable, collection: parentCollection, id: to).live else {
                    throw StoreError(.invalidInput, "There is no live \(parentCollection) record \(to) to move \(conflict.collection) \(conflict.recordID) under; nothing was written.")
                }
                let child = try RecordIO.load(db, table: childTable, collection: conflict.collection, id: conflict.recordID)
                try commitLocal(db, table: childTable, id: conflict.recordID, loaded: child, author: author) { state, stamp in
                    try state.write([.set(conflict.key, .reference(to))], stamp: stamp, rules: childTable.rules, recordID: conflict.recordID)
                }
                outcome = .reference(to)
            }
            let counter = try UInt64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'counter'") ?? 0
            let dot = Dot(try Self.currentID(db), counter)
            // An orphan is not in the conflict index, so its closing is noted here (orphans
            // closed on other replicas, or by a rep's own move or delete, are not kept).
            let at = Int64(try storedHLC(db).wallMillis)
            for closed in [conflict] + alsoClosed {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO outpost_closed_conflicts
                        (id, collection, record_id, key, kind, detail, closed_dot, closed_user, closed_device, closed_at, outcome)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [closed.id, closed.collection, closed.recordID, closed.key, closed.kind.rawValue,
                                     closed.json.canonicalText, dot.description, author.user, author.device, at, outcome.json.canonicalText])
            }
            return (dot, outcome)
        }
        return ConflictResolution(conflict: conflict, chosen: outcome, dot: dot)
    }

    /// Conflicts closed here, newest first: by an admin's settlement or by a later edit.
    public func closedConflicts(limit: Int = 1_000) throws -> [ClosedConflict] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outpost_closed_conflicts ORDER BY closed_at DESC, id LIMIT ?", arguments: [limit]).compactMap { row in
                guard let conflict = try? Conflict(json: JSONValue.parse(Array((row["detail"] as String).utf8))),
                      let dot = try? Dot(parsing: row["closed_dot"]),
                      let outcome = try? FieldValue(json: JSONValue.parse(Array((row["outcome"] as String).utf8))) else { return nil }
                return ClosedConflict(conflict: conflict, closedBy: Author(user: row["closed_user"], device: row["closed_device"]),
                                      closedDot: dot, closedAt: row["closed_at"], outcome: outcome)
            }
        }
    }
}
