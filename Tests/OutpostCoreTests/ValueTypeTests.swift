import OutpostCore
import Testing

struct VersionVectorTests {
    let a = try! ReplicaID("a"), b = try! ReplicaID("b")

    @Test func comparesInCausalOrder() {
        let v1 = VersionVector([a: 1])
        let v2 = VersionVector([a: 2])
        let v3 = VersionVector([a: 1, b: 1])
        let v4 = VersionVector([b: 3])
        #expect(v1.compare(v1) == .equal)
        #expect(v1.compare(v2) == .before)
        #expect(v2.compare(v1) == .after)
        #expect(v2.compare(v3) == .concurrent)
        #expect(v3.compare(v4) == .concurrent)
        #expect(VersionVector().compare(v1) == .before)
    }

    @Test func zerosAreNotStoredSoEqualMeansEqual() {
        #expect(VersionVector([a: 0, b: 2]) == VersionVector([b: 2]))
    }

    @Test func coversAndMerges() {
        let v = VersionVector([a: 3]).merged(with: VersionVector([a: 1, b: 2]))
        #expect(v == VersionVector([a: 3, b: 2]))
        #expect(v.covers(Dot(a, 3)))
        #expect(!v.covers(Dot(a, 4)))
        #expect(!v.covers(Dot(try! ReplicaID("c"), 1)))
    }
}

struct ReplicaIDTests {
    @Test(arguments: ["", "UPPER", "with space", "é", String(repeating: "x", count: 65)])
    func rejectsMalformedIDs(text: String) {
        #expect(throws: CoreError.invalidReplicaID(text)) { try ReplicaID(text) }
    }

    @Test func ordersBytewise() throws {
        #expect(try ReplicaID("r10") < ReplicaID("r9"))
        #expect(try Dot(parsing: "lap-top_1:42") == Dot(ReplicaID("lap-top_1"), 42))
        #expect(throws: CoreError.self) { try Dot(parsing: "a:0") }
        #expect(throws: CoreError.self) { try Dot(parsing: "a") }
    }
}

struct HybridLogicalClockTests {
    @Test func refusesRemoteTooFarAheadAndStaysPut() {
        var clock = HybridLogicalClock(last: HLCTimestamp(wallMillis: 1_000), maxDriftMillis: 60_000)
        let remote = HLCTimestamp(wallMillis: 2_000 + 60_001)
        #expect(throws: CoreError.remoteClockTooFarAhead(remote: remote, limitMillis: 60_000)) {
            try clock.observe(remote, wallMillis: 2_000)
        }
        #expect(clock.last == HLCTimestamp(wallMillis: 1_000))
    }

    @Test func neverGoesBackwards() {
        var clock = HybridLogicalClock()
        var previous = HLCTimestamp.zero
        for wall: UInt64 in [5, 3, 3, 9, 1, 9, 10] {
            let t = clock.tick(wallMillis: wall)
            #expect(previous < t)
            previous = t
        }
    }

    @Test func parsesOnlyWellFormedText() {
        #expect(throws: CoreError.self) { try HLCTimestamp(parsing: "12") }
        #expect(throws: CoreError.self) { try HLCTimestamp(parsing: "12:x") }
        #expect((try? HLCTimestamp(parsing: "12:3")) == HLCTimestamp(wallMillis: 12, logical: 3))
    }
}

struct DecimalNumberTests {
    @Test(arguments: [("10.50", "10.5"), ("007", "7"), ("-0.0", "0"), ("+3.140", "3.14"), ("0.001", "0.001"), ("-12.30", "-12.3")])
    func normalizes(input: String, normal: String) throws {
        #expect(try DecimalNumber(input).description == normal)
    }

    @Test(arguments: ["", "1e5", "1.", ".5", "1,5", "NaN", "12.3.4", "--1"])
    func rejects(input: String) {
        #expect(throws: CoreError.self) { try DecimalNumber(input) }
    }

    @Test func ordersByAmount() throws {
        let values = try ["-10", "-9.99", "0", "0.5", "2", "10", "10.01", "100"].map(DecimalNumber.init)
        #expect(values == values.shuffled().sorted())
    }
}

struct FieldValueTests {
    @Test func jsonRoundTripsEveryType() throws {
        let values: [FieldValue] = [
            .null, .bool(true), .integer(-42), .decimal(try DecimalNumber("1999.99")), .string("Сәлем, שלום, Xin chào"),
            .date("2026-11-24"), .timestamp(1_764_000_000_000), .uuid("0190a000-0000-7000-8000-000000000001"),
            .reference("0190a000-0000-7000-8000-000000000002"), .makeSet(["b", "a", "b"]),
            .group(["amount": .decimal(try DecimalNumber("10")), "currency": .string("USD")]),
        ]
        for v in values { #expect(try FieldValue(json: v.json) == v) }
        #expect(FieldValue.makeSet(["b", "a", "b"]) == .set(["a", "b"]))
    }

    @Test func rejectsMalformedTypedValues() {
        let bad: [JSONValue] = [
            .object(["date": .string("2026-13-01")]), .object(["uuid": .string("not-a-uuid")]),
            .object(["dec": .string("1e9")]), .object(["what": .int(1)]), .array([]),
            .object(["dec": .string("1"), "date": .string("2026-01-01")]),
        ]
        for json in bad { #expect(throws: CoreError.self) { try FieldValue(json: json) } }
    }

    @Test func canonicalTextSortsKeysAndEscapesMinimally() {
        let json = JSONValue.object(["b": .int(1), "a": .string("q\"\\\n\u{01}/é")])
        #expect(json.canonicalText == #"{"a":"q\"\\\n\u0001/é","b":1}"#)
    }
}

struct ChangeValidationTests {
    let rules = CollectionRules(collection: "deals", fields: ["title": .lww, "visits": .counter, "tags": .set])
    let stamp = WriteStamp(dot: Dot(try! ReplicaID("a"), 1), hlc: HLCTimestamp(wallMillis: 1), author: Author(user: "u", device: "d"))

    @Test func rejectsOperationsTheRuleDoesNotAllow() {
        #expect(throws: CoreError.operationNotAllowed(field: "title", operation: "add", rule: .lww)) {
            try RecordState().write([.add("title", "x")], stamp: stamp, rules: rules, recordID: "r")
        }
        #expect(throws: CoreError.operationNotAllowed(field: "tags", operation: "increment", rule: .set)) {
            try RecordState().write([.increment("tags", 1)], stamp: stamp, rules: rules, recordID: "r")
        }
        #expect(throws: CoreError.operationNotAllowed(field: "visits", operation: "add", rule: .counter)) {
            try RecordState().write([.add("visits", "x")], stamp: stamp, rules: rules, recordID: "r")
        }
    }

    @Test func rejectsInconsistentChanges() throws {
        let change = try RecordState().write([.set("title", .string("x"))], stamp: stamp, rules: rules, recordID: "r")
        guard case .object(var o) = change.json else { Issue.record("not an object"); return }
        o["dot"] = .string("a:2")  // presence holds no entry for a:2
        #expect(throws: CoreError.self) { try Change(json: .object(o)) }
        o["dot"] = .string("a:1")
        o["hlc"] = .string("5:0")  // entries of a:1 carry another HLC
        #expect(throws: CoreError.self) { try Change(json: .object(o)) }
        o["hlc"] = .string("1:0")
        #expect(try Change(json: .object(o)) == change)
    }

    @Test func rejectsEntriesOutsideTheirContext() {
        let entry = FieldEntry(dot: Dot(try! ReplicaID("b"), 4), hlc: .zero, author: Author(user: "u", device: "d"), value: .null)
        #expect(throws: CoreError.self) { try FieldState(entries: [entry], context: VersionVector()) }
    }
}
