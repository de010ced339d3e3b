/// One edit of one field, as a user asks for it.
public enum FieldWrite: Hashable, Sendable {
    /// Sets a value (on a `set` field: replaces the whole set; on a `counter`: adds the difference).
    case set(String, FieldValue)
    /// Adds an element to a `set` field.
    case add(String, String)
    /// Removes an element from a `set` field.
    case remove(String, String)
    /// Adds to a `counter` field (negative to subtract).
    case increment(String, Int64)

    /// The field written.
    public var field: String {
        switch self {
        case .set(let f, _), .add(let f, _), .remove(let f, _), .increment(let f, _): f
        }
    }

    var operationName: String {
        switch self {
        case .set: "set"
        case .add: "add"
        case .remove: "remove"
        case .increment: "increment"
        }
    }
}

/// The name, time and author of a write about to be made; the caller takes the dot from the
/// replica's durable counter and the HLC from its clock.
public struct WriteStamp: Hashable, Sendable {
    /// The new write's dot.
    public let dot: Dot
    /// The new write's HLC.
    public let hlc: HLCTimestamp
    /// Who writes.
    public let author: Author

    /// Creates a stamp.
    public init(dot: Dot, hlc: HLCTimestamp, author: Author) {
        self.dot = dot
        self.hlc = hlc
        self.author = author
    }

    func entry(_ value: FieldValue) -> FieldEntry {
        FieldEntry(dot: dot, hlc: hlc, author: author, value: value)
    }
}

extension RecordState {
    /// Builds the change for a create or update (apply it with ``applying(_:)``).
    ///
    /// Every written field supersedes what this replica has seen of it; concurrent writes it
    /// has not seen stay alive and are reconciled by the field's rule wherever they meet.
    /// Writing a deleted record revives it. Keys the rules do not know are written as `lww`.
    public func write(_ writes: [FieldWrite], stamp: WriteStamp, rules: CollectionRules, recordID: String) throws(CoreError) -> Change {
        var byKey: [String: [FieldWrite]] = [:]
        var order: [String] = []
        for w in writes {
            let key = rules.key(of: w.field)
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(w)
        }
        var written: [String: FieldState] = [:]
        for key in order {
            let current = fields[key] ?? FieldState()
            let rule = rules.rule(of: key) ?? .lww
            let ops = byKey[key]!
            if let members = rules.groups[key] {
                written[key] = try writeGroup(key, members: members, ops: ops, current: current, rule: rule, stamp: stamp)
                continue
            }
            switch rule {
            case .lww, .max, .min, .manual:
                var value: FieldValue = .null
                for op in ops {
                    guard case .set(_, let v) = op else {
                        throw CoreError.operationNotAllowed(field: op.field, operation: op.operationName, rule: rule)
                    }
                    value = v
                }
                written[key] = current.writing([stamp.entry(value)], dot: stamp.dot) { _ in true }
            case .set:
                written[key] = try writeSet(current, ops: ops, stamp: stamp)
            case .counter:
                written[key] = try writeCounter(current, ops: ops, stamp: stamp)
            }
        }
        let newPresence = presence.writing([stamp.entry(.bool(true))], dot: stamp.dot) { _ in true }
        return try Change(collection: rules.collection, recordID: recordID, dot: stamp.dot, hlc: stamp.hlc,
                          author: stamp.author, fields: written, presence: newPresence)
    }

    /// Builds the change that deletes the record: a tombstone with its own dot. Field states
    /// are kept (for history, for `update-wins` revival and for the admin).
    public func delete(stamp: WriteStamp, rules: CollectionRules, recordID: String) throws(CoreError) -> Change {
        let newPresence = presence.writing([stamp.entry(.bool(false))], dot: stamp.dot) { _ in true }
        return try Change(collection: rules.collection, recordID: recordID, dot: stamp.dot, hlc: stamp.hlc,
                          author: stamp.author, fields: [:], presence: newPresence)
    }

    private func writeGroup(_ key: String, members: [String], ops: [FieldWrite], current: FieldState,
                            rule: MergeRule, stamp: WriteStamp) throws(CoreError) -> FieldState {
        let (currentValue, _) = Self.resolve(current, rule: rule)
        var parts: [String: FieldValue] = if case .group(let p) = currentValue { p } else { [:] }
        for op in ops {
            guard case .set(let field, let v) = op else {
                throw CoreError.operationNotAllowed(field: op.field, operation: op.operationName, rule: rule)
            }
            parts[field] = v
        }
        // Nulls are left out so that "never set" and "set to null" encode alike.
        parts = parts.filter { $0.value != .null && members.contains($0.key) }
        return current.writing([stamp.entry(.group(parts))], dot: stamp.dot) { _ in true }
    }

    private func writeSet(_ current: FieldState, ops: [FieldWrite], stamp: WriteStamp) throws(CoreError) -> FieldState {
        var elements = Set(current.entries.values.compactMap { if case .string(let s) = $0.value { s } else { nil } })
        var touched = Set<String>()
        for op in ops {
            switch op {
            case .add(_, let item):
                elements.insert(item); touched.insert(item)
            case .remove(_, let item):
                elements.remove(item); touched.insert(item)
            case .set(_, .set(let items)):
                touched.formUnion(elements); touched.formUnion(items); elements = Set(items)
            case .set(_, .null):
                touched.formUnion(elements); elements = []
            default:
                throw CoreError.operationNotAllowed(field: op.field, operation: op.operationName, rule: .set)
            }
        }
        let added = touched.intersection(elements).map { stamp.entry(.string($0)) }
        return current.writing(added, dot: stamp.dot) { e in
            if case .string(let s) = e.value { touched.contains(s) } else { true }
        }
    }

    private func writeCounter(_ current: FieldState, ops: [FieldWrite], stamp: WriteStamp) throws(CoreError) -> FieldState {
        let replica = stamp.dot.replica
        var total = Self.resolve(current, rule: .counter).value
        var own: Int64 = 0
        for e in current.entries.values where e.dot.replica == replica {
            if case .integer(let n) = e.value { own = own.addingReportingOverflow(n).partialValue }
        }
        for op in ops {
            let delta: Int64
            switch op {
            case .increment(_, let n): delta = n
            case .set(_, .integer(let target)):
                guard case .integer(let now) = total else { delta = 0; break }
                delta = target.subtractingReportingOverflow(now).partialValue
            default:
                throw CoreError.operationNotAllowed(field: op.field, operation: op.operationName, rule: .counter)
            }
            own = own.addingReportingOverflow(delta).partialValue
            if case .integer(let now) = total { total = .integer(now.addingReportingOverflow(delta).partialValue) }
        }
        return current.writing([stamp.entry(.integer(own))], dot: stamp.dot) { $0.dot.replica == replica }
    }
}
