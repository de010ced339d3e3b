import OutpostCore

/// Random schedules of offline writes and exchanges between several replicas of the merge core.
///
/// Writes draw from few records and few fields so that they collide; exchanges deliver random
/// subsets of what a replica knows, shuffled, duplicated and re-delivered, and sometimes merge
/// whole record states instead. Everything follows from the seed.
public struct ConvergenceSimulation: Sendable {
    /// The collections written, with rules covering every merge rule, a field group and both delete rules.
    public static let collections: [CollectionRules] = [
        CollectionRules(
            collection: "deals",
            fields: ["stage": .manual, "title": .lww, "probability": .max, "expected_close": .min,
                     "visits": .counter, "tags": .set],
            groups: ["money": (.lww, ["amount", "currency"])],
            deleteRule: .updateWins),
        CollectionRules(
            collection: "accounts",
            fields: ["name": .lww, "status": .manual, "tags": .set, "score": .counter],
            groups: ["address": (.manual, ["street", "city"])],
            deleteRule: .deleteWins),
    ]

    /// Record ids written (few, so writes collide).
    public static let recordIDs = ["0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"]

    /// The replicas after the schedule.
    public private(set) var replicas: [SimulatedReplica]
    /// Every change written during the schedule.
    public private(set) var allChanges: [Change] = []
    private var rng: SplitMix64
    private var now: UInt64 = 1_764_000_000_000

    /// Creates a simulation of `replicaCount` replicas from a seed.
    public init(seed: UInt64, replicaCount: Int = 5) {
        rng = SplitMix64(seed: seed)
        var made: [SimulatedReplica] = []
        for i in 0..<replicaCount {
            // Coarse skews: replicas often read the same wall time, so HLC ties between replicas happen.
            let skew: Int64 = [0, 0, 1_000, -1_000, 2_000].randomElement(using: &rng)!
            made.append(SimulatedReplica(id: try! ReplicaID("r\(i)"), skewMillis: skew))
        }
        replicas = made
    }

    /// Runs `steps` random events.
    public mutating func run(steps: Int) throws {
        for _ in 0..<steps {
            // Time moves a little, sometimes not at all, so HLC ties and logical counters happen.
            now += UInt64.random(in: 0...2, using: &rng) == 0 ? 0 : 1_000 * UInt64.random(in: 1...2, using: &rng)
            let roll = Int.random(in: 0..<100, using: &rng)
            if roll < 55 {
                try randomWrite()
            } else if roll < 90 {
                randomDelivery()
            } else {
                randomStateMerge()
            }
        }
    }

    /// Delivers every change to every replica, each in its own random order with duplicates.
    public mutating func deliverEverything() {
        for i in replicas.indices {
            var batch = allChanges + allChanges.filter { _ in rng.chance(20) }
            batch.shuffle(using: &rng)
            for change in batch { replicas[i].receive(change, trueMillis: now) }
        }
    }

    private mutating func randomWrite() throws {
        let r = Int.random(in: 0..<replicas.count, using: &rng)
        let rules = Self.collections.randomElement(using: &rng)!
        let recordID = Self.recordIDs.randomElement(using: &rng)!
        let delete = rng.chance(6)
        var writes: [FieldWrite] = []
        if !delete {
            for _ in 0..<Int.random(in: 1...3, using: &rng) { writes.append(randomFieldWrite(rules)) }
        }
        let change = try replicas[r].write(writes, delete: delete, rules: rules, recordID: recordID, trueMillis: now)
        allChanges.append(change)
    }

    private mutating func randomFieldWrite(_ rules: CollectionRules) -> FieldWrite {
        let words = ["Алматы", "Улаанбаатар", "Hà Nội", "תל אביב", "Tashkent", "vip", "hot", "cold"]
        let word = words.randomElement(using: &rng)!
        switch rules.collection {
        case "deals":
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return .set("stage", .string(["lead", "qualified", "proposal", "won", "lost"].randomElement(using: &rng)!))
            case 1: return .set("title", .string(word))
            case 2: return .set("probability", .integer(Int64.random(in: 0...100, using: &rng)))
            case 3: return .set("expected_close", .date("2026-12-\(10 + Int.random(in: 0...18, using: &rng))"))
            case 4: return .increment("visits", Int64.random(in: -2...5, using: &rng))
            case 5: return rng.chance(60) ? .add("tags", word) : .remove("tags", word)
            case 6: return .set("amount", .decimal(try! DecimalNumber("\(Int.random(in: 1...999, using: &rng)).5")))
            default: return .set("currency", .string(["USD", "KZT", "MNT", "VND"].randomElement(using: &rng)!))
            }
        default:
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: return .set("name", .string(word))
            case 1: return .set("status", .string(["active", "dormant", "closed"].randomElement(using: &rng)!))
            case 2: return rng.chance(60) ? .add("tags", word) : (rng.chance(50) ? .remove("tags", word) : .set("tags", .makeSet([word, "vip"])))
            case 3: return .increment("score", Int64.random(in: 1...3, using: &rng))
            case 4: return .set("city", .string(word))
            default: return .set("street", .string(word))
            }
        }
    }

    private mutating func randomDelivery() {
        let from = Int.random(in: 0..<replicas.count, using: &rng)
        let to = Int.random(in: 0..<replicas.count, using: &rng)
        guard from != to else { return }
        // Sorted first: dictionary order differs between processes and would break replay by seed.
        var batch = replicas[from].known.values.sorted { $0.dot < $1.dot }.filter { _ in rng.chance(50) }
        batch += batch.filter { _ in rng.chance(25) }
        batch.shuffle(using: &rng)
        for change in batch { replicas[to].receive(change, trueMillis: now) }
    }

    private mutating func randomStateMerge() {
        let from = Int.random(in: 0..<replicas.count, using: &rng)
        let to = Int.random(in: 0..<replicas.count, using: &rng)
        guard from != to else { return }
        let rules = Self.collections.randomElement(using: &rng)!
        let key = SimulatedReplica.key(rules.collection, Self.recordIDs.randomElement(using: &rng)!)
        let source = replicas[from]
        replicas[to].mergeState(of: key, from: source)
    }

    /// The rules of a record key's collection.
    public static func rules(forKey key: String) -> CollectionRules {
        let collection = String(key.split(separator: "/")[0])
        return collections.first { $0.collection == collection }!
    }
}
