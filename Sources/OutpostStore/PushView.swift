import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// What a push's screening sees: each record as this replica holds it, with the changes of
/// the same page admitted so far applied, so a contact pushed with its new account is judged
/// under that account.
public final class PushView {
    private let db: Database
    private let tables: [String: CollectionTable]
    private var states: [String: RecordState] = [:]

    init(db: Database, tables: [String: CollectionTable]) {
        self.db = db
        self.tables = tables
    }

    private static func key(_ collection: String, _ id: String) -> String { collection + "\u{1F}" + id }

    /// The record's state before the change being screened (nil if never heard of).
    public func state(_ collection: String, _ id: String) throws -> RecordState? {
        if let state = states[Self.key(collection, id)] { return state }
        let loaded = try RecordIO.load(db, table: tables[collection], collection: collection, id: id)
        guard !loaded.state.presence.isEmpty || !loaded.state.fields.isEmpty else { return nil }
        states[Self.key(collection, id)] = loaded.state
        return loaded.state
    }

    /// The record as resolved under this replica's schema, before the change being screened.
    public func record(_ collection: String, _ id: String) throws -> ResolvedRecord? {
        guard let table = tables[collection], let state = try state(collection, id) else { return nil }
        return state.resolve(table.rules, recordID: id)
    }

    /// The record as it would be with `change` applied.
    public func recordAfter(_ change: Change) throws -> ResolvedRecord? {
        guard let table = tables[change.collection] else { return nil }
        return (try state(change.collection, change.recordID) ?? RecordState()).applying(change).resolve(table.rules, recordID: change.recordID)
    }

    /// The user who wrote the record's first write here (also when a purge removed it), if known.
    public func creator(_ collection: String, _ id: String) throws -> String? {
        try Replica.creator(db, collection, id)
    }

    /// The highest counter of `replica` whose change was applied here (0 if none).
    public func seenCounter(of replica: String) throws -> UInt64 {
        try Replica.seenCounter(db, of: replica)
    }

    /// Takes an admitted change into the page's view.
    func admit(_ change: Change) throws {
        states[Self.key(change.collection, change.recordID)] = (try state(change.collection, change.recordID) ?? RecordState()).applying(change)
    }
}
