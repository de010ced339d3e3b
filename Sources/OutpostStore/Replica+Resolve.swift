import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// What an admin chose for a conflict.
public enum ConflictChoice: Hashable, Sendable {
    /// One of the sides, by its dot (for a delete-versus-update clash: keep or delete the record).
    case side(Dot)
    /// A value of the admin's own (concurrent values only).
    case value(FieldValue)
}

/// A conflict an admin settled: the write that settled it, and what was there before.
public struct ConflictResolution: Hashable, Sendable {
    /// The conflict as it was.
    public let conflict: Conflict
    /// The value chosen (for a delete-versus-update clash: `true` kept the record, `false` deleted it).
    public let chosen: FieldValue
    /// The resolution's own dot: it travels like any write and closes the conflict wherever it arrives.
    public let dot: Dot
}

extension Replica {
    /// Every open conflict held here, derived from the records that have one. A field clash on a
    /// record deleted since is left out: settling it would bring the record back.
    public func openConflicts() throws -> [Conflict] {
        let records = try read { db in
            try Row.fetchAll(db, sql: "SELECT DISTINCT collection, record_id FROM outpost_conflicts ORDER BY collection, record_id")
                .map { ($0["collection"] as String, $0["record_id"] as String) }
        }
        return try records.flatMap { collection, id -> [Conflict] in
            guard let record = try resolved(collection, id: id) else { return [] }
            return record.conflicts.filter { record.exists || $0.kind == .deleteVersusUpdate }
        } + orphanConflicts()
    }

    /// The open conflict with this id, if any.
    public func conflict(id: String) throws -> Conflict? {
        guard let row = try read({ db in
            try Row.fetchOne(db, sql: "SELECT collection, record_id FROM outpost_conflicts WHERE id = ?", arguments: [id])
        }) else { return try orphanConflicts().first { $0.id == id } }
        return try resolved(row["collection"], id: row["record_id"])?.conflicts.first { $0.id == id }
    }

    /// Settles a conflict with a write of its own, stamped with `author` (the admin): the write
    /// has seen every side, so it supersedes them here and on every replica it reaches.
    public func resolve(conflict id: String, choice: ConflictChoice, author: Author) throws -> ConflictResolution {
        guard let conflict = try conflict(id: id) else {
            throw StoreError(.notFound, "There is no open conflict \(id); it may have been settled already (`outpost-admin audit`).")
        }
        return try resolve(conflict, choice: choice, author: author)
    }

    /// Settles a conflict already looked up (``openConflicts()``); it is derived again inside
    /// the write's transaction, so one settled or changed since is refused (`notFound`).
    public func resolve(_ conflict: Conflict, choice: ConflictChoice, author: Author) throws -> ConflictResolution {
        let id = conflict.id
        if conflict.kind == .orphan { return try resolveOrphan(conflict, choice: choice, author: author) }
        let table = try table(conflict.collection)
        let chosen: FieldValue
        switch choice {
        case .side(let dot):
            guard let side = conflict.sides.first(where: { $0.dot == dot }) else {
                throw StoreError(.invalidInput, "Conflict \(id) has no side \(dot); its sides are \(conflict.sides.map(\.dot.description).joined(separator: ", ")).")
            }
            chosen = side.value
        case .value(let value):
            guard conflict.kind == .concurrentValues else {
                throw StoreError(.invalidInput, "Conflict \(id) is a delete-versus-update clash: take a side (keep or delete), not a value.")
            }
            if let members = table.rules.groups[conflict.key] {
                guard case .group(let parts) = value else {
                    throw StoreError(.invalidInput, "\(conflict.collection).\(conflict.key) is a field group; give its members as {\"group\": {…}}.")
                }
                for (member, part) in parts {
                    guard members.contains(member) else {
                        throw StoreError(.invalidInput, "\(conflict.collection).\(conflict.key) has no member '\(member)'; its members are \(members.joined(separator: ", ")).")
                    }
                    do { try table.spec.check(part, for: member) } catch { throw StoreError(error) }
                }
            } else {
                do { try table.spec.check(value, for: conflict.key) } catch { throw StoreError(error) }
            }
            chosen = value
        }
        var writes: [FieldWrite] = []
        if conflict.kind == .concurrentValues {
            if let members = table.rules.groups[conflict.key] {
                guard case .group(let parts) = chosen else {
                    throw StoreError(.invalidInput, "\(conflict.collection).\(conflict.key) is a field group; give every member, as {\"group\": {…}}.")
                }
                writes = members.map { .set($0, parts[$0] ?? .null) }
            } else {
                writes = [.set(conflict.key, chosen)]
            }
        }
        // Keeping a record writes its presence (it has seen both sides); deleting it writes a
        // tombstone that has seen them.
        let deletes = conflict.kind == .deleteVersusUpdate && chosen != .bool(true)
        let dot = try write { db -> Dot in
            let loaded = try RecordIO.load(db, table: table, collection: conflict.collection, id: conflict.recordID)
            // Re-derived inside the transaction: a side that arrived since the admin looked
            // would be overwritten unseen.
            guard loaded.state.resolve(table.rules, recordID: conflict.recordID).conflicts.contains(where: { $0.id == conflict.id }) else {
                throw StoreError(.notFound, "Conflict \(id) changed while it was being settled (another side arrived, or someone settled it); look at it again.")
            }
            if conflict.kind == .concurrentValues && !loaded.live {
                throw StoreError(.invalidInput, "The record of conflict \(id) was deleted since; settling its field would bring it back. Nothing was written.")
            }
            try commitLocal(db, table: table, id: conflict.recordID, loaded: loaded, author: author) { state, stamp in
                deletes ? try state.delete(stamp: stamp, rules: table.rules, recordID: conflict.recordID)
                    : try state.write(writes, stamp: stamp, rules: table.rules, recordID: conflict.recordID)
            }
            let counter = try UInt64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'counter'") ?? 0
            return Dot(try Self.currentID(db), counter)
        }
        return ConflictResolution(conflict: conflict, chosen: chosen, dot: dot)
    }
}

/// An admin's write that settled a conflict or a merge on a record this replica's user had written.
public struct Settlement: Hashable, Sendable {
    public let collection: String
    public let recordID: String
    /// Who settled it, and when (milliseconds since 1970).
    public let admin: String
    public let at: Int64
    /// The fields it wrote (empty for a record kept or retired).
    public let fields: [String]
    /// Whether it deleted the record (a merge retires the other record so).
    public let deleted: Bool
}

extension Replica {
    /// The device name admins' settlements and merges are stamped with.
    public static let adminDevice = "outpost-admin"
    /// The device name head office's automatic repairs are stamped with (a child moved to the
    /// record its parent was merged into).
    public static let repairDevice = "outpost-repair"
    /// Device names no replica below head office may write under.
    public static let reservedDevices: Set<String> = [adminDevice, repairDevice]

    /// Admins' settlements and merges among the newest `window` writes held here, on records
    /// written on this replica: what the rep should hear about their own edits.
    public func settlementsTouchingMyEdits(window: Int = 5_000) throws -> [Settlement] {
        try read { db in
            var found: [Settlement] = []
            var mine: [String: Bool] = [:]
            // The window first (newest writes received), then one indexed look per candidate:
            // no scan of the whole feed.
            for blob in try Data.fetchAll(db, sql: "SELECT change FROM outpost_feed WHERE origin <> 'local' ORDER BY seq DESC LIMIT ?", arguments: [window]) {
                guard let change = try? BinaryCodec.decodeChange([UInt8](blob)), change.author.device == Self.adminDevice else { continue }
                let key = change.collection + "\u{1F}" + change.recordID
                if mine[key] == nil {
                    mine[key] = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outpost_feed WHERE collection = ? AND record_id = ? AND origin = 'local' LIMIT 1"),
                                                  arguments: [change.collection, change.recordID]) ?? false
                }
                guard mine[key] == true else { continue }
                let deleted = change.presence.entries.values.contains { $0.dot == change.dot && $0.value == .bool(false) }
                found.append(Settlement(collection: change.collection, recordID: change.recordID, admin: change.author.user,
                                        at: Int64(change.hlc.wallMillis), fields: change.fields.keys.sorted(), deleted: deleted))
            }
            return found
        }
    }
}
