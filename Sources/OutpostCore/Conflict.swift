/// What kind of disagreement a conflict records.
public enum ConflictKind: String, Sendable {
    /// Concurrent writes to a `manual` field or field group.
    case concurrentValues = "concurrent-values"
    /// A delete concurrent with an update of the same record.
    case deleteVersusUpdate = "delete-vs-update"
    /// A live child whose parent was deleted elsewhere. Not derived from one record's state: a
    /// replica's store finds it across records (`protocol/merge.md`, section 8).
    case orphan = "orphan"
}

/// A disagreement waiting for an admin: a value, not an error.
///
/// Derived from the record's state, so every replica that holds the same state reports the
/// same conflicts with the same ids. It disappears when a write that has seen every side
/// (an admin's resolution, or a later edit) supersedes them.
public struct Conflict: Hashable, Sendable {
    /// Stable id: a hash of collection, record, key and the competing dots.
    public let id: String
    /// The record's collection.
    public let collection: String
    /// The record's id.
    public let recordID: String
    /// The field or field group (`_presence` for delete versus update).
    public let key: String
    /// What disagrees.
    public let kind: ConflictKind
    /// The rule applied to pick the provisional winner (`manual`, `update-wins`, `delete-wins`).
    public let rule: String
    /// Every competing side, with its value, dot, HLC and author, in dot order.
    public let sides: [FieldEntry]
    /// The dot of the side shown until an admin decides.
    public let provisionalWinner: Dot

    /// Creates a conflict; the id is derived from the parts.
    public init(collection: String, recordID: String, key: String, kind: ConflictKind, rule: String, sides: [FieldEntry], provisionalWinner: Dot) {
        let sorted = sides.sorted(by: FieldEntry.canonicalPrecedes)
        self.collection = collection
        self.recordID = recordID
        self.key = key
        self.kind = kind
        self.rule = rule
        self.sides = sorted
        self.provisionalWinner = provisionalWinner
        let identity = ([collection, recordID, key] + sorted.map(\.dot.description)).joined(separator: "\u{1F}")
        self.id = Self.fnv1a64Hex(identity)
    }

    /// FNV-1a, 64 bit, as 16 lowercase hex digits: short, stable, and easy to re-implement.
    static func fnv1a64Hex(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension Conflict {
    /// The conflict as JSON (for vectors, the admin API and `--json` listings).
    public var json: JSONValue {
        .object([
            "id": .string(id), "collection": .string(collection), "record": .string(recordID),
            "key": .string(key), "kind": .string(kind.rawValue), "rule": .string(rule),
            "sides": .array(sides.map(\.json)), "winner": .string(provisionalWinner.description),
        ])
    }
}

extension Conflict {
    /// Reads a conflict back from its JSON (``json``); the id is derived again and must match.
    public init(json: JSONValue) throws(CoreError) {
        let o = try json.object("conflict")
        guard let collection = o["collection"], let record = o["record"], let key = o["key"], let kind = o["kind"],
              let rule = o["rule"], let sides = o["sides"], let winner = o["winner"], let id = o["id"],
              let parsedKind = ConflictKind(rawValue: try kind.string("kind")) else {
            throw CoreError.malformed("conflict", json.canonicalText)
        }
        var entries: [FieldEntry] = []
        for side in try sides.array("sides") { entries.append(try FieldEntry(json: side)) }
        self.init(collection: try collection.string("collection"), recordID: try record.string("record"), key: try key.string("key"),
                  kind: parsedKind, rule: try rule.string("rule"), sides: entries, provisionalWinner: try Dot(parsing: try winner.string("winner")))
        guard self.id == (try id.string("id")) else { throw CoreError.malformed("conflict", json.canonicalText) }
    }
}
