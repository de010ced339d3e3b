//! A reference model of the merge rules that does not use the join: from the set of writes a
//! replica has seen, it finds the writes nobody superseded and picks the winner by the rule's
//! own definition. The simulated replicas must agree with it.
import OutpostCore

enum ReferenceModel {
    /// The writes of `key` among `changes` that no other write of `key` has seen.
    static func liveWrites(of key: String, in changes: [Change]) -> [(change: Change, entries: [FieldEntry])] {
        let writers = changes.filter { key == RecordState.presenceKey || $0.fields[key] != nil }
        func context(_ c: Change) -> VersionVector {
            key == RecordState.presenceKey ? c.presence.context : c.fields[key]!.context
        }
        func ownEntries(_ c: Change) -> [FieldEntry] {
            let state = key == RecordState.presenceKey ? c.presence : c.fields[key]!
            return state.entries.values.filter { $0.dot == c.dot }
        }
        return writers
            .filter { c in !writers.contains { other in other.dot != c.dot && context(other).covers(c.dot) } }
            .map { ($0, ownEntries($0)) }
    }

    /// The value a register rule must show, by its definition: greatest (HLC, replica id, counter)
    /// for `lww`/`manual`, greatest or smallest value for `max`/`min` with ties by `lww`.
    static func registerValue(of key: String, rule: MergeRule, in changes: [Change]) -> FieldValue? {
        let live = liveWrites(of: key, in: changes).flatMap(\.entries)
        func newer(_ a: FieldEntry, _ b: FieldEntry) -> Bool {
            (a.hlc.wallMillis, a.hlc.logical, a.dot.replica.rawValue, a.dot.counter)
                > (b.hlc.wallMillis, b.hlc.logical, b.dot.replica.rawValue, b.dot.counter)
        }
        let ordered = live.sorted { a, b in
            switch rule {
            case .max where a.value != b.value: return b.value < a.value
            case .min where a.value != b.value: return a.value < b.value
            default: return newer(a, b)
            }
        }
        return ordered.first?.value
    }

    /// Whether the record exists: some live write is a create/update, and if a live delete is
    /// concurrent with it, the collection's delete rule decides.
    static func exists(_ rules: CollectionRules, in changes: [Change]) -> Bool {
        let live = liveWrites(of: RecordState.presenceKey, in: changes).flatMap(\.entries)
        let alive = live.contains { $0.value == .bool(true) }
        let dead = live.contains { $0.value == .bool(false) }
        return alive && (!dead || rules.deleteRule == .updateWins)
    }
}
