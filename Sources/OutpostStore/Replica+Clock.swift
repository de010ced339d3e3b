import Foundation
import GRDB
import OutpostCore
import Synchronization

/// A laptop whose clock is wrong: the wall clock this replica stamps with is the system's,
/// corrected by the offset to its server's clock learned at the last hello, and writes made
/// while the clock was far ahead are re-stamped before they go up (`protocol/sync.md`, "Clocks").
extension Replica {
    /// The wall clock in milliseconds, as this replica stamps and judges with: the system's
    /// plus ``clockOffset``.
    func wallClock() -> UInt64 {
        let offset = storedClockOffset.withLock { $0 }
        return UInt64(max(0, Int64(clamping: systemWallClock()) &+ offset))
    }

    /// The system's own clock, uncorrected (what a hello reports, so the server sees the skew).
    public func systemTime() -> UInt64 { systemWallClock() }

    /// The clock this replica stamps with: the system's corrected by ``clockOffset`` (a branch
    /// tells its reps this time, its parent's).
    public func correctedTime() -> UInt64 { wallClock() }

    /// Milliseconds added to the system clock (the server's time minus this laptop's, as of the
    /// last hello that found them more than ``offsetThreshold`` apart; 0 otherwise).
    public var clockOffset: Int64 { storedClockOffset.withLock { $0 } }

    /// Below this the clocks are taken to agree (network delay and jitter).
    public static let offsetThreshold: Int64 = 2_000

    /// Stores the offset to the server's clock; one under ``offsetThreshold`` is stored as 0.
    public func setClockOffset(_ millis: Int64) throws {
        let offset = abs(millis) < Self.offsetThreshold ? 0 : millis
        guard offset != clockOffset else { return }
        try write { db in
            try db.execute(sql: "INSERT INTO outpost_meta (key, value) VALUES ('clock_offset', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           arguments: [offset])
        }
        storedClockOffset.withLock { $0 = offset }
    }

    /// Re-stamps this replica's own writes that its server has not acknowledged and that are
    /// stamped beyond what the server accepts (its time plus the HLC's drift bound): written
    /// while this laptop's clock was far ahead, the server would hold them back until its own
    /// clock reached them, days or a year. Each takes, in order, a stamp at the bound (after the
    /// previous own write's), so it still comes after everything it had seen (nothing the server
    /// accepted is stamped beyond the bound) and wins no `lww` merge for longer than the drift.
    /// The records they touch are rebuilt, and the clock continues after the last stamp.
    ///
    /// Safe because no other replica holds these writes: the server refused them (`clock-ahead`)
    /// and a laptop pushes only to its server. Returns how many were re-stamped.
    @discardableResult
    public func restampAhead(acknowledged: UInt64, serverTime: UInt64) throws -> Int {
        let limit = serverTime &+ HybridLogicalClock().maxDriftMillis
        // Nothing was stamped beyond the bound if the clock never went there.
        guard try read({ db in try storedHLC(db) }).wallMillis > limit else { return 0 }
        return try write { db in
            let own = try Self.currentID(db)
            let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT seq, change FROM outpost_feed WHERE replica = ? AND counter > ? ORDER BY counter"),
                                        arguments: [own.rawValue, acknowledged])
            var changes: [Change] = []
            for row in rows {
                do { changes.append(try BinaryCodec.decodeChange([UInt8](row["change"] as Data))) } catch {
                    throw StoreError(.corrupt, "A change in the feed cannot be read (\(error)); nothing was changed.")
                }
            }
            guard let first = changes.firstIndex(where: { $0.hlc.wallMillis > limit }) else { return 0 }
            var stamp = HLCTimestamp(wallMillis: limit)
            if first > 0, changes[first - 1].hlc >= stamp { stamp = Self.after(changes[first - 1].hlc) }
            var stamps: [Dot: HLCTimestamp] = [:]
            for change in changes[first...] {
                stamps[change.dot] = stamp
                stamp = Self.after(stamp)
            }
            var touched: [(collection: String, id: String)] = []
            var seen = Set<[String]>()
            for (row, change) in zip(rows[first...], changes[first...]) {
                let restamped = try change.restamped(stamps)
                try db.execute(sql: "UPDATE outpost_feed SET change = ? WHERE seq = ?", arguments: [Data(BinaryCodec.encode(restamped)), row["seq"] as Int64])
                if seen.insert([change.collection, change.recordID]).inserted { touched.append((change.collection, change.recordID)) }
            }
            for record in touched { try rebuild(db, collection: record.collection, id: record.id) }
            let last = stamps[changes[changes.count - 1].dot]!
            try db.execute(sql: "UPDATE outpost_meta SET value = ? WHERE key = 'hlc'", arguments: [last.description])
            return changes.count - first
        }
    }

    private static func after(_ t: HLCTimestamp) -> HLCTimestamp {
        t.logical == UInt32.max ? HLCTimestamp(wallMillis: t.wallMillis + 1) : HLCTimestamp(wallMillis: t.wallMillis, logical: t.logical + 1)
    }
}
