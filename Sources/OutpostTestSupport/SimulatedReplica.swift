import OutpostCore

/// A replica of the merge core alone, for convergence simulations: record states, a durable
/// counter, a clock with its own skew, and the set of writes it has seen.
public struct SimulatedReplica: Sendable {
    /// The replica's id.
    public let id: ReplicaID
    /// Its write counter (last dot issued).
    public private(set) var counter: UInt64 = 0
    /// Its clock.
    public private(set) var clock = HybridLogicalClock()
    /// How far its wall clock is off, in milliseconds.
    public let skewMillis: Int64
    /// Record states by `collection/id`.
    public private(set) var records: [String: RecordState] = [:]
    /// Every change it has seen (its own and received), by dot, for relaying.
    public private(set) var known: [Dot: Change] = [:]
    /// Dots seen per record key, to tell which replicas have seen the same writes.
    public private(set) var seen: [String: Set<Dot>] = [:]

    /// Creates an empty replica.
    public init(id: ReplicaID, skewMillis: Int64) {
        self.id = id
        self.skewMillis = skewMillis
    }

    /// The state of one record (empty if never heard of).
    public func state(_ key: String) -> RecordState { records[key] ?? RecordState() }

    /// Makes a local write and applies it; returns the change.
    public mutating func write(_ writes: [FieldWrite], delete: Bool, rules: CollectionRules, recordID: String, trueMillis: UInt64) throws -> Change {
        counter += 1
        let wall = UInt64(max(0, Int64(trueMillis) + skewMillis))
        let stamp = WriteStamp(dot: Dot(id, counter), hlc: clock.tick(wallMillis: wall),
                               author: Author(user: "user-\(id.rawValue)", device: "laptop-\(id.rawValue)"))
        let key = Self.key(rules.collection, recordID)
        let change = delete
            ? try state(key).delete(stamp: stamp, rules: rules, recordID: recordID)
            : try state(key).write(writes, stamp: stamp, rules: rules, recordID: recordID)
        receive(change, trueMillis: trueMillis)
        return change
    }

    /// Applies a change from anywhere (duplicates and any order allowed).
    public mutating func receive(_ change: Change, trueMillis: UInt64) {
        let key = Self.key(change.collection, change.recordID)
        records[key] = state(key).applying(change)
        known[change.dot] = change
        seen[key, default: []].insert(change.dot)
        let wall = UInt64(max(0, Int64(trueMillis) + skewMillis))
        _ = try? clock.observe(change.hlc, wallMillis: wall)
    }

    /// Merges another replica's whole state of one record (anti-entropy, snapshots).
    public mutating func mergeState(of key: String, from other: SimulatedReplica) {
        records[key] = state(key).merged(with: other.state(key))
        seen[key, default: []].formUnion(other.seen[key] ?? [])
        for dot in other.seen[key] ?? [] { known[dot] = other.known[dot] }
    }

    /// The record key used by the simulation.
    public static func key(_ collection: String, _ recordID: String) -> String { "\(collection)/\(recordID)" }
}
