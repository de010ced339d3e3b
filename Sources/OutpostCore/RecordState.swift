/// The replicated state of one record: every field's state (known to the schema or not) and
/// the record's presence (whether it exists or was deleted).
///
/// `presence` is a register every write takes part in: creates and updates write `true`,
/// deletes write `false`. Its context therefore names every write the record has seen, which
/// makes it the record's version vector, and a delete concurrent with an update shows up as two
/// presence entries, resolved by the collection's ``DeleteRule``.
///
/// ## Topics
/// - ``merged(with:)``
/// - ``applying(_:)``
/// - ``resolve(_:recordID:)``
/// - ``write(_:stamp:rules:recordID:)``
/// - ``delete(stamp:rules:recordID:)``
public struct RecordState: Hashable, Sendable {
    /// Field states by stored key (a field's name or a group's name).
    public internal(set) var fields: [String: FieldState]
    /// The record's existence register.
    public internal(set) var presence: FieldState

    /// The state of a record this replica has never heard of.
    public init() {
        fields = [:]
        presence = FieldState()
    }

    /// Creates a state from parts.
    public init(fields: [String: FieldState], presence: FieldState) {
        self.fields = fields.filter { !$0.value.isEmpty }
        self.presence = presence
    }

    /// The record's version vector: every write it reflects.
    public var versionVector: VersionVector { presence.context }

    /// The join of two states of the same record: commutative, associative and idempotent.
    public func merged(with other: RecordState) -> RecordState {
        if presence.isEmpty && fields.isEmpty { return other }
        var result = RecordState()
        result.presence = presence.merged(with: other.presence)
        result.fields = fields
        for (key, theirs) in other.fields {
            result.fields[key] = fields[key].map { $0.merged(with: theirs) } ?? theirs
        }
        return result
    }

    /// The state after applying a change (written here or received from anywhere, in any order, any number of times).
    ///
    /// - warning: Do not skip a change because ``versionVector`` covers its dot: the vector also
    ///   covers earlier writes of the same replica that touched other fields and may not have
    ///   arrived yet. Skip only changes whose dot this replica has recorded as applied.
    public func applying(_ change: Change) -> RecordState {
        merged(with: change.state)
    }
}

extension RecordState: JSONRepresentable {
    public var json: JSONValue {
        .object(["f": .object(fields.mapValues(\.json)), "p": presence.json])
    }

    public init(json: JSONValue) throws(CoreError) {
        let o = try json.object("record state")
        guard o.count == 2, let f = o["f"], let p = o["p"] else { throw CoreError.malformed("record state", json.canonicalText) }
        var fields: [String: FieldState] = [:]
        for (k, v) in try f.object("record fields") { fields[k] = try FieldState(json: v) }
        self.init(fields: fields, presence: try FieldState(json: p))
    }
}
