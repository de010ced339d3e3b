/// Renaming writes when a copied or restored replica folder takes a new replica id.
///
/// A copy writes under the same replica id as its original, so the two name different writes
/// alike. The copy keeps the writes the server holds identically under the old id (counters up
/// to `keptThrough`) and renames every later one, range by range: `old:c` becomes
/// `segment.replica:(c - segment.after)` for the segment with `after < c <= through`. The last
/// segment is the copy's own new id and has no end. Earlier segments are ids that other copies
/// of the same folder took before: writes this copy shares with such a copy (made before it
/// was copied again) take the same names that copy gave them, so one write keeps one name.
///
/// Contexts are renamed the same way: "has seen `old` up to m" becomes "has seen `old` up to
/// keptThrough, and each segment up to where m falls".
public struct ReplicaRename: Hashable, Sendable {
    /// One range of renamed counters: `old:(after, through]` becomes `replica:1...`.
    public struct Segment: Hashable, Sendable {
        /// The id the range is renamed to.
        public let replica: ReplicaID
        /// The last counter of `old` before the range.
        public let after: UInt64
        /// The last counter of `old` in the range (`UInt64.max` for the open last one).
        public let through: UInt64

        /// Creates a segment.
        public init(replica: ReplicaID, after: UInt64, through: UInt64) {
            self.replica = replica
            self.after = after
            self.through = through
        }
    }

    /// The id both folders wrote under.
    public let old: ReplicaID
    /// The last counter of `old` that stays as it is (the writes the server holds identically).
    public let keptThrough: UInt64
    /// The renamed ranges, contiguous from `keptThrough`; the last is the copy's own new id.
    public let segments: [Segment]

    /// Creates a rename: writes after `keptThrough` take the names of the `adopted` ranges, then
    /// the rest become `new:1...`.
    public init(old: ReplicaID, keptThrough: UInt64, adopted: [Segment] = [], new: ReplicaID) throws(CoreError) {
        var position = keptThrough
        for segment in adopted {
            guard segment.after == position, segment.through > segment.after, segment.replica != old, segment.replica != new else {
                throw CoreError.inconsistentChange("the renamed ranges of \(old) are not contiguous from \(keptThrough)")
            }
            position = segment.through
        }
        guard new != old else { throw CoreError.inconsistentChange("a copy cannot take the id it had") }
        self.old = old
        self.keptThrough = keptThrough
        self.segments = adopted + [Segment(replica: new, after: position, through: .max)]
    }

    /// The copy's own new id.
    public var new: ReplicaID { segments[segments.count - 1].replica }

    /// The new name of a dot (unchanged unless it is one of the renamed writes).
    public func rename(_ dot: Dot) -> Dot {
        guard dot.replica == old, dot.counter > keptThrough,
              let segment = segments.first(where: { dot.counter <= $0.through }) else { return dot }
        return Dot(segment.replica, dot.counter - segment.after)
    }

    /// A context with the renamed writes under their new names.
    public func rename(_ context: VersionVector) -> VersionVector {
        let seen = context[old]
        guard seen > keptThrough else { return context }
        var counters = context.counters
        counters[old] = keptThrough
        for segment in segments where seen > segment.after {
            counters[segment.replica] = max(context[segment.replica], min(seen, segment.through) - segment.after)
        }
        return VersionVector(counters)
    }

    /// The old name of a dot this rename gave a new one (the inverse of ``rename(_:)-(Dot)``).
    public func restore(_ dot: Dot) -> Dot {
        guard let segment = segments.first(where: { $0.replica == dot.replica }) else { return dot }
        return Dot(old, segment.after + dot.counter)
    }

    /// A context with the renamed writes under their old names again.
    public func restore(_ context: VersionVector) -> VersionVector {
        var counters = context.counters
        var seen = context[old]
        for segment in segments {
            guard let n = counters.removeValue(forKey: segment.replica) else { continue }
            seen = max(seen, segment.after + n)
        }
        counters[old] = seen
        return VersionVector(counters)
    }

    /// A field state with its entries and context renamed.
    public func rename(_ state: FieldState) throws(CoreError) -> FieldState {
        try map(state, dot: rename, context: rename)
    }

    /// The change under its new name, with every dot it mentions renamed; time and author stay.
    public func rename(_ change: Change) throws(CoreError) -> Change {
        try map(change, dot: rename, context: rename)
    }

    /// A renamed change under its old name again, as the copy wrote it before it took a new id.
    public func restore(_ change: Change) throws(CoreError) -> Change {
        try map(change, dot: restore, context: restore)
    }

    private func map(_ state: FieldState, dot: (Dot) -> Dot, context: (VersionVector) -> VersionVector) throws(CoreError) -> FieldState {
        let entries = state.entries.values.map { FieldEntry(dot: dot($0.dot), hlc: $0.hlc, author: $0.author, value: $0.value) }
        return try FieldState(entries: entries, context: context(state.context))
    }

    private func map(_ change: Change, dot: (Dot) -> Dot, context: (VersionVector) -> VersionVector) throws(CoreError) -> Change {
        var fields: [String: FieldState] = [:]
        for (key, state) in change.fields { fields[key] = try map(state, dot: dot, context: context) }
        return try Change(collection: change.collection, recordID: change.recordID, dot: dot(change.dot), hlc: change.hlc,
                          author: change.author, fields: fields, presence: try map(change.presence, dot: dot, context: context))
    }
}
