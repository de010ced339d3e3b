/// A length of time for people: "3 days 2 hours" in sentences, "3d 2h" in table cells.
public enum TimeSpan {
    /// The two largest units of `millis` (at least one minute), in words.
    public static func words(_ millis: Int64) -> String {
        let (days, hours, minutes) = parts(millis)
        func unit(_ n: Int64, _ name: String) -> String { "\(n) \(name)\(n == 1 ? "" : "s")" }
        if days > 0 { return unit(days, "day") + (hours > 0 ? " " + unit(hours, "hour") : "") }
        if hours > 0 { return unit(hours, "hour") + (minutes > 0 ? " " + unit(minutes, "minute") : "") }
        return unit(max(1, minutes), "minute")
    }

    /// The same, short.
    public static func short(_ millis: Int64) -> String {
        let (days, hours, minutes) = parts(millis)
        return days > 0 ? "\(days)d \(hours)h" : hours > 0 ? "\(hours)h \(minutes)m" : "\(minutes)m"
    }

    private static func parts(_ millis: Int64) -> (days: Int64, hours: Int64, minutes: Int64) {
        let minutes = abs(millis) / 60_000
        return (minutes / 1_440, minutes / 60 % 24, minutes % 60)
    }
}
