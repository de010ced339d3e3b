import Foundation
import OutpostCore
import OutpostTestSupport
import Testing

struct VectorTests {
    /// Each scenario shows what its author wrote down by hand.
    @Test(arguments: scenarios.map(\.name))
    func scenarioMeetsHandWrittenExpectation(name: String) throws {
        let scenario = scenarios.first { $0.name == name }!
        guard case .object(let doc) = scenario.vector(), case .object(let expected)? = doc["expected"] else {
            Issue.record("no expected member"); return
        }
        let state = try RecordState(json: expected["state"]!)
        let resolved = state.resolve(scenario.rules, recordID: VectorScript.recordID)
        let want = scenario.expect
        #expect(resolved.exists == want.exists)
        for (field, value) in want.values { #expect(resolved.values[field] == value, "\(field)") }
        #expect(resolved.unknownFields == want.unknown)
        #expect(resolved.conflicts.map(\.key) == want.conflicts.map(\.0))
        #expect(resolved.conflicts.map(\.kind) == want.conflicts.map(\.1))
        for conflict in resolved.conflicts {
            let winner = conflict.sides.first { $0.dot == conflict.provisionalWinner }
            #expect(winner?.value == want.winners[conflict.key], "winner of \(conflict.key)")
            #expect(conflict.sides.count >= 2)
        }
    }

    /// The stored vectors are exactly what the scenarios generate (set OUTPOST_WRITE_VECTORS=1 to regenerate).
    @Test func storedVectorsMatchScenarios() throws {
        let write = ProcessInfo.processInfo.environment["OUTPOST_WRITE_VECTORS"] == "1"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        for scenario in scenarios {
            let url = VectorFile.directory.appendingPathComponent("\(scenario.name).json")
            let generated = scenario.vector()
            if write {
                try (encoder.encode(generated) + Data("\n".utf8)).write(to: url)
            }
            let stored = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url))
            #expect(stored.canonicalText == generated.canonicalText, "\(scenario.name).json is out of date")
        }
    }

    /// Every stored vector, run as another implementation would: apply the changes (in the
    /// listed order, reversed, shuffled with duplicates) or merge the states, then compare.
    @Test(arguments: try! FileManager.default.contentsOfDirectory(atPath: VectorFile.directory.path).filter { $0.hasSuffix(".json") }.sorted())
    func storedVector(file: String) throws {
        let doc = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: VectorFile.directory.appendingPathComponent(file)))
        guard case .object(let o) = doc else { Issue.record("\(file): not an object"); return }
        if let clock = o["clock"] {
            try runClockVector(clock, file: file)
            return
        }
        let rules = try CollectionRules(vectorJSON: o["rules"]!)
        guard case .string(let recordID)? = o["record"] else { Issue.record("\(file): no record"); return }
        let expected = o["expected"]!
        var results: [RecordState] = []
        if case .array(let states)? = o["merge"] {
            let a = try RecordState(json: states[0]), b = try RecordState(json: states[1])
            results = [a.merged(with: b), b.merged(with: a), a.merged(with: b).merged(with: a)]
        } else if case .array(let items)? = o["changes"] {
            let changes = try items.map { try Change(json: $0) }
            var orders = [changes, changes.reversed()]
            var rng = SplitMix64(seed: UInt64(file.utf8.count))
            for _ in 0..<5 { orders.append((changes + changes.filter { _ in rng.chance(50) }).shuffled(using: &rng)) }
            results = orders.map { $0.reduce(RecordState()) { $0.applying($1) } }
        } else {
            Issue.record("\(file): neither changes nor merge"); return
        }
        for result in results {
            #expect(VectorFile.expectedJSON(result, rules: rules, recordID: recordID).canonicalText == expected.canonicalText, "\(file)")
        }
    }

    /// There are at least 40 vectors and every rule is covered.
    @Test func vectorsCoverEveryRule() throws {
        var covered = Set<String>()
        let files = try FileManager.default.contentsOfDirectory(atPath: VectorFile.directory.path).filter { $0.hasSuffix(".json") }
        for file in files {
            let doc = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: VectorFile.directory.appendingPathComponent(file)))
            if case .object(let o) = doc, case .array(let tags)? = o["covers"] {
                for case .string(let t) in tags { covered.insert(t) }
            }
        }
        #expect(files.count >= 40)
        let required = MergeRule.allCases.map(\.rawValue) + DeleteRule.allCases.map(\.rawValue)
            + ["group", "unknown-fields", "hlc-skew", "tie", "hlc", "delete"]
        for tag in required { #expect(covered.contains(tag), "no vector covers \(tag)") }
    }

    private func runClockVector(_ json: JSONValue, file: String) throws {
        guard case .object(let c) = json, case .string(let last)? = c["last"], case .int(let drift)? = c["maxDriftMillis"],
              case .array(let events)? = c["events"] else { Issue.record("\(file): bad clock"); return }
        var clock = HybridLogicalClock(last: try HLCTimestamp(parsing: last), maxDriftMillis: UInt64(drift))
        for case .object(let e) in events {
            guard case .int(let wall)? = e["wall"] else { Issue.record("\(file): event without wall"); return }
            if case .string(let remote)? = e["observe"] {
                do {
                    let t = try clock.observe(try HLCTimestamp(parsing: remote), wallMillis: UInt64(wall))
                    #expect(e["expect"] == .string(t.description), "\(file)")
                } catch {
                    guard case .remoteClockTooFarAhead = error else { throw error }
                    #expect(e["error"] == .string("remote-clock-too-far-ahead"), "\(file): unexpected refusal")
                    if case .string(let unchanged)? = e["last"] {
                        #expect(clock.last.description == unchanged, "\(file): clock moved on refusal")
                    }
                }
            } else {
                let t = clock.tick(wallMillis: UInt64(wall))
                #expect(e["expect"] == .string(t.description), "\(file)")
            }
        }
    }
}
