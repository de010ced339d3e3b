import Foundation
import GRDB
import OutpostWire

/// Identities that travel the branch tree: users flow down from head office, devices both ways,
/// so that a device's token works at every server of its tree.
extension AccessDatabase {
    /// A fingerprint of the users and devices held here; it changes when any is added or revoked.
    func directoryVersion() throws -> String {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM users) AS u, (SELECT group_concat(role || scope, '') FROM users) AS r,
                       (SELECT count(*) FROM devices) AS d, (SELECT count(*) FROM devices WHERE revoked <> 0) AS x,
                       (SELECT count(*) FROM replicas) AS p, (SELECT count(*) FROM replicas WHERE last_seen IS NOT NULL) AS s
                """)!
            let roles: String = row["r"] ?? ""
            return "\(row["u"] as Int).\(row["d"] as Int).\(row["x"] as Int).\(row["p"] as Int).\(row["s"] as Int).\(Secrets.hash(roles).prefix(8))"
        }
    }

    /// Devices to tell a neighbour: every one not learned from `neighbour` (nil: every one).
    func directoryDevices(notFrom neighbour: String?) throws -> [DirectoryDevice] {
        try pool.read { db in
            let replicas = try Row.fetchAll(db, sql: "SELECT id, device, forked_from, fork_map FROM replicas ORDER BY created_at, id")
            var byDevice: [String: [DirectoryReplica]] = [:]
            for row in replicas {
                byDevice[row["device"], default: []].append(DirectoryReplica(id: row["id"], forkedFrom: row["forked_from"], forkMap: row["fork_map"]))
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM devices WHERE source IS NOT ? ORDER BY enrolled_at, id", arguments: [neighbour]).map {
                DirectoryDevice(id: $0["id"], user: $0["user"], name: $0["name"], replica: $0["replica"], tokenHash: $0["token_hash"],
                                enrolledAt: $0["enrolled_at"], revoked: $0["revoked"], replicas: byDevice[$0["id"] as String] ?? [])
            }
        }
    }

    /// Replica ids whose writes this server relays to its parent: those that synced here and
    /// those a child branch relays here.
    func relayedReplicas() throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM replicas WHERE last_seen IS NOT NULL UNION SELECT replica FROM relays ORDER BY 1")
        }
    }

    /// Takes in what a neighbour told: its users (from the parent only), and its devices with
    /// their replicas, all marked as learned from `neighbour`. From a child branch, each of
    /// those replicas, and each one in `sessions`, may be relayed by that branch.
    ///
    /// A device's token hash, user and enrolled replica never change once known; a revocation
    /// sticks; replicas are only ever added. A neighbour cannot take over a device made here.
    func importDirectory(users: [UserInfo]?, devices: [DirectoryDevice], sessions: [String], from neighbour: String,
                         childBranch: Bool) throws {
        try pool.write { db in
            for user in users ?? [] {
                try db.execute(sql: """
                    INSERT INTO users (name, role, scope, created_at, source) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET role = excluded.role, scope = excluded.scope WHERE users.source IS NOT NULL
                    """, arguments: [user.name, user.role, user.scope, Self.now, neighbour])
            }
            for device in devices {
                // Users are made at head office only: a device of a user unknown here is ahead of
                // the user's arrival (or hostile), and is taken in at a later exchange.
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [device.user]) != nil else { continue }
                if let existing = try Row.fetchOne(db, sql: "SELECT token_hash, source FROM devices WHERE id = ?", arguments: [device.id]) {
                    guard existing["token_hash"] as String == device.tokenHash else { continue }
                    if device.revoked { try db.execute(sql: "UPDATE devices SET revoked = 1 WHERE id = ?", arguments: [device.id]) }
                } else {
                    guard try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE replica = ? OR token_hash = ?",
                                            arguments: [device.replica, device.tokenHash]) == nil else { continue }
                    try db.execute(sql: """
                        INSERT INTO devices (id, user, name, replica, token_hash, enrolled_at, revoked, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [device.id, device.user, device.name, device.replica, device.tokenHash, device.enrolledAt, device.revoked, neighbour])
                }
                for replica in device.replicas {
                    try db.execute(sql: """
                        INSERT INTO replicas (id, device, forked_from, fork_map, created_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET forked_from = coalesce(replicas.forked_from, excluded.forked_from),
                            fork_map = coalesce(replicas.fork_map, excluded.fork_map) WHERE replicas.device = excluded.device
                        """, arguments: [replica.id, device.id, replica.forkedFrom, replica.forkMap, Self.now])
                    if childBranch {
                        try db.execute(sql: "INSERT OR IGNORE INTO relays (replica, via) VALUES (?, ?)", arguments: [replica.id, neighbour])
                    }
                }
            }
            if childBranch {
                for id in sessions {
                    try db.execute(sql: "INSERT OR IGNORE INTO relays (replica, via) SELECT id, ? FROM replicas WHERE id = ?", arguments: [neighbour, id])
                }
            }
        }
    }

    /// The replicas whose writes the branch writing as `via` may push.
    func relayable(via: String) throws -> Set<String> {
        try pool.read { db in Set(try String.fetchAll(db, sql: "SELECT replica FROM relays WHERE via = ?", arguments: [via])) }
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
}
