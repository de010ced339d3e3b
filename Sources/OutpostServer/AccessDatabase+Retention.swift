import Foundation
import GRDB
import OutpostWire

/// What retention needs from the access database: each replica's pull position, expiry.
extension AccessDatabase {
    /// Days of silence before a device is expired, unless an admin set another.
    static let defaultExpiryDays = 90

    func expireAfterDays() throws -> Int {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'expire_after_days'").flatMap(Int.init) ?? Self.defaultExpiryDays
        }
    }

    func setExpireAfterDays(_ days: Int) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO settings (key, value) VALUES ('expire_after_days', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           arguments: [String(days)])
        }
    }

    /// Keeps what a hello says about a device and its replica: how far the device's clock is
    /// off (to the minute; nil within a minute), where the replica starts, and, for one at or
    /// after the purge's position, that it is active again. One read, and a write only when
    /// something changed (a write costs a disk sync; most hellos change nothing here).
    func noteHello(device: String, replica: String, cursor: Int64, skewMillis: Int64?, active: Bool) throws {
        let skew = skewMillis.flatMap { $0 / 60_000 == 0 ? nil : $0 / 60_000 * 60_000 }
        let stored = try pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT d.clock_skew_ms, r.cursor, r.expired_at FROM replicas r JOIN devices d ON d.id = r.device WHERE r.id = ? AND d.id = ?
                """, arguments: [replica, device])
        }
        guard let stored else { return }
        let newSkew = skewMillis == nil ? stored["clock_skew_ms"] as Int64? : skew
        let unexpire = active && (stored["expired_at"] as String?) != nil
        guard newSkew != stored["clock_skew_ms"] as Int64? || cursor != stored["cursor"] as Int64? || unexpire else { return }
        try pool.write { db in
            try db.execute(sql: "UPDATE devices SET clock_skew_ms = ? WHERE id = ?", arguments: [newSkew, device])
            try db.execute(sql: "UPDATE replicas SET cursor = ?, expired_at = CASE WHEN ? THEN NULL ELSE expired_at END WHERE id = ?",
                           arguments: [cursor, unexpire, replica])
        }
    }

    /// Every replica silent since before `cutoff` (ISO 8601) is expired (marked so with
    /// `marking`; a dry run only counts it); returns the active ones (synced at least once, not
    /// expired, device not revoked) with their positions, and the expired ones. A branch never
    /// expires: it cannot start again from a copy, so it holds the mark until an admin revokes it.
    func retentionReplicas(cutoff: String, marking: Bool) throws -> (active: [(lag: ReplicaLag, cursor: Int64)], expired: [ReplicaLag]) {
        try pool.write { db in
            let branches = "SELECT name FROM users WHERE role = 'branch'"
            if marking {
                try db.execute(sql: """
                    UPDATE replicas SET expired_at = ? WHERE expired_at IS NULL AND last_seen IS NOT NULL AND last_seen < ?
                        AND device NOT IN (SELECT id FROM devices WHERE user IN (\(branches)))
                    """, arguments: [ISO8601DateFormatter().string(from: Date()), cutoff])
            }
            var active: [(ReplicaLag, Int64)] = []
            var expired: [ReplicaLag] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT r.id, d.user, r.last_seen, r.cursor, r.expired_at, d.user IN (\(branches)) AS branch
                FROM replicas r JOIN devices d ON d.id = r.device
                WHERE r.last_seen IS NOT NULL AND d.revoked = 0 ORDER BY r.cursor, r.id
                """) {
                let lag = ReplicaLag(replica: row["id"], user: row["user"], lastSeen: row["last_seen"], pendingUp: 0)
                let silent = !(row["branch"] as Bool) && (row["last_seen"] as String) < cutoff
                if (row["expired_at"] as String?) != nil || silent { expired.append(lag) } else { active.append((lag, row["cursor"] ?? 0)) }
            }
            return (active, expired)
        }
    }
}
