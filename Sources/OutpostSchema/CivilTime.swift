/// Conversions between UTC calendar time and milliseconds since 1970, without time-zone databases.
///
/// Days from civil date follow Howard Hinnant's public-domain algorithm.
public enum CivilTime {
    /// Days since 1970-01-01 for a proleptic Gregorian date.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    public static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `2026-11-24T09:30:00.000Z` for a millisecond timestamp.
    /// Outside the years 0000 to 9999 (never accepted as a value) the nearest of those is shown.
    public static func iso8601(millis: Int64) -> String {
        let ms = Int(min(max(millis, earliest), latest + 86_400_000))
        let dayCount = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let rest = ms - dayCount * 86_400_000
        let (y, m, d) = civil(days: dayCount)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let millisPart = rest % 1000
        let msText = millisPart < 10 ? "00\(millisPart)" : millisPart < 100 ? "0\(millisPart)" : "\(millisPart)"
        let year = String(y)
        return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)-\(two(m))-\(two(d))T\(two(rest / 3_600_000)):\(two(rest / 60_000 % 60)):\(two(rest / 1000 % 60)).\(msText)Z"
    }

    /// The first and last millisecond of the years 0000 to 9999 (UTC).
    public static let earliest: Int64 = -62_167_219_200_000, latest: Int64 = 253_402_300_799_999

    /// Whether a timestamp falls in the years 0000 to 9999, the times Outpost writes and shows.
    public static func representable(_ millis: Int64) -> Bool { millis >= earliest && millis <= latest }

    /// `YYYY-MM-DD` of a millisecond timestamp (UTC).
    public static func date(millis: Int64) -> String { String(iso8601(millis: millis).prefix(10)) }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`, or ISO 8601 `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`
    /// or `±HH:MM`; a time without a zone is UTC. Returns nil when the text is not such a time.
    public static func parseMillis(_ text: String) -> Int64? {
        guard let (millis, offset) = parseWallClock(text) else { return nil }
        return millis - (offset ?? 0)
    }

    /// Parses a time as `parseMillis` does, giving the wall-clock reading (milliseconds as if
    /// it were UTC) and the offset it names in milliseconds east of UTC, or nil when it names
    /// none (the reader's zone then decides: `LocalZone`).
    public static func parseWallClock(_ text: String) -> (wallMillis: Int64, offset: Int64?)? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var n = 0
            for i in from..<(from + len) {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                n = n * 10 + Int(b[i] - 0x30)
            }
            return n
        }
        guard b.count >= 10, b[4] == 0x2D, b[7] == 0x2D, let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var millis = Int64(days(year: y, month: mo, day: d)) * 86_400_000
        if b.count == 10 { return (millis, nil) }
        guard b[10] == 0x54 || b[10] == 0x20, let h = num(11, 2), b.count >= 16, b[13] == 0x3A, let mi = num(14, 2),
              h < 24, mi < 60 else { return nil }
        millis += Int64(h * 3_600_000 + mi * 60_000)
        var i = 16
        if i < b.count, b[i] == 0x3A {
            guard let s = num(i + 1, 2), s < 60 else { return nil }
            millis += Int64(s * 1000)
            i += 3
            if i < b.count, b[i] == 0x2E {
                var digits = 0, frac = 0
                i += 1
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                    if digits < 3 { frac = frac * 10 + Int(b[i] - 0x30); digits += 1 }
                    i += 1
                }
                guard digits > 0 else { return nil }
                while digits < 3 { frac *= 10; digits += 1 }
                millis += Int64(frac)
            }
        }
        if i == b.count { return (millis, nil) }
        if b[i] == 0x5A, i + 1 == b.count { return (millis, 0) }
        guard b[i] == 0x2B || b[i] == 0x2D, i + 6 == b.count, let oh = num(i + 1, 2), b[i + 3] == 0x3A, let om = num(i + 4, 2) else {
            return nil
        }
        let offset = Int64(oh * 3_600_000 + om * 60_000)
        return (millis, b[i] == 0x2B ? offset : -offset)
    }
}
