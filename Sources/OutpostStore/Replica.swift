import Foundation
import GRDB
import Synchronization
import OutpostCore
import OutpostSchema

/// What part a replica plays in the branch tree.
public enum ReplicaRole: String, Sendable {
    /// A rep's laptop.
    case field
    /// A branch server (a replica of head office, a server to its field replicas).
    case branch
    /// The root; the only place reference data and the schema are written.
    case headOffice = "head-office"
}

/// Who is writing on a new replica, and as what.
public struct ReplicaOptions: Sendable {
    /// The user whose writes this replica makes.
    public var user: String
    /// The device name (shown in history and conflicts).
    public var device: String
    /// The replica's role.
    public var role: ReplicaRole
    /// A fixed replica id (tests, restores); a random one when nil.
    public var replicaID: ReplicaID?

    /// Creates options.
    public init(user: String, device: String, role: ReplicaRole = .field, replicaID: ReplicaID? = nil) {
        self.user = user
        self.device = device
        self.role = role
        self.replicaID = replicaID
    }
}

/// One replica: a single SQLite file holding the user's part of the CRM as plain tables, plus
/// Outpost's metadata (`outpost_*` tables), with typed local writes and transactional apply of
/// remote changes through the merge core.
///
/// ## Topics
/// - ``create(at:schema:options:clock:)``
/// - ``open(at:schema:clock:)``
/// - ``insert(_:_:)``
/// - ``update(_:id:_:)``
/// - ``delete(_:id:)``
/// - ``apply(_:from:settings:precheck:)``
/// - ``query(_:where:orderBy:descending:limit:)``
/// - ``history(_:id:)``
///
/// - warning: The plain collection tables are for reading. Writes from other SQLite
///   connections are refused by triggers, because they would bypass replication.
public final class Replica: Sendable {
    /// The SQLite file.
    public let path: String
    /// This replica's id (the replica part of every dot it makes).
    ///
    /// It changes only when a copied or restored folder takes a new id (``reissue(_:settings:clearing:reporting:)``);
    /// local writes read the id inside their transaction, so a writer that opened the file
    /// before that still names its writes correctly.
    public var replicaID: ReplicaID { identity.withLock { $0 } }
    let identity: Mutex<ReplicaID>
    /// The user and device stamped on local writes.
    public let author: Author
    /// The replica's role.
    public let role: ReplicaRole
    /// The schema in force.
    public let schema: Schema
    let pool: DatabasePool
    let tables: [String: CollectionTable]
    /// Child collections of each collection: (child, its parent field).
    let children: [String: [(collection: String, field: String)]]
    /// The system's wall clock (tests pass their own); ``wallClock()`` corrects it by ``clockOffset``.
    let systemWallClock: @Sendable () -> UInt64
    /// Milliseconds to add to the system clock: the server's time as learned at the last hello
    /// (`Replica+Clock.swift`), 0 when the clocks agree.
    let storedClockOffset: Mutex<Int64>

    /// Milliseconds since 1970 from the system clock.
    public static let systemClock: @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    private init(path: String, pool: DatabasePool, replicaID: ReplicaID, author: Author, role: ReplicaRole,
                 schema: Schema, clock: @escaping @Sendable () -> UInt64) {
        self.path = path
        self.pool = pool
        self.identity = Mutex(replicaID)
        self.author = author
        self.role = role
        self.schema = schema
        self.systemWallClock = clock
        self.storedClockOffset = Mutex(0)
        var tables: [String: CollectionTable] = [:]
        var children: [String: [(String, String)]] = [:]
        for c in schema.collections {
            tables[c.name] = CollectionTable(c)
            if let p = c.parentField, let parent = c.field(p)?.references { children[parent, default: []].append((c.name, p)) }
        }
        self.tables = tables
        self.children = children
    }

    /// Creates a new replica file; refuses to overwrite an existing one.
    public static func create(at path: String, schema: Schema = .crm, options: ReplicaOptions,
                              clock: @escaping @Sendable () -> UInt64 = Replica.systemClock) throws -> Replica {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.replicaExists, "A replica already exists at \(path); use it, or choose another folder with --replica.")
        }
        // Only its user may read it: it holds the customer base and, once enrolled, the token.
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        let pool = try openPool(path)
        let id = options.replicaID ?? (try! ReplicaID(randomReplicaID()))
        try pool.write { db in
            for (key, value) in [("replica_id", id.rawValue), ("user", options.user), ("device", options.device),
                                 ("role", options.role.rawValue), ("hlc", HLCTimestamp.zero.description),
                                 ("schema", schema.fileJSON)] {
                try db.execute(sql: "INSERT INTO outpost_meta (key, value) VALUES (?, ?)", arguments: [key, value])
            }
            try db.execute(sql: "INSERT INTO outpost_meta (key, value) VALUES ('counter', 0)")
            try db.execute(sql: "UPDATE outpost_meta SET value = 1 WHERE key = 'parents_indexed'")
            for c in schema.collections { _ = try StoreSchema.ensureTable(c, db) }
        }
        return Replica(path: path, pool: pool, replicaID: id, author: Author(user: options.user, device: options.device),
                       role: options.role, schema: schema, clock: clock)
    }

    /// Opens an existing replica. With a `schema` that differs from the stored one, migrates
    /// the tables first (columns are added, never dropped; type changes are refused).
    public static func open(at path: String, schema newSchema: Schema? = nil,
                            clock: @escaping @Sendable () -> UInt64 = Replica.systemClock) throws -> Replica {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.noReplica, "There is no replica at \(path). Create one with `outpost init` (or `outpost enroll`), or point --replica at an existing one.")
        }
        let pool = try openPool(path)
        let meta = try pool.read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM outpost_meta").map {
                ($0["key"] as String, $0["value"] as DatabaseValue)
            })
        }
        guard let idText = String.fromDatabaseValue(meta["replica_id"] ?? .null), let id = try? ReplicaID(idText),
              let user = String.fromDatabaseValue(meta["user"] ?? .null), let device = String.fromDatabaseValue(meta["device"] ?? .null),
              let roleText = String.fromDatabaseValue(meta["role"] ?? .null), let role = ReplicaRole(rawValue: roleText),
              let storedJSON = String.fromDatabaseValue(meta["schema"] ?? .null)
        else { throw StoreError(.corrupt, "\(path) is not an Outpost replica (its identity is missing).") }
        let stored = try Schema(json: Data(storedJSON.utf8))
        var schema = stored
        if let newSchema, newSchema.fileJSON != storedJSON {
            try migrate(pool, from: stored, to: newSchema)
            schema = newSchema
        }
        let replica = Replica(path: path, pool: pool, replicaID: id, author: Author(user: user, device: device),
                              role: role, schema: schema, clock: clock)
        if (Int64.fromDatabaseValue(meta["parents_indexed"] ?? .null) ?? 1) == 0 { try replica.indexParents() }
        replica.storedClockOffset.withLock { $0 = Int64.fromDatabaseValue(meta["clock_offset"] ?? .null) ?? 0 }
        return replica
    }

    /// Fills each child's parent in `outpost_records` (once, for a replica made before it was kept).
    func indexParents() throws {
        try write { db in
            for table in tables.values {
                guard let field = table.spec.parentField else { continue }
                for id in try String.fetchAll(db, sql: "SELECT id FROM outpost_records WHERE collection = ?", arguments: [table.spec.name]) {
                    let loaded = try RecordIO.load(db, table: table, collection: table.spec.name, id: id)
                    guard case .reference(let parent)? = loaded.state.resolve(table.rules, recordID: id).values[field] else { continue }
                    try db.execute(sql: "UPDATE outpost_records SET parent = ? WHERE collection = ? AND id = ?", arguments: [parent, table.spec.name, id])
                }
            }
            try db.execute(sql: "UPDATE outpost_meta SET value = 1 WHERE key = 'parents_indexed'")
        }
    }

    private static func openPool(_ path: String) throws -> DatabasePool {
        var config = Configuration()
        config.prepareDatabase { db in
            // The triggers on plain tables let only connections that know this function write.
            db.add(function: DatabaseFunction("outpost_writer", argumentCount: 0, pure: false) { _ in 1 })
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        config.busyMode = .timeout(10)
        let pool = try DatabasePool(path: path, configuration: config)
        try StoreSchema.migrator.migrate(pool)
        return pool
    }

    private static func randomReplicaID() -> String {
        var rng = SystemRandomNumberGenerator()
        let n = rng.next() as UInt64
        let hex = String(n, radix: 16)
        return "r" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Applies a new schema: refuses type changes, adds tables and columns, and re-materializes
    /// every record so that fields that were unknown before appear in their new columns.
    private static func migrate(_ pool: DatabasePool, from old: Schema, to new: Schema) throws {
        for c in new.collections {
            guard let before = old.collections.first(where: { $0.name == c.name }) else { continue }
            for f in c.fields {
                if let was = before.field(f.name), was.type != f.type {
                    throw StoreError(.incompatibleSchema, "The new schema changes \(c.name).\(f.name) from \(was.type.rawValue) to \(f.type.rawValue); types cannot change. Add a new field instead.")
                }
            }
        }
        try pool.write { db in
            for c in new.collections { _ = try StoreSchema.ensureTable(c, db) }
            let oldTables = Dictionary(uniqueKeysWithValues: old.collections.map { ($0.name, CollectionTable($0)) })
            let newTables = Dictionary(uniqueKeysWithValues: new.collections.map { ($0.name, CollectionTable($0)) })
            let rows = try Row.fetchAll(db, sql: "SELECT collection, id FROM outpost_records")
            for row in rows {
                let collection: String = row["collection"], id: String = row["id"]
                let loaded = try RecordIO.load(db, table: oldTables[collection], collection: collection, id: id)
                try RecordIO.save(db, table: newTables[collection], collection: collection, id: id, old: loaded,
                                  new: loaded.state, children: [:], tables: newTables)
            }
            try db.execute(sql: "UPDATE outpost_meta SET value = ? WHERE key = 'schema'", arguments: [new.fileJSON])
            // Fields that were unknown are searchable now: the index is filled again.
            try dropSearchIndex(db)
        }
    }

    /// The collections whose records belong to a record of `collection`, with the field that says so.
    public func childCollections(of collection: String) -> [(collection: String, field: String)] {
        children[collection] ?? []
    }

    /// The collection's spec and table, or a clear error.
    func table(_ collection: String) throws -> CollectionTable {
        do { _ = try schema.collection(collection) } catch { throw StoreError(error) }
        return tables[collection]!
    }

    /// Runs a write transaction, turning storage failures into sentences.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.write(body)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw StoreError.diskFull
        }
    }

    /// Runs a transaction that `body` decides to commit (true) or roll back (false).
    func writeOrRollBack(_ body: (Database) throws -> Bool) throws {
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction { try body(db) ? .commit : .rollback }
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw StoreError.diskFull
        }
    }

    /// Reads in a consistent snapshot.
    func read<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }
}
