import OutpostTerminal

/// What a rep hears when the laptop's clock is wrong (`protocol/sync.md`, "Clocks").
enum ClockWarning {
    /// From this far apart the rep is told (below it, the correction is silent).
    static let threshold: Int64 = 60_000

    /// The warning for an offset (the server's time minus the laptop's), or nil.
    static func sentence(offset: Int64) -> String? {
        guard abs(offset) >= threshold else { return nil }
        let way = offset < 0 ? "ahead of" : "behind"
        return "This laptop's clock is \(TimeSpan.words(offset)) \(way) the server's. Outpost stamps your changes with the server's time meanwhile; set the laptop's date, time and time zone right."
    }
}
