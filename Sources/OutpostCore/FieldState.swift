/// One write's contribution to a field: the value (or set element, or counter total) with the
/// dot, HLC and author of the write that put it there.
public struct FieldEntry: Hashable, Sendable {
    /// The write that made this entry.
    public let dot: Dot
    /// When it was made, for `lww` ordering.
    public let hlc: HLCTimestamp
    /// Who made it.
    public let author: Author
    /// A register's value, a set's element (a string) or a counter's per-replica total (an integer).
    public let value: FieldValue

    /// Creates an entry.
    public init(dot: Dot, hlc: HLCTimestamp, author: Author, value: FieldValue) {
        self.dot = dot
        self.hlc = hlc
        self.author = author
        self.value = value
    }

    /// The entry's identity within its field.
    public var key: EntryKey { EntryKey(dot: dot, value: value) }

    /// The order of the canonical encoding: by dot, then by the value's canonical text.
    public static func canonicalPrecedes(_ a: FieldEntry, _ b: FieldEntry) -> Bool {
        if a.dot != b.dot { return a.dot < b.dot }
        return a.value.json.canonicalText.utf8.lexicographicallyPrecedes(b.value.json.canonicalText.utf8)
    }

    /// `lww` order: HLC, then replica id, then counter (a total order on distinct writes).
    public static func lwwPrecedes(_ a: FieldEntry, _ b: FieldEntry) -> Bool {
        if a.hlc != b.hlc { return a.hlc < b.hlc }
        return a.dot < b.dot
    }
}

extension FieldEntry: JSONRepresentable {
    public var json: JSONValue {
        .object(["dot": .string(dot.description), "hlc": .string(hlc.description), "by": author.json, "v": value.json])
    }

    public init(json: JSONValue) throws(CoreError) {
        let o = try json.object("field entry")
        guard o.count == 4, let dot = o["dot"], let hlc = o["hlc"], let by = o["by"], let v = o["v"] else {
            throw CoreError.malformed("field entry", json.canonicalText)
        }
        self.init(
            dot: try Dot(parsing: try dot.string("dot")),
            hlc: try HLCTimestamp(parsing: try hlc.string("hlc")),
            author: try Author(json: by),
            value: try FieldValue(json: v))
    }
}

/// The replicated state of one field: the live entries and the field's causal context.
///
/// Identifies an entry: the write and its value. A set write that adds several elements makes
/// one entry per element under the same dot.
public struct EntryKey: Hashable, Sendable {
    /// The write that made the entry.
    public let dot: Dot
    /// The entry's value.
    public let value: FieldValue
}

/// Every field, whatever its merge rule, has this shape, and merging is the same join for all
/// of them (an entry survives unless the other side's context covers its dot and the other
/// side no longer holds it). The rule only decides how a write builds a new state and how the
/// entries resolve to one visible value. That is why a replica can merge and relay fields its
/// schema does not know.
///
/// Invariant: `context` covers the dot of every entry.
public struct FieldState: Hashable, Sendable {
    /// Live entries: several of them for concurrent register writes, set elements or counter totals.
    public private(set) var entries: [EntryKey: FieldEntry]
    /// Every write to this field that this state reflects (directly or by having superseded it).
    public private(set) var context: VersionVector

    /// The state of a field nobody has written.
    public init() {
        entries = [:]
        context = VersionVector()
    }

    /// Creates a state from parts; throws if an entry's dot is not in the context.
    public init(entries: [FieldEntry], context: VersionVector) throws(CoreError) {
        var byKey: [EntryKey: FieldEntry] = [:]
        for e in entries {
            guard context.covers(e.dot) else { throw CoreError.inconsistentChange("entry \(e.dot) is outside its field's context") }
            guard byKey[e.key] == nil else { throw CoreError.inconsistentChange("entry \(e.dot) appears twice") }
            byKey[e.key] = e
        }
        self.entries = byKey
        self.context = context
    }

    /// True when no write has touched the field.
    public var isEmpty: Bool { entries.isEmpty && context.isEmpty }

    /// Entries in dot order, as the canonical encoding lists them.
    public var sortedEntries: [FieldEntry] { entries.values.sorted(by: FieldEntry.canonicalPrecedes) }

    /// The join: commutative, associative and idempotent.
    public func merged(with other: FieldState) -> FieldState {
        if other.isEmpty || self == other { return self }
        if isEmpty { return other }
        var result = FieldState()
        result.context = context.merged(with: other.context)
        var kept: [EntryKey: FieldEntry] = [:]
        kept.reserveCapacity(entries.count + other.entries.count)
        for (key, mine) in entries {
            if let theirs = other.entries[key] {
                // One dot names one write; if a forged or corrupt copy differs in its stamp,
                // pick by a rule every replica applies the same way.
                kept[key] = mine == theirs || mine.json.canonicalText <= theirs.json.canonicalText ? mine : theirs
            } else if !other.context.covers(key.dot) {
                kept[key] = mine
            }
        }
        for (key, theirs) in other.entries where entries[key] == nil && !context.covers(key.dot) {
            kept[key] = theirs
        }
        result.entries = kept
        return result
    }

    /// The state after this replica writes `newEntries`, superseding the entries `superseded` selects.
    ///
    /// The written state carries the full context of what the writer saw, so it can be shipped
    /// as the change itself and merged anywhere in any order.
    func writing(_ newEntries: [FieldEntry], dot: Dot, superseding superseded: (FieldEntry) -> Bool) -> FieldState {
        var result = self
        result.entries = entries.filter { !superseded($0.value) }
        for e in newEntries { result.entries[e.key] = e }
        result.context.record(dot)
        return result
    }
}

extension FieldState: JSONRepresentable {
    public var json: JSONValue {
        .object([
            "e": .array(sortedEntries.map(\.json)),
            "vv": context.json,
        ])
    }

    public init(json: JSONValue) throws(CoreError) {
        let o = try json.object("field state")
        guard o.count == 2, let e = o["e"], let vv = o["vv"] else { throw CoreError.malformed("field state", json.canonicalText) }
        var entries: [FieldEntry] = []
        for item in try e.array("field entries") { entries.append(try FieldEntry(json: item)) }
        try self.init(entries: entries, context: try VersionVector(json: vv))
    }
}

extension VersionVector: JSONRepresentable {
    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: counters.map { ($0.key.rawValue, JSONValue.int(Int64(clamping: $0.value))) }))
    }

    public init(json: JSONValue) throws(CoreError) {
        var counters: [ReplicaID: UInt64] = [:]
        for (k, v) in try json.object("version vector") {
            let n = try v.int("version vector counter")
            guard n > 0 else { throw CoreError.malformed("version vector counter", String(n)) }
            counters[try ReplicaID(k)] = UInt64(n)
        }
        self.init(counters)
    }
}
