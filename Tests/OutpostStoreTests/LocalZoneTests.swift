import OutpostCore
import OutpostSchema
import Testing

/// Times on a person's clock: typed and shown in their zone, stored as instants.
struct LocalZoneTests {
    let almaty = LocalZone(identifier: "Asia/Almaty")!

    @Test func aWallClockReadingIsTheInstantOfItsDay() throws {
        // Almaty moved from UTC+6 to UTC+5 on 2024-03-01: the offset of the day counts.
        #expect(almaty.parseMillis("2023-11-25 10:00") == CivilTime.parseMillis("2023-11-25T04:00Z"))
        #expect(almaty.parseMillis("2026-11-25 10:00") == CivilTime.parseMillis("2026-11-25T05:00Z"))
        #expect(almaty.parseMillis("2026-11-25T10:00Z") == CivilTime.parseMillis("2026-11-25T10:00Z"))
        #expect(almaty.display(try #require(CivilTime.parseMillis("2026-11-25T05:00Z"))) == "2026-11-25 10:00")
        #expect(almaty.iso8601(try #require(CivilTime.parseMillis("2026-11-25T05:00Z"))) == "2026-11-25T10:00:00.000+05:00")
        let instant = try #require(CivilTime.parseMillis("2026-11-25T18:59:59.999Z"))
        #expect(almaty.day(of: instant) == "2026-11-25")
        #expect(almaty.endOfDay(containing: instant) == instant)
        #expect(almaty.day(of: instant + 1) == "2026-11-26")
    }

    @Test func localMeanTimeIsWrittenInUTCAndReadsBackTheSame() throws {
        // Before 1924 Almaty kept +05:07:48, which an ISO 8601 offset cannot say.
        let old = try #require(CivilTime.parseMillis("1900-01-01T00:00Z"))
        let written = almaty.iso8601(old)
        #expect(written == "1900-01-01T00:00:00.000Z")
        #expect(almaty.parseMillis(written) == old)
    }

    @Test func timesNoFourDigitYearShowsAreNotWrittenHereAndShownWithoutTrapping() throws {
        let spec = try Schema.crm.collection("tasks")
        #expect(throws: SchemaError.self) { try spec.check(.timestamp(Int64.max), for: "due_at") }
        #expect(throws: SchemaError.self) { try spec.check(.timestamp(Int64.min), for: "due_at") }
        try spec.check(.timestamp(CivilTime.latest), for: "due_at")
        // Received from elsewhere they are kept (the merge protocol allows any instant), and shown.
        try spec.check(.timestamp(Int64.max), for: "due_at", strict: false)
        #expect(!almaty.display(Int64.max - 1).isEmpty && !almaty.iso8601(Int64.min + 1).isEmpty)
        #expect(almaty.endOfDay(containing: Int64.max) == Int64.max)
    }
}
