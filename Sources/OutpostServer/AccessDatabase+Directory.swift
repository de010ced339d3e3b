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
                SELECT (SELECT count(*) FROM users) AS u, (SELECT group_concat(role || scope || channel || coalesce(time_zone, ''), '') FROM users) AS r,
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
            // `IS NOT NULL` would leave out the devices made here: without a neighbour, every device.
            return try Row.fetchAll(db, sql: "SELECT * FROM devices WHERE ?1 IS NULL OR source IS NOT ?1 ORDER BY enrolled_at, id", arguments: [neighbour]).map {
                DirectoryDevice(id: $0["id"], user: $0["user"], name: $0["name"], replica: $0["replica"], tokenHash: $0["token_hash"],
                                enrolledAt: $0["enrolled_at"], revoked: $0["revoked"], replicas: byDevice[$0["id"] as String] ?? [])
            }
        }
    }

    /// Replica ids whose writes this server relays to its parent (`parent`): those of the
    /// devices enrolled here or beneath it, and those of devices enrolled elsewhere that synced
    /// here (a rep of head office during a trip; the parent takes them if it agrees).
    func relayedReplicas(parent: String?) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT r.id FROM replicas r JOIN devices d ON d.id = r.device
                WHERE ?1 IS NULL OR d.source IS NOT ?1 OR r.last_seen IS NOT NULL ORDER BY r.id
                """, arguments: [parent])
        }
    }

    /// Replica ids of devices learned from `parent` that synced here: the branch tells the parent, which lets it relay them.
    func visitingReplicas(parent: String?) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT r.id FROM replicas r JOIN devices d ON d.id = r.device WHERE d.source IS ? AND r.last_seen IS NOT NULL ORDER BY r.id
                """, arguments: [parent])
        }
    }

    /// Every replica id `device` writes under (a branch that healed a copied data folder has two).
    func replicaIDs(ofDevice device: String) throws -> Set<String> {
        try pool.read { db in Set(try String.fetchAll(db, sql: "SELECT id FROM replicas WHERE device = ?", arguments: [device])) }
    }

    /// Roles whose devices a child branch may enroll and report: the people who sync at an
    /// office. An admin's or a branch's device is enrolled at head office only.
    static let rolesEnrolledAtBranches: Set<String> = ["rep", "manager"]

    /// Takes in what a neighbour told: its users (from the parent only), and its devices with
    /// their replicas, devices new here marked as learned from `neighbour`.
    ///
    /// The parent is the authority: its users, revocations and replica ids are taken in for
    /// every device. A child branch is believed only about its own subtree: devices of reps and
    /// managers it enrolled (new here, or learned from it before, under any of its replica ids
    /// `neighbourIDs`), their revocations and their replica ids, which it may relay from then
    /// on; and, of the replicas of reps and managers enrolled elsewhere, that they synced with
    /// it (`visiting`: it relays their writes too, so its own reps' writes that build on them
    /// are not held back). A device's token hash, user and enrolled replica never change once
    /// known; a revocation sticks; replica ids are only ever added, and only to the device that
    /// owns them.
    func importDirectory(users: [UserInfo]?, devices: [DirectoryDevice], visiting: [String] = [], from neighbour: String,
                         neighbourIDs: Set<String> = [], childBranch: Bool) throws {
        try pool.write { db in
            for user in users ?? [] {
                try db.execute(sql: """
                    INSERT INTO users (name, role, scope, created_at, source, channel, time_zone) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET role = excluded.role, scope = excluded.scope, channel = excluded.channel,
                        time_zone = excluded.time_zone
                    WHERE users.source IS NOT NULL
                    """, arguments: [user.name, user.role, user.scope, Self.now, neighbour, user.channel ?? "both", user.timeZone])
            }
            for device in devices {
                // Users are made at head office only: a device of a user unknown here is ahead of
                // the user's arrival (or hostile), and is taken in at a later exchange.
                guard let role = try String.fetchOne(db, sql: "SELECT role FROM users WHERE name = ?", arguments: [device.user]) else { continue }
                if let existing = try Row.fetchOne(db, sql: "SELECT token_hash, source, user, replica FROM devices WHERE id = ?", arguments: [device.id]) {
                    guard existing["token_hash"] as String == device.tokenHash, existing["user"] as String == device.user,
                          existing["replica"] as String == device.replica else { continue }
                    if childBranch && !(neighbourIDs.union([neighbour])).contains(existing["source"] as String? ?? "") { continue }
                } else {
                    if childBranch && !Self.rolesEnrolledAtBranches.contains(role) { continue }
                    guard try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE replica = ? OR token_hash = ?",
                                            arguments: [device.replica, device.tokenHash]) == nil else { continue }
                    try db.execute(sql: """
                        INSERT INTO devices (id, user, name, replica, token_hash, enrolled_at, revoked, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [device.id, device.user, device.name, device.replica, device.tokenHash, device.enrolledAt, device.revoked, neighbour])
                }
                if device.revoked { try db.execute(sql: "UPDATE devices SET revoked = 1 WHERE id = ?", arguments: [device.id]) }
                for replica in device.replicas {
                    try db.execute(sql: """
                        INSERT INTO replicas (id, device, forked_from, fork_map, created_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET forked_from = coalesce(replicas.forked_from, excluded.forked_from),
                            fork_map = coalesce(replicas.fork_map, excluded.fork_map) WHERE replicas.device = excluded.device
                        """, arguments: [replica.id, device.id, replica.forkedFrom, replica.forkMap, Self.now])
                    guard childBranch, try String.fetchOne(db, sql: "SELECT device FROM replicas WHERE id = ?", arguments: [replica.id]) == device.id else { continue }
                    try db.execute(sql: "INSERT OR IGNORE INTO relays (replica, via) VALUES (?, ?)", arguments: [replica.id, neighbour])
                }
            }
            guard childBranch else { return }
            let roles = Self.rolesEnrolledAtBranches.sorted()
            for id in visiting {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO relays (replica, via)
                    SELECT r.id, ? FROM replicas r JOIN devices d ON d.id = r.device JOIN users u ON u.name = d.user
                    WHERE r.id = ? AND u.role IN (?, ?) AND d.revoked = 0
                    """, arguments: [neighbour, id, roles[0], roles[1]])
            }
        }
    }

    /// The replicas whose writes the branch device `device` may push (under any of its replica ids).
    func relayable(device: String) throws -> Set<String> {
        try pool.read { db in
            Set(try String.fetchAll(db, sql: "SELECT replica FROM relays WHERE via IN (SELECT id FROM replicas WHERE device = ?)", arguments: [device]))
        }
    }

    /// For each replica of a device enrolled beneath a child branch, that branch's user name
    /// (the device's home branch, whatever server it synced with since); for a branch server's
    /// own replicas, its own name. Replicas of devices enrolled here are absent.
    func replicaBranches() throws -> [String: String] {
        try pool.read { db in
            var branches: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT r.id AS replica, b.user AS branch FROM replicas r JOIN devices d ON d.id = r.device
                    JOIN replicas v ON v.id = d.source JOIN devices b ON b.id = v.device
                UNION ALL
                SELECT r.id, d.user FROM replicas r JOIN devices d ON d.id = r.device JOIN users u ON u.name = d.user WHERE u.role = 'branch'
                """) {
                branches[row["replica"]] = row["branch"]
            }
            return branches
        }
    }

    /// For each replica id known here, the user of its device.
    func replicaUsers() throws -> [String: String] {
        try pool.read { db in
            var users: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT r.id, d.user FROM replicas r JOIN devices d ON d.id = r.device") { users[row[0]] = row[1] }
            for row in try Row.fetchAll(db, sql: "SELECT replica, user FROM devices") where users[row[0] as String] == nil { users[row[0]] = row[1] }
            return users
        }
    }

    /// The users of the devices enrolled beneath a branch device (reported by its directory
    /// exchanges), not of the devices that merely visited it: what the branch receives is
    /// their scopes, and a visit must not widen it.
    func usersEnrolledBeneath(device: String) throws -> Set<String> {
        try pool.read { db in
            Set(try String.fetchAll(db, sql: """
                SELECT DISTINCT d.user FROM devices d WHERE d.source IN (SELECT id FROM replicas WHERE device = ?)
                """, arguments: [device]))
        }
    }
}
