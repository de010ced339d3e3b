import ArgumentParser
import OutpostCore

/// `outpost-bench merge`: merges of realistic record states (20 fields, 3 writers) per second.
struct MergeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge realistic record states (20 fields, 3 concurrent writers) and report merges per second.",
        discussion: """
            Each record is created by one replica with 20 fields, seen by two others, and then
            edited concurrently by all three (a few fields each, some of them the same fields),
            so merges meet concurrent siblings, a manual conflict, a set and a counter.
            """
    )

    @OptionGroup var options: BenchmarkOptions

    @Option(help: "How many distinct records to build.")
    var records = 1_000

    @Option(help: "How many passes over the records to time.")
    var passes = 20

    func run() throws {
        let fixture = try MergeFixture(records: records)
        let clock = ContinuousClock()
        var sink = 0

        let mergeTime = clock.measure {
            for _ in 0..<passes {
                for r in fixture.records {
                    let merged = r.b.merged(with: r.c).merged(with: r.a)
                    sink &+= merged.fields.count
                }
            }
        }
        let merges = Double(passes * fixture.records.count * 2)

        let applyTime = clock.measure {
            for _ in 0..<passes {
                for r in fixture.records {
                    var state = r.base
                    for change in r.edits { state = state.applying(change) }
                    sink &+= state.fields.count
                }
            }
        }
        let applies = Double(passes * fixture.records.count * fixture.records[0].edits.count)

        let resolveTime = clock.measure {
            for _ in 0..<passes {
                for r in fixture.records {
                    sink &+= r.merged.resolve(MergeFixture.rules, recordID: r.id).values.count
                }
            }
        }
        let resolves = Double(passes * fixture.records.count)
        precondition(sink > 0)

        let figures: [(String, Double)] = [
            ("merges_per_s", merges / mergeTime.seconds),
            ("changes_applied_per_s", applies / applyTime.seconds),
            ("resolves_per_s", resolves / resolveTime.seconds),
            ("fields_per_record", Double(MergeFixture.fieldCount)),
            ("writers_per_record", 3),
            ("canonical_bytes_per_record", Double(fixture.records.map { $0.merged.canonicalText.utf8.count }.reduce(0, +)) / Double(fixture.records.count)),
        ]
        Report.print(figures, json: options.json, title: "merge: \(records) records x \(passes) passes")
    }
}

/// Records in the state the benchmark merges.
struct MergeFixture {
    static let fieldCount = 20
    static let rules = CollectionRules(
        collection: "deals",
        fields: Dictionary(uniqueKeysWithValues: (0..<14).map { ("f\($0)", MergeRule.lww) })
            .merging(["stage": .manual, "probability": .max, "tags": .set, "visits": .counter], uniquingKeysWith: { a, _ in a }),
        groups: ["money": (.lww, ["amount", "currency"])])

    struct Record {
        let id: String
        let base: RecordState
        let a: RecordState, b: RecordState, c: RecordState
        let edits: [Change]
        let merged: RecordState
    }

    let records: [Record]

    init(records count: Int) throws {
        let author = Author(user: "bench", device: "bench")
        let ids = try ["hq", "rep-almaty", "rep-darkhan"].map(ReplicaID.init)
        var counters = [UInt64](repeating: 0, count: 3)
        var wall: UInt64 = 1_764_000_000_000
        func stamp(_ w: Int) -> WriteStamp {
            counters[w] += 1
            wall += 7
            return WriteStamp(dot: Dot(ids[w], counters[w]), hlc: HLCTimestamp(wallMillis: wall), author: author)
        }
        var made: [Record] = []
        for n in 0..<count {
            let id = "0190a000-0000-7000-8000-\(String(n, radix: 16).leftPadded(to: 12))"
            var create: [FieldWrite] = (0..<14).map { .set("f\($0)", .string("value \($0) of record \(n)")) }
            create += [.set("stage", .string("lead")), .set("probability", .integer(10)), .add("tags", "new"),
                       .increment("visits", 1), .set("amount", .decimal(try DecimalNumber("\(n).50"))), .set("currency", .string("KZT"))]
            let created = try RecordState().write(create, stamp: stamp(0), rules: Self.rules, recordID: id)
            let base = RecordState().applying(created)
            let editsA = try base.write([.set("f0", .string("hq edit")), .set("stage", .string("qualified")), .increment("visits", 1)],
                                        stamp: stamp(0), rules: Self.rules, recordID: id)
            let editsB = try base.write([.set("f0", .string("almaty edit")), .set("f1", .string("x")), .set("stage", .string("proposal")),
                                         .add("tags", "vip"), .set("probability", .integer(60))], stamp: stamp(1), rules: Self.rules, recordID: id)
            let editsC = try base.write([.set("f2", .string("darkhan edit")), .set("amount", .decimal(try DecimalNumber("99"))),
                                         .increment("visits", 2), .remove("tags", "new")], stamp: stamp(2), rules: Self.rules, recordID: id)
            let a = base.applying(editsA), b = base.applying(editsB), c = base.applying(editsC)
            made.append(Record(id: id, base: base, a: a, b: b, c: c, edits: [editsA, editsB, editsC],
                               merged: a.merged(with: b).merged(with: c)))
        }
        records = made
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension Duration {
    /// The duration in seconds as a floating-point number (for rates only).
    var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
