import OutpostCore
import OutpostTestSupport
import PropertyBased
import Testing

/// Renaming a copied folder's writes (`ReplicaRename`) keeps the merge's meaning: it is a
/// bijection on the renamed dots, it commutes with the join, and it can be undone.
struct ReplicaRenameTests {
    /// A rename of one simulated replica's later writes, in two ranges (an adopted one, then a new id).
    static func rename(of sim: ConvergenceSimulation, seed: UInt64) throws -> ReplicaRename {
        var rng = SplitMix64(seed: seed)
        let victim = sim.replicas[Int(rng.next() % UInt64(sim.replicas.count))]
        let kept = victim.counter == 0 ? 0 : rng.next() % victim.counter
        let adoptedThrough = kept + 1 + rng.next() % 3
        return try ReplicaRename(old: victim.id, keptThrough: kept,
                                 adopted: [ReplicaRename.Segment(replica: try ReplicaID("zz-adopted"), after: kept, through: adoptedThrough)],
                                 new: try ReplicaID("zz-new"))
    }

    static func rename(_ state: RecordState, _ rename: ReplicaRename) throws -> RecordState {
        var fields: [String: FieldState] = [:]
        for (key, field) in state.fields { fields[key] = try rename.rename(field) }
        return RecordState(fields: fields, presence: try rename.rename(state.presence))
    }

    @Test func renamingCommutesWithMergeAndCanBeUndone() async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var sim = ConvergenceSimulation(seed: seed)
            try sim.run(steps: 40)
            let rename = try Self.rename(of: sim, seed: seed)
            for change in sim.allChanges {
                let renamed = try rename.rename(change)
                #expect(try rename.restore(renamed) == change)
                #expect(renamed.dot == rename.rename(change.dot))
                if change.dot.replica == rename.old && change.dot.counter > rename.keptThrough {
                    #expect(renamed.dot.replica != rename.old)
                }
            }
            var rng = SplitMix64(seed: seed ^ 0x5eed)
            let states = sim.replicas.flatMap { replica in replica.records.keys.sorted().compactMap { replica.records[$0] } }
            for (a, b) in zip(states, states.shuffled(using: &rng)) {
                #expect(try Self.rename(a.merged(with: b), rename) == Self.rename(a, rename).merged(with: Self.rename(b, rename)))
            }
        }
    }

    /// A change's bytes survive the wire: decoded from its JSON it is the same change and
    /// encodes to the same bytes (the binary codec does not depend on dictionary order), so a
    /// resent change is a duplicate and never taken for another folder's write.
    @Test func aChangeEncodesToTheSameBytesAfterTheWire() async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var sim = ConvergenceSimulation(seed: seed)
            try sim.run(steps: 40)
            for change in sim.allChanges {
                let wired = try Change(json: try JSONValue.parse(change.json.canonicalBytes))
                #expect(wired == change)
                #expect(BinaryCodec.encode(wired) == BinaryCodec.encode(change))
            }
        }
    }

    @Test func rangesMustBeContiguous() throws {
        let old = try ReplicaID("r-a"), other = try ReplicaID("r-b")
        #expect(throws: CoreError.self) {
            try ReplicaRename(old: old, keptThrough: 4, adopted: [ReplicaRename.Segment(replica: other, after: 5, through: 7)], new: try ReplicaID("r-c"))
        }
        #expect(throws: CoreError.self) { try ReplicaRename(old: old, keptThrough: 4, new: old) }
        let rename = try ReplicaRename(old: old, keptThrough: 4, adopted: [ReplicaRename.Segment(replica: other, after: 4, through: 6)], new: try ReplicaID("r-c"))
        #expect(rename.rename(Dot(old, 4)) == Dot(old, 4))
        #expect(rename.rename(Dot(old, 6)) == Dot(other, 2))
        #expect(rename.rename(Dot(old, 9)) == Dot(try ReplicaID("r-c"), 3))
        #expect(rename.rename(VersionVector([old: 9])) == VersionVector([old: 4, other: 2, try ReplicaID("r-c"): 3]))
        #expect(rename.rename(VersionVector([old: 5])) == VersionVector([old: 4, other: 1]))
    }
}
