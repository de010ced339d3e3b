import Foundation
import GRDB
import OutpostCore
import OutpostSchema

extension Replica {
    /// Where a snapshot being downloaded for this replica is kept until it is taken in (beside
    /// the replica, so that taking it in does not cross file systems; removed afterwards, at
    /// the next sync if the process stopped, and by ``wipe(acknowledged:settings:)``).
    public var bootstrapFilePath: String { path + ".bootstrap" }

    /// Whether this replica holds nothing yet: no record, no change, no write of its own. Only
    /// such a replica may start from a server's snapshot instead of pulling the whole feed.
    public func isPristine() throws -> Bool {
        try read(Self.isPristine)
    }

    static func isPristine(_ db: Database) throws -> Bool {
        try isEmptied(db) && (try UInt64.fetchOne(db, sql: "SELECT value FROM main.outpost_meta WHERE key = 'counter'") ?? 0) == 0
    }

    /// Holds no record and no change (a new replica, or one wiped to start again: its counter
    /// goes on, so its next writes take new names).
    static func isEmptied(_ db: Database) throws -> Bool {
        try Int.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM main.outpost_feed) OR EXISTS (SELECT 1 FROM main.outpost_records)") == 0
    }

    /// Takes in, in one transaction, what a server's snapshot file holds (``writeSnapshot(to:user:device:server:keep:)``):
    /// its records with their states, plain rows, conflicts and feed (so `history` answers as
    /// on a replica that pulled every change), and its feed position as this replica's pull
    /// cursor. This replica keeps its own identity, token and settings. Refused, with nothing
    /// changed, unless this replica is pristine and the file is a replica of the same schema
    /// version; returns the cursor and how many feed entries came with it.
    ///
    /// The file comes from this replica's own server, over its authenticated connection; it is
    /// still read as data only (plain tables, no views), and its clock is bounded like a change's.
    ///
    /// `restarting`: the replica was wiped to start again (an expired device) after every write
    /// it made reached the server; it may have written before, and the snapshot brings its own
    /// writes back.
    public func adoptSnapshot(at path: String, restarting: Bool = false) throws -> (cursor: Int64, changes: Int) {
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS snapshot", arguments: [path])
            defer { try? db.execute(sql: "DETACH DATABASE snapshot") }
            var adopted: (cursor: Int64, changes: Int) = (0, 0)
            try db.inTransaction {
                adopted = try adopt(db, restarting: restarting)
                return .commit
            }
            return adopted
        }
    }

    private func adopt(_ db: Database, restarting: Bool) throws -> (cursor: Int64, changes: Int) {
        guard try restarting ? Self.isEmptied(db) : Self.isPristine(db) else {
            throw StoreError(.replicaExists, "This replica already holds records or writes; a snapshot is taken only by a new, empty one.")
        }
        let theirs: Schema
        do {
            guard let text = try String.fetchOne(db, sql: "SELECT value FROM snapshot.outpost_meta WHERE key = 'schema'") else {
                throw StoreError(.corrupt, "The snapshot file has no schema.")
            }
            theirs = try Schema(json: Data(text.utf8))
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.corrupt, "The snapshot file is not an Outpost replica (\(error)).")
        }
        guard theirs.version == schema.version else {
            throw StoreError(.incompatibleSchema, "The snapshot holds schema version \(theirs.version) and this replica version \(schema.version); it pulls the changes instead.")
        }
        guard let cursorText = try String.fetchOne(db, sql: "SELECT detail FROM snapshot.outpost_checkpoints WHERE peer = 'sync.cursor'"),
              let cursor = Int64(cursorText), let server = try String.fetchOne(db, sql: "SELECT detail FROM snapshot.outpost_checkpoints WHERE peer = 'server.id'") else {
            throw StoreError(.corrupt, "The snapshot file does not say which feed position it stands for.")
        }
        // Column by column: a server whose schema grew has its columns in another order.
        // `replacing` gives columns a value of this replica's own instead of the file's.
        func copy(_ table: String, replacing: [String: String] = [:]) throws {
            let mine = Set(try db.columns(in: table, in: "main").map(\.name))
            let columns = try db.columns(in: table, in: "snapshot").map(\.name).filter(mine.contains)
            guard !columns.isEmpty else { return }
            let list = columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            let values = columns.map { replacing[$0] == nil ? $0.quotedDatabaseIdentifier : "?" }.joined(separator: ", ")
            try db.execute(sql: "INSERT INTO main.\(table.quotedDatabaseIdentifier) (\(list)) SELECT \(values) FROM snapshot.\(table.quotedDatabaseIdentifier)",
                           arguments: StatementArguments(columns.compactMap { replacing[$0] }))
        }
        // Plain tables only: a view or a virtual table in a file from elsewhere could make reading
        // it run anything.
        let plain = Set(try String.fetchAll(db, sql: "SELECT name FROM snapshot.sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"))
        let kept = ["outpost_records", "outpost_conflicts", "outpost_orphans", "outpost_closed_conflicts", "outpost_feed"]
        guard kept.allSatisfy(plain.contains) else {
            throw StoreError(.corrupt, "The snapshot file lacks Outpost's tables; it is not a replica.")
        }
        for spec in schema.collections where plain.contains(spec.name) { try copy(spec.name) }
        for table in ["outpost_records", "outpost_conflicts", "outpost_orphans", "outpost_closed_conflicts"] { try copy(table) }
        // Deleted records whose history head office purged (an older server's file has none).
        if plain.contains("outpost_purged") { try copy("outpost_purged") }
        // Each replica's highest purged write: this laptop holds them through the bases, and
        // says so in its `seen` (not the purged writes themselves: a server's long list).
        if plain.contains("outpost_purged_heads") { try copy("outpost_purged_heads") }
        // Every change came from the server, as if pulled (its own feed names the children it
        // came through); feed positions stay the server's, so they need not be dense.
        try copy("outpost_feed", replacing: ["origin": server])
        // This replica's clock goes past every write it now holds, as applying them would have
        // moved it, within the same bound on a clock ahead of this one's (a file whose writes
        // claim a far future is refused, as such changes would be).
        let newest = (try String.fetchOne(db, sql: "SELECT value FROM snapshot.outpost_meta WHERE key = 'hlc'")).flatMap { try? HLCTimestamp(parsing: $0) } ?? .zero
        var clock = HybridLogicalClock(last: try storedHLC(db))
        do { _ = try clock.observe(newest, wallMillis: wallClock()) } catch {
            throw StoreError(.invalidInput, "The snapshot's writes are stamped too far in the future (\(error)); the changes are pulled instead.")
        }
        try db.execute(sql: "UPDATE main.outpost_meta SET value = ? WHERE key = 'hlc'", arguments: [clock.last.description])
        try Self.setSetting(db, "sync.cursor", String(cursor))
        try Self.setSetting(db, "server.id", server)
        let changes = try Int.fetchOne(db, sql: "SELECT count(*) FROM main.outpost_feed") ?? 0
        return (cursor, changes)
    }
}
