/// Renaming writes when a copied or restored replica folder takes a new replica id.
///
/// A copy writes under the same replica id as its original, so the two name different writes
/// alike. The copy keeps the writes both agree on (counters up to `keptThrough`) and gives each
/// of its own later writes a new name: `old:c` becomes `new:(c - keptThrough)`. Because those
/// writes never left the copy, no other replica knows the old names, and renaming them changes
/// no one else's view. Contexts are renamed the same way: "has seen `old` up to m" becomes
/// "has seen `old` up to keptThrough and `new` up to m - keptThrough".
public struct ReplicaRename: Hashable, Sendable {
    /// The id both folders wrote under.
    public let old: ReplicaID
    /// The copy's new id.
    public let new: ReplicaID
    /// The last counter of `old` that stays as it is (the writes the server holds identically).
    public let keptThrough: UInt64

    /// Creates a rename.
    public init(old: ReplicaID, new: ReplicaID, keptThrough: UInt64) {
        self.old = old
        self.new = new
        self.keptThrough = keptThrough
    }

    /// The new name of a dot (unchanged unless it is one of the renamed writes).
    public func rename(_ dot: Dot) -> Dot {
        guard dot.replica == old, dot.counter > keptThrough else { return dot }
        return Dot(new, dot.counter - keptThrough)
    }

    /// A context with the renamed writes under their new names.
    public func rename(_ context: VersionVector) -> VersionVector {
        let seen = context[old]
        guard seen > keptThrough else { return context }
        var counters = context.counters
        counters[old] = keptThrough
        counters[new] = max(context[new], seen - keptThrough)
        return VersionVector(counters)
    }

    /// A field state with its entries and context renamed.
    public func rename(_ state: FieldState) throws(CoreError) -> FieldState {
        let entries = state.entries.values.map { FieldEntry(dot: rename($0.dot), hlc: $0.hlc, author: $0.author, value: $0.value) }
        return try FieldState(entries: entries, context: rename(state.context))
    }

    /// The change under its new name, with every dot it mentions renamed; time and author stay.
    public func rename(_ change: Change) throws(CoreError) -> Change {
        var fields: [String: FieldState] = [:]
        for (key, state) in change.fields { fields[key] = try rename(state) }
        return try Change(collection: change.collection, recordID: change.recordID, dot: rename(change.dot), hlc: change.hlc,
                          author: change.author, fields: fields, presence: try rename(change.presence))
    }
}
