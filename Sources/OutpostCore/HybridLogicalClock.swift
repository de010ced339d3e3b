/// A hybrid logical clock reading: wall milliseconds since 1970 (UTC) and a logical counter.
///
/// Ordered by wall time, then by the logical counter. Written on the wire as `"wall:logical"`.
public struct HLCTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z, as the clock that produced it believed.
    public let wallMillis: UInt64
    /// Breaks ties between events in the same millisecond and carries causality past a slow wall clock.
    public let logical: UInt32

    /// Creates a timestamp.
    public init(wallMillis: UInt64, logical: UInt32 = 0) {
        self.wallMillis = wallMillis
        self.logical = logical
    }

    /// Parses `"wall:logical"`.
    public init(parsing text: String) throws(CoreError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let wall = UInt64(parts[0]), let logical = UInt32(parts[1]) else {
            throw CoreError.malformed("HLC timestamp", text)
        }
        self.init(wallMillis: wall, logical: logical)
    }

    /// The zero timestamp, before every real event.
    public static let zero = HLCTimestamp(wallMillis: 0)

    public static func < (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool {
        (lhs.wallMillis, lhs.logical) < (rhs.wallMillis, rhs.logical)
    }

    public var description: String { "\(wallMillis):\(logical)" }
}

/// A hybrid logical clock (Kulkarni et al.): timestamps that follow the wall clock, never go
/// back, and are always greater than every timestamp this replica has observed.
///
/// The clock never reads the wall clock itself: callers pass `wallMillis`, so tests and
/// replays are deterministic.
///
/// - warning: A remote timestamp more than `maxDriftMillis` ahead of the local wall clock is
///   refused (``observe(_:wallMillis:)`` throws) rather than adopted. Adopting it would drag every
///   later local write into the future and let one laptop with a wrong clock win every `lww`
///   merge for as long as the skew lasts. The refused change is kept by its sender, which is told why.
public struct HybridLogicalClock: Sendable {
    /// The latest timestamp issued or observed.
    public private(set) var last: HLCTimestamp
    /// How far ahead of the local wall clock a remote timestamp may be (default 5 minutes).
    public let maxDriftMillis: UInt64

    /// Creates a clock that resumes after `last` (persist `last` to keep monotonicity across restarts).
    public init(last: HLCTimestamp = .zero, maxDriftMillis: UInt64 = 5 * 60 * 1000) {
        self.last = last
        self.maxDriftMillis = maxDriftMillis
    }

    /// A timestamp for a local write or a message about to be sent.
    public mutating func tick(wallMillis: UInt64) -> HLCTimestamp {
        if wallMillis > last.wallMillis {
            last = HLCTimestamp(wallMillis: wallMillis)
        } else {
            last = Self.successor(of: last)
        }
        return last
    }

    /// Takes a remote timestamp into account so that later local timestamps are greater than it.
    ///
    /// Throws ``CoreError/remoteClockTooFarAhead(remote:limitMillis:)`` when `remote` is more
    /// than `maxDriftMillis` ahead of `wallMillis`; the clock is then left unchanged.
    @discardableResult
    public mutating func observe(_ remote: HLCTimestamp, wallMillis: UInt64) throws(CoreError) -> HLCTimestamp {
        let (limit, overflow) = wallMillis.addingReportingOverflow(maxDriftMillis)
        if !overflow && remote.wallMillis > limit {
            throw CoreError.remoteClockTooFarAhead(remote: remote, limitMillis: maxDriftMillis)
        }
        let wall = max(wallMillis, last.wallMillis, remote.wallMillis)
        if wall == last.wallMillis && wall == remote.wallMillis {
            last = Self.successor(of: HLCTimestamp(wallMillis: wall, logical: max(last.logical, remote.logical)))
        } else if wall == last.wallMillis {
            last = Self.successor(of: last)
        } else if wall == remote.wallMillis {
            last = Self.successor(of: remote)
        } else {
            last = HLCTimestamp(wallMillis: wall)
        }
        return last
    }

    /// The next timestamp after `t`; a full logical counter spills into the next millisecond.
    static func successor(of t: HLCTimestamp) -> HLCTimestamp {
        t.logical == UInt32.max
            ? HLCTimestamp(wallMillis: t.wallMillis + 1, logical: 0)
            : HLCTimestamp(wallMillis: t.wallMillis, logical: t.logical + 1)
    }
}
