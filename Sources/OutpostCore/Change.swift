/// One write, as it travels: the record it touches, its dot, HLC and author, and the new state
/// of every field it wrote (with that field's causal context) plus the record's presence.
///
/// Because each written field carries the writer's whole state of that field, a change is a
/// piece of state: applying it is a join, so changes may arrive in any order, more than once,
/// or after later writes of the same replica, and every replica still ends up identical.
public struct Change: Hashable, Sendable {
    /// The record's collection.
    public let collection: String
    /// The record's id (a UUIDv7 made by the replica that created it).
    public let recordID: String
    /// The write's name; kept unchanged when relayed.
    public let dot: Dot
    /// When it was written.
    public let hlc: HLCTimestamp
    /// Who wrote it.
    public let author: Author
    /// The written fields' new states, by stored key.
    public let fields: [String: FieldState]
    /// The record's presence after the write (`true` for a create or update, `false` for a delete).
    public let presence: FieldState

    /// Creates a change and checks its parts agree: the presence holds this change's entry,
    /// and every entry stamped with this dot carries this HLC and author.
    public init(collection: String, recordID: String, dot: Dot, hlc: HLCTimestamp, author: Author,
                fields: [String: FieldState], presence: FieldState) throws(CoreError) {
        guard presence.entries.values.contains(where: { $0.dot == dot }) else {
            throw CoreError.inconsistentChange("the presence has no entry for the change's own dot \(dot)")
        }
        for state in fields.values.map({ $0 }) + [presence] {
            guard state.context.covers(dot) else {
                throw CoreError.inconsistentChange("a written field's context does not include the change's dot")
            }
            for e in state.entries.values where e.dot == dot && (e.hlc != hlc || e.author != author) {
                throw CoreError.inconsistentChange("an entry of dot \(dot) carries another HLC or author")
            }
        }
        self.collection = collection
        self.recordID = recordID
        self.dot = dot
        self.hlc = hlc
        self.author = author
        self.fields = fields
        self.presence = presence
    }

    /// The part of the record's state this change carries.
    public var state: RecordState { RecordState(fields: fields, presence: presence) }

    /// True when the change deletes the record.
    public var isDelete: Bool {
        presence.entries.values.contains { $0.dot == dot && $0.value == .bool(false) }
    }
}

extension Change: JSONRepresentable {
    public var json: JSONValue {
        .object([
            "c": .string(collection), "id": .string(recordID), "dot": .string(dot.description),
            "hlc": .string(hlc.description), "by": author.json,
            "f": .object(fields.mapValues(\.json)), "p": presence.json,
        ])
    }

    public init(json: JSONValue) throws(CoreError) {
        let o = try json.object("change")
        guard o.count == 7, let c = o["c"], let id = o["id"], let dot = o["dot"], let hlc = o["hlc"],
              let by = o["by"], let f = o["f"], let p = o["p"]
        else { throw CoreError.malformed("change", json.canonicalText) }
        var fields: [String: FieldState] = [:]
        for (k, v) in try f.object("change fields") { fields[k] = try FieldState(json: v) }
        try self.init(
            collection: try c.string("collection"), recordID: try id.string("record id"),
            dot: try Dot(parsing: try dot.string("dot")), hlc: try HLCTimestamp(parsing: try hlc.string("hlc")),
            author: try Author(json: by), fields: fields, presence: try FieldState(json: p))
    }
}

extension Change {
    /// The same write with new HLC stamps: every entry whose dot `stamps` names (the change's own
    /// and those of earlier writes it carries) takes the new stamp, and the change's own HLC too
    /// if named. Only for writes no other replica holds yet (a laptop re-stamping what it wrote
    /// while its clock was far ahead): a dot names one write, stamp included.
    public func restamped(_ stamps: [Dot: HLCTimestamp]) throws(CoreError) -> Change {
        func restamp(_ state: FieldState) throws(CoreError) -> FieldState {
            guard state.entries.values.contains(where: { stamps[$0.dot] != nil }) else { return state }
            return try FieldState(entries: state.entries.values.map { e in
                stamps[e.dot].map { FieldEntry(dot: e.dot, hlc: $0, author: e.author, value: e.value) } ?? e
            }, context: state.context)
        }
        var fields: [String: FieldState] = [:]
        for (key, state) in self.fields { fields[key] = try restamp(state) }
        return try Change(collection: collection, recordID: recordID, dot: dot, hlc: stamps[dot] ?? hlc, author: author,
                          fields: fields, presence: try restamp(presence))
    }
}
