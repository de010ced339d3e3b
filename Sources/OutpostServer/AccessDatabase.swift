import Foundation
import GRDB
import OutpostCore
import OutpostWire

/// The device a request authenticated as.
public struct AuthenticatedDevice: Sendable {
    /// The device id.
    public let id: String
    /// Its user.
    public let user: String
    /// The replica id it writes with.
    public let replica: String
    /// Its user's role (`rep`, `manager`, `admin`, `branch`).
    public let role: String

    /// Creates a device identity.
    public init(id: String, user: String, replica: String, role: String) {
        self.id = id
        self.user = user
        self.replica = replica
        self.role = role
    }

    /// A branch server, which relays the writes of the replicas beneath it.
    public var isBranch: Bool { role == "branch" }
}

/// Users, devices, enrollment codes and admin tokens, in `server.sqlite` beside the replica.
/// Secrets are stored as SHA-256 hashes only.
final class AccessDatabase: Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        var configuration = Configuration()
        // Another process (`outpost-server token`, a second server process) may be writing:
        // wait for it rather than fail at once.
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE users (name TEXT PRIMARY KEY NOT NULL, role TEXT NOT NULL, scope TEXT NOT NULL, created_at TEXT NOT NULL);
                CREATE TABLE devices (
                    id TEXT PRIMARY KEY NOT NULL, user TEXT NOT NULL REFERENCES users(name), name TEXT NOT NULL,
                    replica TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE, enrolled_at TEXT NOT NULL,
                    last_seen TEXT, declared_counter INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE enrollment_codes (
                    code_hash TEXT PRIMARY KEY NOT NULL, user TEXT NOT NULL REFERENCES users(name),
                    created_at TEXT NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE admin_tokens (token_hash TEXT PRIMARY KEY NOT NULL, created_at TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("v2-replicas") { db in
            // A device may write under several replica ids: its enrolled one, and the new ids
            // its copied or restored folders take. Each has its own sync token and counter.
            try db.execute(sql: """
                CREATE TABLE replicas (
                    id TEXT PRIMARY KEY NOT NULL, device TEXT NOT NULL REFERENCES devices(id),
                    sync_token TEXT, declared_counter INTEGER NOT NULL DEFAULT 0,
                    forked_from TEXT, fork_map TEXT, created_at TEXT NOT NULL, last_seen TEXT);
                CREATE INDEX replicas_by_device ON replicas (device);
                CREATE INDEX replicas_by_origin ON replicas (forked_from);
                INSERT INTO replicas (id, device, declared_counter, created_at, last_seen)
                    SELECT replica, id, declared_counter, enrolled_at, last_seen FROM devices;
                """)
        }
        migrator.registerMigration("v3-tree") { db in
            // Identities travel the branch tree: `source` is the neighbour server (a child
            // branch, or the parent) a user or device was learned from; NULL when made here.
            // `relays` says which child branch may push which replica's writes. `seen` is what a
            // replica said it had seen at its last hello: its pulls skip those writes.
            try db.execute(sql: """
                ALTER TABLE users ADD COLUMN source TEXT;
                ALTER TABLE devices ADD COLUMN source TEXT;
                ALTER TABLE replicas ADD COLUMN seen TEXT;
                CREATE TABLE relays (replica TEXT NOT NULL, via TEXT NOT NULL, PRIMARY KEY (replica, via)) WITHOUT ROWID;
                CREATE INDEX relays_by_via ON relays (via);
                """)
        }
        migrator.registerMigration("v4-audit") { db in
            // Admin tokens carry the name of the person they were made for, so the audit can
            // say who settled what. The audit trail is append-only.
            try db.execute(sql: """
                ALTER TABLE admin_tokens ADD COLUMN name TEXT NOT NULL DEFAULT 'admin';
                CREATE TABLE audit (
                    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
                    collection TEXT NOT NULL, record TEXT NOT NULL, key TEXT NOT NULL, subject TEXT NOT NULL,
                    chosen TEXT NOT NULL, before TEXT NOT NULL, dot TEXT);
                CREATE INDEX audit_by_subject ON audit (subject);
                """)
        }
        migrator.registerMigration("v5-duplicates") { db in
            // Pairs an admin said are not duplicates, and records merged away: a child written
            // under a retired record is moved to the one it was merged into when it arrives.
            try db.execute(sql: """
                CREATE TABLE dismissals (collection TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (collection, a, b)) WITHOUT ROWID;
                CREATE TABLE redirects (collection TEXT NOT NULL, from_id TEXT NOT NULL, to_id TEXT NOT NULL, PRIMARY KEY (collection, from_id)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v6-channel") { db in
            try db.execute(sql: "ALTER TABLE users ADD COLUMN channel TEXT NOT NULL DEFAULT 'both'")
        }
        migrator.registerMigration("v7-app-version") { db in
            try db.execute(sql: "ALTER TABLE devices ADD COLUMN app_version TEXT")
        }
        migrator.registerMigration("v8-time-zone") { db in
            try db.execute(sql: "ALTER TABLE users ADD COLUMN time_zone TEXT")
        }
        migrator.registerMigration("v9-clock-skew") { db in
            // How far the device's clock was from this server's at its last hello, when more than a minute.
            try db.execute(sql: "ALTER TABLE devices ADD COLUMN clock_skew_ms INTEGER")
        }
        migrator.registerMigration("v10-verification") { db in
            // Each replica's last comparison with this server (`outpost status --verify`).
            try db.execute(sql: "ALTER TABLE replicas ADD COLUMN verified_at TEXT")
            try db.execute(sql: "ALTER TABLE replicas ADD COLUMN verify_differing INTEGER")
        }
        migrator.registerMigration("v11-retention") { db in
            // Where each replica stood at its last hello (its committed pull position), when it
            // was expired for its silence, and the admin's expiry.
            try db.execute(sql: """
                ALTER TABLE replicas ADD COLUMN cursor INTEGER;
                ALTER TABLE replicas ADD COLUMN expired_at TEXT;
                CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                """)
        }
        try migrator.migrate(pool)
    }

    /// Most replica ids one device may hold (its folder and its copies); a device that forks
    /// beyond it is refused, so a misbehaving client cannot fill the table.
    static let replicasPerDevice = 100

    static var now: String { ISO8601DateFormatter().string(from: Date()) }

    func createAdminToken(name: String = "admin") throws -> String {
        let token = Secrets.token(prefix: "opa_")
        try pool.write { db in
            try db.execute(sql: "INSERT INTO admin_tokens (token_hash, created_at, name) VALUES (?, ?, ?)", arguments: [Secrets.hash(token), Self.now, name])
        }
        return token
    }

    /// The name of the admin `token` was made for, unless it is unknown.
    func adminName(token: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT name FROM admin_tokens WHERE token_hash = ?", arguments: [Secrets.hash(token)])
        }
    }

    /// Appends to the audit trail.
    func addAudit(_ entry: AuditEntry) throws {
        let before = String(decoding: try JSONEncoder().encode(entry.before), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO audit (at, who, action, collection, record, key, subject, chosen, before, dot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [entry.at, entry.who, entry.action, entry.collection, entry.record, entry.key, entry.subject, entry.chosen, before, entry.dot])
        }
    }

    /// Marks a pair as not duplicates.
    func dismiss(collection: String, _ a: String, _ b: String) throws {
        let (x, y) = a < b ? (a, b) : (b, a)
        try pool.write { db in try db.execute(sql: "INSERT OR IGNORE INTO dismissals (collection, a, b) VALUES (?, ?, ?)", arguments: [collection, x, y]) }
    }

    /// Pairs marked as not duplicates, as `collection|a|b` with a < b.
    func dismissals() throws -> Set<String> {
        try pool.read { db in
            Set(try Row.fetchAll(db, sql: "SELECT collection, a, b FROM dismissals").map { "\($0["collection"] as String)|\($0["a"] as String)|\($0["b"] as String)" })
        }
    }

    /// Records a merge: children of `from` arriving later go to `to`.
    func addRedirect(collection: String, from: String, to: String) throws {
        guard from != to else { return }
        try pool.write { db in
            // The kept record is live again (revived, or merged back): it redirects nowhere.
            try db.execute(sql: "DELETE FROM redirects WHERE collection = ? AND from_id = ?", arguments: [collection, to])
            try db.execute(sql: "INSERT OR REPLACE INTO redirects (collection, from_id, to_id) VALUES (?, ?, ?)", arguments: [collection, from, to])
            // Records merged into the one now retired go to the end of the chain.
            try db.execute(sql: "UPDATE redirects SET to_id = ? WHERE collection = ? AND to_id = ?", arguments: [to, collection, from])
        }
    }

    /// Every merge's redirect.
    func redirects() throws -> [(collection: String, from: String, to: String)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT collection, from_id, to_id FROM redirects").map { ($0["collection"], $0["from_id"], $0["to_id"]) }
        }
    }

    /// The audit trail, oldest first.
    func audit() throws -> [AuditEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq").map {
                let before = (try? JSONDecoder().decode([String].self, from: Data(($0["before"] as String).utf8))) ?? []
                return AuditEntry(at: $0["at"], who: $0["who"], action: $0["action"], collection: $0["collection"], record: $0["record"],
                                  key: $0["key"], subject: $0["subject"], chosen: $0["chosen"], before: before, dot: $0["dot"])
            }
        }
    }

    func addUser(_ user: UserInfo) throws {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [user.name]) == nil else {
                throw WireError(.userExists, message: "A user named \(user.name) already exists.")
            }
            try db.execute(sql: "INSERT INTO users (name, role, scope, created_at, channel, time_zone) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [user.name, user.role, user.scope, Self.now, user.channel ?? "both", user.timeZone])
        }
    }

    /// A user as a row of `users` holds them.
    static func user(_ row: Row) -> UserInfo {
        UserInfo(name: row["name"], role: row["role"], scope: row["scope"], channel: row["channel"], timeZone: row["time_zone"])
    }

    func users() throws -> [UserInfo] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, role, scope, channel, time_zone FROM users ORDER BY name").map(Self.user)
        }
    }

    /// Changes what is given of a user's role, scope and channel; returns the user as now.
    func editUser(_ edit: AdminUserEditRequest) throws -> UserInfo {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [edit.name]) != nil else {
                throw WireError(.unknownUser, message: "There is no user named \(edit.name); `outpost-admin users list` shows them.")
            }
            try db.execute(sql: "UPDATE users SET role = coalesce(?, role), scope = coalesce(?, scope), channel = coalesce(?, channel) WHERE name = ?",
                           arguments: [edit.role, edit.scope, edit.channel, edit.name])
            // An empty zone clears it (the laptop's own zone applies again).
            if let zone = edit.timeZone {
                try db.execute(sql: "UPDATE users SET time_zone = ? WHERE name = ?", arguments: [zone.isEmpty ? nil : zone, edit.name])
            }
            return try Row.fetchOne(db, sql: "SELECT name, role, scope, channel, time_zone FROM users WHERE name = ?", arguments: [edit.name]).map(Self.user)!
        }
    }

    /// Revokes a device: its token stops working here at once, and elsewhere in the tree at the
    /// next directory exchange.
    func revoke(device: String) throws -> DeviceInfo {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE id = ?", arguments: [device]) != nil else {
                throw WireError(.notFound, message: "There is no device \(device); `outpost-admin devices list` shows them.")
            }
            try db.execute(sql: "UPDATE devices SET revoked = 1 WHERE id = ?", arguments: [device])
        }
        return try devices().first { $0.id == device }!
    }

    /// A new one-time code for `user`, valid for `hours` (a day unless said).
    func createEnrollmentCode(user: String, hours: Double = 24) throws -> String {
        let code = Secrets.enrollmentCode()
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [user]) != nil else {
                throw WireError(.unknownUser, message: "There is no user named \(user); add one with `outpost-admin users add`.")
            }
            try db.execute(sql: "INSERT INTO enrollment_codes (code_hash, user, created_at, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [Secrets.hash(Secrets.normalizeCode(code)), user, Self.now, Date().timeIntervalSince1970 + hours * 3_600])
        }
        return code
    }

    /// Spends a code: creates the device and returns its token and user.
    func enroll(code: String, device: String, replica: String, syncToken: String?, serverIsBranch: Bool = false) throws -> (token: String, device: String, user: UserInfo) {
        let token = Secrets.token(prefix: "opd_")
        return try pool.write { db in
            let hash = Secrets.hash(Secrets.normalizeCode(code))
            guard let row = try Row.fetchOne(db, sql: "SELECT user, expires_at, used FROM enrollment_codes WHERE code_hash = ?", arguments: [hash]),
                  !(row["used"] as Bool), (row["expires_at"] as Double) > Date().timeIntervalSince1970
            else {
                throw WireError(.invalidCode, message: "This enrollment code is unknown, used or expired; ask an admin for a new one (`outpost-admin devices enroll USER`).")
            }
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM replicas WHERE id = ?", arguments: [replica]) == nil else {
                throw WireError(.replicaTaken, message: "Replica \(replica) is already enrolled (this folder was copied from an enrolled laptop). Keep it and run `outpost sync`: the copy syncs with the token it carries and takes an id of its own. To enroll a new device, use a new empty folder (--replica DIR); nothing in this folder is deleted.")
            }
            let userName: String = row["user"]
            guard let user = try Row.fetchOne(db, sql: "SELECT name, role, scope, channel, time_zone FROM users WHERE name = ?", arguments: [userName]).map(Self.user) else {
                throw WireError(.unknownUser, message: "The user this code was made for no longer exists; ask an admin for a new code.")
            }
            // Checked before the code is spent: the rep enrolls again at the right server.
            if let refusal = Self.channelRefusal(user, serverIsBranch: serverIsBranch) { throw refusal }
            let id = "dev-" + String(Secrets.token(prefix: "").prefix(12))
            try db.execute(sql: "UPDATE enrollment_codes SET used = 1 WHERE code_hash = ?", arguments: [hash])
            try db.execute(sql: "INSERT INTO devices (id, user, name, replica, token_hash, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [id, userName, device, replica, Secrets.hash(token), Self.now])
            try db.execute(sql: "INSERT INTO replicas (id, device, sync_token, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [replica, id, syncToken, Self.now])
            return (token, id, user)
        }
    }

    func device(token: String) throws -> AuthenticatedDevice? {
        try pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT d.id, d.user, d.replica, u.role FROM devices d JOIN users u ON u.name = d.user WHERE d.token_hash = ? AND d.revoked = 0
                """, arguments: [Secrets.hash(token)]).map {
                AuthenticatedDevice(id: $0["id"], user: $0["user"], replica: $0["replica"], role: $0["role"])
            }
        }
    }

    /// Why `user`'s devices may not sync with this server, if they may not: a user whose
    /// channel is `branch` syncs only with a branch, `head-office` only with head office.
    static func channelRefusal(_ user: UserInfo, serverIsBranch: Bool) -> WireError? {
        guard user.role != "branch" else { return nil }
        switch (user.channel ?? "both", serverIsBranch) {
        case ("branch", false):
            return WireError(.wrongChannel, message: "\(user.name) syncs only through their branch server (channel branch), and this is head office; use the branch's address, or ask an admin to change the channel (`outpost-admin users edit \(user.name) --channel both`).")
        case ("head-office", true):
            return WireError(.wrongChannel, message: "\(user.name) syncs only with head office (channel head-office), and this is a branch server; use head office's address, or ask an admin to change the channel (`outpost-admin users edit \(user.name) --channel both`).")
        default:
            return nil
        }
    }

    /// Whether the token is a revoked device's.
    func isRevoked(token: String) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE token_hash = ? AND revoked = 1", arguments: [Secrets.hash(token)]) != nil
        }
    }

    func devices() throws -> [DeviceInfo] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM devices ORDER BY user, enrolled_at").map {
                let copies = try String.fetchAll(db, sql: "SELECT id FROM replicas WHERE device = ? AND id <> ? ORDER BY created_at, id",
                                                 arguments: [$0["id"] as String, $0["replica"] as String])
                var device = DeviceInfo(id: $0["id"], user: $0["user"], name: $0["name"], replica: $0["replica"],
                                        enrolledAt: $0["enrolled_at"], lastSeen: $0["last_seen"], revoked: $0["revoked"], copies: copies.isEmpty ? nil : copies)
                device.appVersion = $0["app_version"]
                device.clockSkewMillis = $0["clock_skew_ms"]
                return device
            }
        }
    }

    /// The replica `id` if `device` may write under it.
    func replica(_ id: String, device: String) throws -> ReplicaRecord? {
        try pool.read { db in try ReplicaRecord.fetchOne(db, sql: "SELECT * FROM replicas WHERE id = ? AND device = ?", arguments: [id, device]) }
    }

    /// Opens a sync session for a replica in one transaction: refuses a counter lower than one
    /// declared before and a sync token older than the stored one, then records the counter and
    /// the folder's next token.
    ///
    /// Returns true when the folder is ahead of this server (restored from an older backup).
    ///
    /// `seen` is kept for the replica's pulls, unless the folder last synced with this very
    /// server (`sameServer`) and is ahead of it: then this server was restored from a backup and
    /// may hold other writes under names the folder has seen, so nothing is skipped.
    ///
    /// An id this server has never heard of is learned again for `device` only with `idProof`:
    /// the first sync token of a copy's id, from which the id was derived (``Secrets/forkReplicaID(device:token:)``).
    func openSession(replica id: String, device: String, counter: UInt64, syncToken: String?, nextSyncToken: String?,
                     seen: [String: UInt64] = [:], sameServer: Bool = false, idProof: String? = nil) throws -> Bool {
        let seenJSON = String(decoding: try JSONEncoder().encode(seen), as: UTF8.self)
        return try pool.write { db in
            var relearned = false
            if try ReplicaRecord.fetchOne(db, sql: "SELECT * FROM replicas WHERE id = ?", arguments: [id]) == nil, ReplicaID.isValid(id),
               let idProof, Secrets.forkReplicaID(device: device, token: idProof) == id {
                // An id this server has never heard of, which the device proves it was given
                // for a copy of its folder before this server was restored from an older
                // backup. Learn it again rather than lock the folder out; it sends again what the
                // server lost, and pulls from the start (its cursor may point past the restored
                // feed). Without the proof, an unknown id is someone else's (a device enrolled at
                // a branch that has not reported it yet) and is refused below.
                try Self.requireRoomForAnotherReplica(db, device: device)
                try db.execute(sql: "INSERT INTO replicas (id, device, created_at) VALUES (?, ?, ?)", arguments: [id, device, Self.now])
                relearned = true
            }
            guard let replica = try ReplicaRecord.fetchOne(db, sql: "SELECT * FROM replicas WHERE id = ? AND device = ?", arguments: [id, device]) else {
                throw WireError(.wrongReplica, message: "This device does not write as replica \(id); sync from the folder it was enrolled with.")
            }
            guard counter >= replica.declaredCounter else {
                throw WireError(.counterWentBack, message: "Replica \(id) says its counter is \(counter), but it said \(replica.declaredCounter) before: this folder was restored from an older copy. The client takes a new replica id and sends what the server lacks; nothing needs to be thrown away.")
            }
            let rotateTo: String?
            var serverBehind = relearned
            switch SyncToken.check(stored: replica.syncToken, presented: syncToken, next: nextSyncToken) {
            case .accept(let next): rotateTo = next
            case .serverBehind(let next):
                rotateTo = next
                serverBehind = true
            case .forked:
                throw WireError(.replicaForked, message: "Replica \(id) presented an older sync token than the server holds: this folder is a copy of another one, or was restored from a backup. The client takes a new replica id and sends what the server lacks; nothing needs to be thrown away.")
            }
            try db.execute(sql: "UPDATE replicas SET declared_counter = ?, sync_token = coalesce(?, sync_token), last_seen = ?, seen = ? WHERE id = ?",
                           arguments: [counter, rotateTo, Self.now, serverBehind && sameServer ? "{}" : seenJSON, id])
            try db.execute(sql: "UPDATE devices SET last_seen = ? WHERE id = ?", arguments: [Self.now, device])
            return serverBehind
        }
    }

    /// The ids copies of `old` took, each with how it renamed the writes of `old`.
    func forks(of old: String) throws -> [StoredFork] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, fork_map FROM replicas WHERE forked_from = ? AND fork_map IS NOT NULL ORDER BY created_at, id",
                             arguments: [old]).map(Self.fork)
        }
    }

    /// How `replica` renamed the writes of the id it was copied from, if it is a copy.
    func forkMap(of replica: String) throws -> StoredFork? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, fork_map FROM replicas WHERE id = ? AND fork_map IS NOT NULL", arguments: [replica]).map(Self.fork)
        }
    }

    /// The copy of `old` that `device` asked for with `syncToken` and has not used yet (a fork
    /// call whose answer was lost), if any.
    func unusedFork(of old: String, device: String, syncToken: String) throws -> StoredFork? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, fork_map FROM replicas WHERE forked_from = ? AND device = ? AND sync_token = ? AND fork_map IS NOT NULL",
                             arguments: [old, device, syncToken]).map(Self.fork)
        }
    }

    /// A fork map as stored; a damaged one is an error, because skipping it would let a write
    /// shared with that copy be stored twice.
    static func fork(_ row: Row) throws -> StoredFork {
        let id: String = row["id"]
        guard let text: String = row["fork_map"], var fork = try? JSONDecoder().decode(StoredFork.self, from: Data(text.utf8)) else {
            throw WireError(.`internal`, message: "The server's record of replica \(id), a copy, is damaged; nothing was changed. Restore server.sqlite from a backup.")
        }
        fork.id = id
        return fork
    }

    /// A new replica id for a copy of `old`, enrolled for the same device with `syncToken`;
    /// `map` says how the copy renames the writes of `old` (the new id goes in `map.id`).
    func createFork(device: String, from old: String, syncToken: String, map: StoredFork) throws -> String {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM replicas WHERE id = ? AND device = ?", arguments: [old, device]) != nil else {
                throw WireError(.wrongReplica, message: "This device does not write as replica \(old).")
            }
            try Self.requireRoomForAnotherReplica(db, device: device)
            var id = Secrets.forkReplicaID(device: device, token: syncToken)
            while try Bool.fetchOne(db, sql: "SELECT 1 FROM replicas WHERE id = ?", arguments: [id]) != nil {
                // Only a repeated token could collide, and a repeated call is answered before
                // this; a random id keeps the copy safe, without the restore-proof.
                id = "r" + String(Secrets.token(prefix: "").prefix(16))
            }
            var stored = map
            stored.id = id
            let text = String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
            try db.execute(sql: "INSERT INTO replicas (id, device, sync_token, forked_from, fork_map, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [id, device, syncToken, old, text, Self.now])
            return id
        }
    }

    /// Refuses another replica id for a device that has used `replicasPerDevice` already.
    /// Ids handed to copies that never synced with them (the copy crashed before taking the id,
    /// or asked again) do not count, and only the newest few of those are kept.
    static func requireRoomForAnotherReplica(_ db: Database, device: String) throws {
        try db.execute(sql: """
            DELETE FROM replicas WHERE device = ?1 AND forked_from IS NOT NULL AND last_seen IS NULL AND id NOT IN (
                SELECT id FROM replicas WHERE device = ?1 AND forked_from IS NOT NULL AND last_seen IS NULL ORDER BY created_at DESC, id LIMIT 9)
            """, arguments: [device])
        let used = try Int.fetchOne(db, sql: "SELECT count(*) FROM replicas WHERE device = ? AND (last_seen IS NOT NULL OR forked_from IS NULL)",
                                    arguments: [device]) ?? 0
        guard used < replicasPerDevice else {
            throw WireError(.tooManyReplicas, message: "Copies of this device's folder have already taken \(used) replica ids, the most one device may have. This folder's writes are safe in it; ask an admin to look at the device (`outpost-admin devices list`).")
        }
    }

    /// What `replica` said it had seen at its last hello.
    func seen(of replica: String) throws -> [String: UInt64] {
        try pool.read { db in
            guard let text = try String.fetchOne(db, sql: "SELECT seen FROM replicas WHERE id = ?", arguments: [replica]) else { return [:] }
            return (try? JSONDecoder().decode([String: UInt64].self, from: Data(text.utf8))) ?? [:]
        }
    }

    /// Counts for statistics.
    func counts() throws -> (users: Int, devices: Int) {
        try pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM users") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM devices") ?? 0)
        }
    }

    /// Every replica that synced here, with its user, last sync and declared counter.
    func replicaActivity() throws -> [(replica: String, user: String, lastSeen: String?, declared: UInt64, verifiedAt: String?, differing: Int?)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.id, d.user, r.last_seen, r.declared_counter, r.verified_at, r.verify_differing FROM replicas r JOIN devices d ON d.id = r.device
                WHERE r.last_seen IS NOT NULL ORDER BY r.last_seen DESC
                """).map { ($0["id"], $0["user"], $0["last_seen"], $0["declared_counter"], $0["verified_at"], $0["verify_differing"]) }
        }
    }

    /// Keeps a replica's last comparison: when, and how many records (or buckets, before the
    /// second step names them) differed.
    func noteVerification(replica: String, differing: Int) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE replicas SET verified_at = ?, verify_differing = ? WHERE id = ?",
                           arguments: [ISO8601DateFormatter().string(from: Date()), differing, replica])
        }
    }

    /// Keeps the software a device last synced with: at most 64 characters, printable ASCII
    /// only (it is shown in an admin's terminal).
    func noteClient(device: String, version: String) throws {
        let clean = String(String.UnicodeScalarView(version.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }.prefix(64)))
        // Read first: the version rarely changes, and a write per hello costs a disk sync.
        guard try pool.read({ db in try String.fetchOne(db, sql: "SELECT app_version FROM devices WHERE id = ?", arguments: [device]) }) != clean else { return }
        try pool.write { db in
            try db.execute(sql: "UPDATE devices SET app_version = ? WHERE id = ?", arguments: [clean, device])
        }
    }

    /// The counter a replica declared at its last hello.
    func declaredCounter(replica: String) throws -> UInt64 {
        try pool.read { db in try UInt64.fetchOne(db, sql: "SELECT declared_counter FROM replicas WHERE id = ?", arguments: [replica]) ?? 0 }
    }
}

/// One replica id a device writes under, as the server keeps it.
struct ReplicaRecord: FetchableRecord, Decodable, Sendable {
    let id: String
    let device: String
    let syncToken: String?
    let declaredCounter: UInt64

    enum CodingKeys: String, CodingKey {
        case id, device, syncToken = "sync_token", declaredCounter = "declared_counter"
    }
}

/// How a copy renamed the writes of the replica it was copied from: kept through `kept`, the
/// `adopted` ranges took other copies' names, and its own id starts after `ownAfter`.
public struct StoredFork: Codable, Hashable, Sendable {
    /// The copy's id (not stored in the map itself).
    public var id = ""
    /// The id it was copied from.
    public var old: String
    /// The last counter of `old` it kept.
    public var kept: UInt64
    /// Ranges it took from earlier copies.
    public var adopted: [ForkSegment]
    /// The last counter of `old` before its own id's first write.
    public var ownAfter: UInt64

    public init(old: String, kept: UInt64, adopted: [ForkSegment], ownAfter: UInt64) {
        self.old = old
        self.kept = kept
        self.adopted = adopted
        self.ownAfter = ownAfter
    }

    enum CodingKeys: String, CodingKey { case old, kept, adopted, ownAfter }

    /// The rename this copy applied, for reading its writes under their old names.
    public func rename() throws -> ReplicaRename {
        try ReplicaRename(old: try ReplicaID(old), keptThrough: kept, adopted: try adopted.map { try $0.segment() }, new: try ReplicaID(id))
    }
}
