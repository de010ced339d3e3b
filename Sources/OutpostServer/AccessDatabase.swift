import Foundation
import GRDB
import OutpostWire

/// The device a request authenticated as.
public struct AuthenticatedDevice: Sendable {
    /// The device id.
    public let id: String
    /// Its user.
    public let user: String
    /// The replica id it writes with.
    public let replica: String
}

/// Users, devices, enrollment codes and admin tokens, in `server.sqlite` beside the replica.
/// Secrets are stored as SHA-256 hashes only.
final class AccessDatabase: Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        pool = try DatabasePool(path: path)
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
        try migrator.migrate(pool)
    }

    static var now: String { ISO8601DateFormatter().string(from: Date()) }

    func createAdminToken() throws -> String {
        let token = Secrets.token(prefix: "opa_")
        try pool.write { db in
            try db.execute(sql: "INSERT INTO admin_tokens (token_hash, created_at) VALUES (?, ?)", arguments: [Secrets.hash(token), Self.now])
        }
        return token
    }

    func isAdmin(token: String) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM admin_tokens WHERE token_hash = ?", arguments: [Secrets.hash(token)]) ?? false
        }
    }

    func addUser(_ user: UserInfo) throws {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [user.name]) == nil else {
                throw WireError(code: "user-exists", message: "A user named \(user.name) already exists.")
            }
            try db.execute(sql: "INSERT INTO users (name, role, scope, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [user.name, user.role, user.scope, Self.now])
        }
    }

    func users() throws -> [UserInfo] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, role, scope FROM users ORDER BY name").map {
                UserInfo(name: $0["name"], role: $0["role"], scope: $0["scope"])
            }
        }
    }

    /// A new one-time code for `user`, valid for `days`.
    func createEnrollmentCode(user: String, days: Double = 7) throws -> String {
        let code = Secrets.enrollmentCode()
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [user]) != nil else {
                throw WireError(code: "unknown-user", message: "There is no user named \(user); add one with `outpost-admin users add`.")
            }
            try db.execute(sql: "INSERT INTO enrollment_codes (code_hash, user, created_at, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [Secrets.hash(Secrets.normalizeCode(code)), user, Self.now, Date().timeIntervalSince1970 + days * 86_400])
        }
        return code
    }

    /// Spends a code: creates the device and returns its token and user.
    func enroll(code: String, device: String, replica: String) throws -> (token: String, device: String, user: UserInfo) {
        let token = Secrets.token(prefix: "opd_")
        return try pool.write { db in
            let hash = Secrets.hash(Secrets.normalizeCode(code))
            guard let row = try Row.fetchOne(db, sql: "SELECT user, expires_at, used FROM enrollment_codes WHERE code_hash = ?", arguments: [hash]),
                  !(row["used"] as Bool), (row["expires_at"] as Double) > Date().timeIntervalSince1970
            else {
                throw WireError(code: "invalid-code", message: "This enrollment code is unknown, used or expired; ask an admin for a new one (`outpost-admin devices enroll USER`).")
            }
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE replica = ?", arguments: [replica]) == nil else {
                throw WireError(code: "replica-taken", message: "Replica \(replica) is already enrolled; enroll a new replica folder.")
            }
            let userName: String = row["user"]
            let user = try Row.fetchOne(db, sql: "SELECT name, role, scope FROM users WHERE name = ?", arguments: [userName]).map {
                UserInfo(name: $0["name"], role: $0["role"], scope: $0["scope"])
            }!
            let id = "dev-" + String(Secrets.token(prefix: "").prefix(12))
            try db.execute(sql: "UPDATE enrollment_codes SET used = 1 WHERE code_hash = ?", arguments: [hash])
            try db.execute(sql: "INSERT INTO devices (id, user, name, replica, token_hash, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [id, userName, device, replica, Secrets.hash(token), Self.now])
            return (token, id, user)
        }
    }

    func device(token: String) throws -> AuthenticatedDevice? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, user, replica FROM devices WHERE token_hash = ? AND revoked = 0", arguments: [Secrets.hash(token)]).map {
                AuthenticatedDevice(id: $0["id"], user: $0["user"], replica: $0["replica"])
            }
        }
    }

    func devices() throws -> [DeviceInfo] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM devices ORDER BY user, enrolled_at").map {
                DeviceInfo(id: $0["id"], user: $0["user"], name: $0["name"], replica: $0["replica"],
                           enrolledAt: $0["enrolled_at"], lastSeen: $0["last_seen"], revoked: $0["revoked"])
            }
        }
    }

    func recordHello(device: String, counter: UInt64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE devices SET declared_counter = ?, last_seen = ? WHERE id = ?", arguments: [counter, Self.now, device])
        }
    }

    func declaredCounter(device: String) throws -> UInt64 {
        try pool.read { db in try UInt64.fetchOne(db, sql: "SELECT declared_counter FROM devices WHERE id = ?", arguments: [device]) ?? 0 }
    }
}
