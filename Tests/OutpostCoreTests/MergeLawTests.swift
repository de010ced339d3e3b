//! Laws: merge is commutative, associative and idempotent, and applying a change twice is
//! applying it once, over record states drawn from random schedules.
import OutpostCore
import OutpostTestSupport
import PropertyBased
import Testing

struct MergeLawTests {
    /// Three states of the same record as three random replicas hold it after a random schedule.
    static func threeStates(seed: UInt64) -> [RecordState] {
        var sim = ConvergenceSimulation(seed: seed)
        try! sim.run(steps: 40)
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        let key = SimulatedReplica.key(ConvergenceSimulation.collections[Int(seed % 2)].collection,
                                       ConvergenceSimulation.recordIDs[Int((seed / 2) % 2)])
        return (0..<3).map { _ in sim.replicas.randomElement(using: &rng)!.state(key) }
    }

    @Test func mergeIsCommutativeAssociativeAndIdempotent() async {
        await propertyCheck(count: max(100, scheduleCount / 4), input: Gen.uint64(in: 0...UInt64.max)) { seed in
            let s = Self.threeStates(seed: seed)
            let (a, b, c) = (s[0], s[1], s[2])
            #expect(a.merged(with: b).canonicalText == b.merged(with: a).canonicalText, "commutative, seed \(seed)")
            #expect(a.merged(with: b).merged(with: c).canonicalText == a.merged(with: b.merged(with: c)).canonicalText,
                    "associative, seed \(seed)")
            #expect(a.merged(with: a).canonicalText == a.canonicalText, "idempotent, seed \(seed)")
            #expect(a.merged(with: RecordState()).canonicalText == a.canonicalText, "empty state is the identity, seed \(seed)")
        }
    }

    @Test func applyingAChangeTwiceIsApplyingItOnce() async {
        await propertyCheck(count: max(100, scheduleCount / 4), input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var sim = ConvergenceSimulation(seed: seed)
            try! sim.run(steps: 30)
            guard let change = sim.allChanges.last else { return }
            let state = sim.replicas[0].state(SimulatedReplica.key(change.collection, change.recordID))
            let once = state.applying(change)
            #expect(once.applying(change).canonicalText == once.canonicalText, "seed \(seed)")
        }
    }

    @Test func canonicalEncodingRoundTrips() async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            for state in Self.threeStates(seed: seed) {
                let decoded = try RecordState(json: state.json)
                #expect(decoded == state)
                #expect(decoded.canonicalText == state.canonicalText)
            }
        }
    }
}

struct BinaryCodecTests {
    @Test func statesAndChangesRoundTrip() async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var sim = ConvergenceSimulation(seed: seed)
            try sim.run(steps: 40)
            for change in sim.allChanges {
                #expect(try BinaryCodec.decodeChange(BinaryCodec.encode(change)) == change)
            }
            for replica in sim.replicas {
                for state in replica.records.values {
                    #expect(try BinaryCodec.decodeState(BinaryCodec.encode(state)) == state)
                }
            }
        }
    }

    @Test func elidedValuesAreRestored() throws {
        var sim = ConvergenceSimulation(seed: 9)
        try sim.run(steps: 40)
        for state in sim.replicas[0].records.values {
            var visible: [String: FieldValue] = [:]
            for (key, field) in state.fields where field.entries.count == 1 { visible[key] = field.entries.values.first!.value }
            let bytes = BinaryCodec.encode(state) { key, value in visible[key] == value }
            #expect(try BinaryCodec.decodeState(bytes) { visible[$0] } == state)
            #expect(bytes.count <= BinaryCodec.encode(state).count)
        }
    }

    @Test func rejectsTruncatedAndCorruptBlobs() throws {
        var sim = ConvergenceSimulation(seed: 3)
        try sim.run(steps: 20)
        let bytes = BinaryCodec.encode(sim.allChanges[0])
        for cut in [0, 1, bytes.count / 2, bytes.count - 1] {
            #expect(throws: CoreError.self) { try BinaryCodec.decodeChange(Array(bytes.prefix(cut))) }
        }
        #expect(throws: CoreError.self) { try BinaryCodec.decodeChange(bytes + [0]) }
        var corrupt = bytes
        corrupt[0] = 99
        #expect(throws: CoreError.self) { try BinaryCodec.decodeChange(corrupt) }
    }
}
