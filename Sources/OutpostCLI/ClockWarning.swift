/// What a rep hears when the laptop's clock is wrong (`protocol/sync.md`, "Clocks").
enum ClockWarning {
    /// From this far apart the rep is told (below it, the correction is silent).
    static let threshold: Int64 = 60_000

    /// The warning for an offset (the server's time minus the laptop's), or nil.
    static func sentence(offset: Int64) -> String? {
        guard abs(offset) >= threshold else { return nil }
        let way = offset < 0 ? "ahead of" : "behind"
        return "This laptop's clock is \(span(abs(offset))) \(way) the server's. Outpost stamps your changes with the server's time meanwhile; set the laptop's date, time and time zone right."
    }

    /// "3 days 2 hours", "5 minutes".
    static func span(_ millis: Int64) -> String {
        let minutes = millis / 60_000, hours = minutes / 60, days = hours / 24
        func unit(_ n: Int64, _ name: String) -> String { "\(n) \(name)\(n == 1 ? "" : "s")" }
        if days > 0 { return unit(days, "day") + (hours % 24 > 0 ? " " + unit(hours % 24, "hour") : "") }
        if hours > 0 { return unit(hours, "hour") + (minutes % 60 > 0 ? " " + unit(minutes % 60, "minute") : "") }
        return unit(max(1, minutes), "minute")
    }
}
