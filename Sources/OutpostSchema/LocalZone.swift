import Foundation

/// The time zone a person types and reads times in (`protocol/schema.md`, "Times and zones").
///
/// Times are stored as instants (UTC milliseconds). A time typed without a zone is read as the
/// wall clock of this zone; times are shown back in it. Dates have no zone: they stay the day
/// that was typed.
public struct LocalZone: Sendable, Equatable {
    /// The zone.
    public let zone: TimeZone

    /// Coordinated Universal Time: what a server, a script without a zone and the tests use.
    public static let utc = LocalZone(TimeZone(identifier: "UTC")!)

    /// A zone.
    public init(_ zone: TimeZone) { self.zone = zone }

    /// The zone of an IANA name (`Asia/Almaty`), or nil when there is none of that name.
    public init?(identifier: String) {
        guard !identifier.isEmpty, let zone = TimeZone(identifier: identifier) else { return nil }
        self.zone = zone
    }

    /// The zone's name (`Asia/Almaty`).
    public var identifier: String { zone.identifier }

    /// Milliseconds east of UTC at `instant`; zero outside the years 0000 to 9999 (no
    /// value there is kept: such an instant is shown in UTC rather than overflow).
    public func offset(at instant: Int64) -> Int64 {
        guard CivilTime.representable(instant) else { return 0 }
        return Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant) / 1000))) * 1000
    }

    /// The instant a wall-clock reading of this zone stands for. A reading a clock change
    /// skipped is read with the offset before the change; one it repeated, as the earlier.
    public func instant(wallMillis: Int64) -> Int64 {
        guard CivilTime.representable(wallMillis) else { return wallMillis }
        let before = offset(at: wallMillis - 86_400_000)
        let after = offset(at: wallMillis + 86_400_000)
        // The offset in force at the instant the reading names under either offset.
        for candidate in [before, after] where offset(at: wallMillis - candidate) == candidate {
            return wallMillis - candidate
        }
        return wallMillis - before
    }

    /// Parses a time a person typed: one with `Z` or an offset is that instant; one without
    /// is this zone's wall clock; a date alone is the start of that day here.
    public func parseMillis(_ text: String) -> Int64? {
        guard let (wall, offset) = CivilTime.parseWallClock(text) else { return nil }
        if let offset { return wall - offset }
        return instant(wallMillis: wall)
    }

    /// The start of the day `date` (`YYYY-MM-DD`) here.
    public func startOfDay(_ date: String) -> Int64? {
        guard date.utf8.count == 10, let parsed = CivilTime.parseWallClock(date) else { return nil }
        return instant(wallMillis: parsed.wallMillis)
    }

    /// The last millisecond of the local day `instant` falls on.
    public func endOfDay(containing instant: Int64) -> Int64 {
        guard CivilTime.representable(instant) else { return instant }
        let wall = instant + offset(at: instant)
        let dayStart = wall - ((wall % 86_400_000) + 86_400_000) % 86_400_000
        return self.instant(wallMillis: dayStart + 86_400_000) - 1
    }

    /// The day (`YYYY-MM-DD`) that `instant` falls on here.
    public func day(of instant: Int64) -> String {
        CivilTime.date(millis: instant + offset(at: instant))
    }

    /// `2026-11-25 10:00` (seconds when there are any): how a time is shown to a person.
    public func display(_ instant: Int64) -> String {
        let wall = CivilTime.iso8601(millis: instant + offset(at: instant))
        let seconds = wall.dropFirst(16).prefix(3)
        let fraction = wall.dropFirst(20).prefix(3)
        let clock = wall.prefix(16).replacingOccurrences(of: "T", with: " ")
        if fraction != "000" { return clock + seconds + "." + fraction }
        return seconds == ":00" ? clock : clock + seconds
    }

    /// ISO 8601 with this zone's offset (`2026-11-25T10:00:00.000+05:00`; `Z` in UTC): an
    /// instant a script can read, in the reader's own time.
    public func iso8601(_ instant: Int64) -> String {
        let offset = offset(at: instant)
        // Local mean time before zones were standard (Almaty before 1924 was +05:07:48) has
        // seconds ISO 8601 offsets cannot say: such an instant is written in UTC.
        guard offset != 0, offset % 60_000 == 0 else { return CivilTime.iso8601(millis: instant) }
        let wall = CivilTime.iso8601(millis: instant + offset)
        let minutes = abs(offset) / 60_000
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return wall.dropLast() + (offset > 0 ? "+" : "-") + two(minutes / 60) + ":" + two(minutes % 60)
    }
}
