import Foundation
import GRDB
import OutpostCore

extension Replica {
    /// The feed position before the first write a branch's parent lacks: the earliest write of
    /// a relayed replica above what the parent acknowledged of it (everything after the end of
    /// the feed when it lacks nothing).
    public func relayStart(relaying: [String], acknowledged: [String: UInt64]) throws -> Int64 {
        try read { db in
            var start = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outpost_feed") ?? 0
            let statement = try db.cachedStatement(sql: "SELECT min(seq) FROM outpost_feed WHERE replica = ? AND counter > ?")
            for id in relaying {
                if let seq = try Int64.fetchOne(statement, arguments: [id, acknowledged[id] ?? 0]) { start = min(start, seq - 1) }
            }
            return max(0, start)
        }
    }

    /// The next writes a branch relays to its parent after feed position `after`: those of the
    /// `relaying` replicas not covered by `acknowledged` (whichever path they came by: a parent
    /// restored from a backup gets again the writes it lost), and whose replica is not
    /// `blocked`, in feed order. A write this branch
    /// refused sits in no feed; it is sent in its place (before the next write of its replica),
    /// so that the parent, which takes each replica's writes in counter order, does not wait
    /// for it forever and keeps it too.
    ///
    /// Returns at most `limit` changes and the last feed position looked at (`Int64.max` once
    /// the refusals after the end of the feed were included); no changes means the parent
    /// lacks nothing more.
    public func relayPage(after: Int64, relaying: Set<String>, acknowledged: [String: UInt64], blocked: Set<String>,
                          limit: Int, byteLimit: Int = .max) throws -> (changes: [Change], through: Int64) {
        try read { db in
            var sent = acknowledged
            var changes: [Change] = []
            var bytes = 0
            var through = after
            let refused = try db.cachedStatement(sql: """
                SELECT change FROM outpost_rejected WHERE origin = ?1 AND replica = ?1 AND counter > ? AND counter < ? ORDER BY counter
                """)
            while changes.count < limit {
                let rows = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT seq, replica, counter, change FROM outpost_feed WHERE seq > ? ORDER BY seq LIMIT ?
                    """), arguments: [through, limit])
                guard !rows.isEmpty else {
                    // The end of the feed: refused writes after a replica's last applied one
                    // go once per session (the position after them is past every feed entry).
                    guard through != Int64.max else { break }
                    var tail: [Change] = []
                    let after = try db.cachedStatement(sql: "SELECT change FROM outpost_rejected WHERE origin = ?1 AND replica = ?1 AND counter > ? ORDER BY counter")
                    for replica in relaying.sorted() where !blocked.contains(replica) {
                        tail += try Data.fetchAll(after, arguments: [replica, sent[replica] ?? 0]).map { try BinaryCodec.decodeChange([UInt8]($0)) }
                    }
                    if tail.isEmpty || (!changes.isEmpty && changes.count + tail.count > limit) { break }
                    return (changes + tail.prefix(limit), Int64.max)
                }
                for row in rows {
                    let replica: String = row["replica"], counter: UInt64 = row["counter"]
                    guard relaying.contains(replica), !blocked.contains(replica), counter > sent[replica] ?? 0 else {
                        through = row["seq"]
                        continue
                    }
                    let last = sent[replica] ?? 0
                    if counter > last + 1 {
                        let gap = try Data.fetchAll(refused, arguments: [replica, last, counter]).map { try BinaryCodec.decodeChange([UInt8]($0)) }
                        if changes.count + gap.count + 1 > limit {
                            // The page would be too large: send what fits of the gap, and this
                            // write (position unchanged) in the next page.
                            return (changes.isEmpty ? Array(gap.prefix(limit)) : changes, through)
                        }
                        changes += gap
                    }
                    let change = try BinaryCodec.decodeChange([UInt8](row["change"] as Data))
                    // Bounded by the bytes the page will be: this write starts the next page
                    // (one larger than the bound goes alone).
                    let size = change.json.canonicalSize + 1
                    if !changes.isEmpty && bytes + size > byteLimit { return (changes, through) }
                    bytes += size
                    changes.append(change)
                    sent[replica] = counter
                    through = row["seq"]
                    if changes.count >= limit { break }
                }
            }
            return (changes, through)
        }
    }

    /// How many writes a branch still has to relay to its parent, given what the parent
    /// acknowledged of each relayed replica (for status; counts the feed, not refusals).
    public func relayBacklog(relaying: [String], acknowledged: [String: UInt64]) throws -> Int {
        try read { db in
            let statement = try db.cachedStatement(sql: "SELECT count(*) FROM outpost_feed WHERE replica = ? AND counter > ?")
            return try relaying.reduce(0) { $0 + (try Int.fetchOne(statement, arguments: [$1, acknowledged[$1] ?? 0]) ?? 0) }
        }
    }
}
