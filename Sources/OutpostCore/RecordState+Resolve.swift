/// A record as a user sees it: whether it exists, each field's value, and what waits for an admin.
public struct ResolvedRecord: Hashable, Sendable {
    /// False if the record was never created here or is deleted.
    public let exists: Bool
    /// The visible value of each field the schema knows (group members appear as plain fields).
    public let values: [String: FieldValue]
    /// Fields the schema does not know (written by a newer schema elsewhere), resolved by `lww`.
    public let unknownFields: [String: FieldValue]
    /// Conflicts recorded for this record, in key order.
    public let conflicts: [Conflict]
}

extension RecordState {
    /// The key under which presence conflicts are reported.
    public static let presenceKey = "_presence"

    /// Resolves the record under `rules`: every rule picks a visible value, every clash that
    /// needs an admin becomes a ``Conflict``.
    public func resolve(_ rules: CollectionRules, recordID: String) -> ResolvedRecord {
        var values: [String: FieldValue] = [:]
        var unknown: [String: FieldValue] = [:]
        var conflicts: [Conflict] = []
        for (key, state) in fields {
            guard let rule = rules.rule(of: key) else {
                unknown[key] = Self.resolve(state, rule: .lww).value
                continue
            }
            let (value, winner) = Self.resolve(state, rule: rule)
            if let members = rules.groups[key] {
                let parts: [String: FieldValue] = if case .group(let p) = value { p } else { [:] }
                for m in members { values[m] = parts[m] ?? .null }
            } else {
                values[key] = value
            }
            // Concurrent writes of one value are agreement, not a conflict: an admin's list holds
            // only real disagreements. The entries stay until a later write supersedes them.
            if rule == .manual, state.entries.count > 1, let winner, Set(state.entries.values.map(\.value.json.canonicalText)).count > 1 {
                conflicts.append(Conflict(
                    collection: rules.collection, recordID: recordID, key: key, kind: .concurrentValues,
                    rule: rule.rawValue, sides: Array(state.entries.values), provisionalWinner: winner.dot))
            }
        }
        let (exists, presenceConflict) = resolvePresence(rules, recordID: recordID)
        if let presenceConflict { conflicts.append(presenceConflict) }
        conflicts.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return ResolvedRecord(exists: exists, values: values, unknownFields: unknown, conflicts: conflicts)
    }

    /// Whether the record exists, and the delete-versus-update conflict if there is one.
    func resolvePresence(_ rules: CollectionRules, recordID: String) -> (Bool, Conflict?) {
        let entries = Array(presence.entries.values)
        let alive = entries.filter { $0.value == .bool(true) }
        let dead = entries.filter { $0.value != .bool(true) }
        switch (alive.isEmpty, dead.isEmpty) {
        case (true, true): return (false, nil)
        case (false, true): return (true, nil)
        case (true, false): return (false, nil)
        case (false, false):
            let exists = rules.deleteRule == .updateWins
            let winner = (exists ? alive : dead).max(by: FieldEntry.lwwPrecedes)!
            return (exists, Conflict(
                collection: rules.collection, recordID: recordID, key: Self.presenceKey, kind: .deleteVersusUpdate,
                rule: rules.deleteRule.rawValue, sides: entries, provisionalWinner: winner.dot))
        }
    }

    /// The visible value of one field state under `rule`, and the entry that provided it (registers only).
    static func resolve(_ state: FieldState, rule: MergeRule) -> (value: FieldValue, winner: FieldEntry?) {
        let entries = state.entries.values
        switch rule {
        case .set:
            return (FieldValue.makeSet(entries.compactMap { if case .string(let s) = $0.value { s } else { nil } }), nil)
        case .counter:
            var sum: Int64 = 0
            for e in entries { if case .integer(let n) = e.value { sum = sum.addingReportingOverflow(n).partialValue } }
            return (.integer(sum), nil)
        case .lww, .manual:
            let winner = entries.max(by: FieldEntry.lwwPrecedes)
            return (winner?.value ?? .null, winner)
        case .max:
            let winner = entries.max { $0.value != $1.value ? $0.value < $1.value : FieldEntry.lwwPrecedes($0, $1) }
            return (winner?.value ?? .null, winner)
        case .min:
            let winner = entries.max { $0.value != $1.value ? $1.value < $0.value : FieldEntry.lwwPrecedes($0, $1) }
            return (winner?.value ?? .null, winner)
        }
    }
}
