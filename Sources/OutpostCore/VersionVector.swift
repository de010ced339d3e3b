/// How two version vectors (or the writes they describe) relate in causal order.
public enum CausalOrder: String, Sendable {
    /// Both have seen exactly the same writes.
    case equal
    /// The left side has seen a strict subset of what the right side has seen.
    case before
    /// The left side has seen a strict superset.
    case after
    /// Each has seen something the other has not.
    case concurrent
}

/// A sparse version vector: for each replica that wrote, the highest counter seen from it.
///
/// Replicas with counter 0 are never stored, so two vectors that mean the same thing are equal.
public struct VersionVector: Hashable, Sendable {
    /// Highest counter seen per replica; never holds a zero.
    public private(set) var counters: [ReplicaID: UInt64]

    /// Creates an empty vector (has seen nothing).
    public init() { counters = [:] }

    /// Creates a vector from explicit counters (zeros are dropped).
    public init(_ counters: [ReplicaID: UInt64]) {
        self.counters = counters.filter { $0.value > 0 }
    }

    /// The highest counter seen from `replica` (0 if none).
    public subscript(replica: ReplicaID) -> UInt64 { counters[replica] ?? 0 }

    /// Whether the write named by `dot` is included.
    public func covers(_ dot: Dot) -> Bool { self[dot.replica] >= dot.counter }

    /// Whether every write this vector includes is also included in `other`.
    public func isCovered(by other: VersionVector) -> Bool {
        counters.allSatisfy { other[$0.key] >= $0.value }
    }

    /// Adds a single write.
    public mutating func record(_ dot: Dot) {
        if self[dot.replica] < dot.counter { counters[dot.replica] = dot.counter }
    }

    /// The pointwise maximum: everything either side has seen.
    public func merged(with other: VersionVector) -> VersionVector {
        var result = self
        result.merge(other)
        return result
    }

    /// Merges `other` into this vector in place.
    public mutating func merge(_ other: VersionVector) {
        for (replica, counter) in other.counters where self[replica] < counter {
            counters[replica] = counter
        }
    }

    /// Compares with `other` in causal order.
    public func compare(_ other: VersionVector) -> CausalOrder {
        let mineCovered = isCovered(by: other)
        let theirsCovered = other.isCovered(by: self)
        switch (mineCovered, theirsCovered) {
        case (true, true): return .equal
        case (true, false): return .before
        case (false, true): return .after
        case (false, false): return .concurrent
        }
    }

    /// The entries in replica-id order, as the canonical encoding lists them.
    public var sorted: [(replica: ReplicaID, counter: UInt64)] {
        counters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// True when nothing has been seen.
    public var isEmpty: Bool { counters.isEmpty }
}
