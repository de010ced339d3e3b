/// How concurrent writes to one field (or field group) are reconciled.
///
/// A write that has seen another always supersedes it; these rules only decide between writes
/// that were concurrent (neither writer saw the other's write).
public enum MergeRule: String, CaseIterable, Sendable {
    /// Last writer wins: greatest HLC, then greatest replica id.
    case lww
    /// The greatest value wins (ties by `lww`).
    case max
    /// The smallest value wins (ties by `lww`).
    case min
    /// An integer that replicas increment; concurrent increments add up.
    case counter
    /// A set of strings; concurrent adds and removes are both respected (an add the remover did not see survives).
    case set
    /// Like `lww` for the provisional value, but every concurrent value is kept and a conflict is reported for an admin.
    case manual

    /// True for the rules whose field holds one value chosen among concurrent writes.
    public var isRegister: Bool { self != .counter && self != .set }
}

/// What happens when a delete and an update of the same record are concurrent.
public enum DeleteRule: String, CaseIterable, Sendable {
    /// The update revives the record: a rep's offline work is never lost (the default).
    case updateWins = "update-wins"
    /// The record stays deleted; the update is kept in the record's state and shown in the conflict.
    case deleteWins = "delete-wins"
}

/// The merge rules of one collection, as the schema declares them.
///
/// Fields in a group are stored, merged and won together under the group's name.
public struct CollectionRules: Sendable {
    /// The collection's name (`accounts`, `deals`, ...).
    public let collection: String
    /// Rule of each stored key: a plain field's name, or a group's name.
    public let rules: [String: MergeRule]
    /// Member fields of each group, by group name.
    public let groups: [String: [String]]
    /// Delete-versus-update rule.
    public let deleteRule: DeleteRule
    /// Group name of each grouped field.
    private let groupOfField: [String: String]

    /// Creates rules. `fields` maps plain fields to rules; `groups` maps a group name to its rule
    /// and member fields (groups may only use register rules).
    public init(
        collection: String,
        fields: [String: MergeRule],
        groups: [String: (rule: MergeRule, members: [String])] = [:],
        deleteRule: DeleteRule = .updateWins
    ) {
        self.collection = collection
        var rules = fields
        var groupMembers: [String: [String]] = [:]
        var groupOf: [String: String] = [:]
        for (name, group) in groups {
            precondition(group.rule.isRegister, "field group \(name) needs a register rule")
            rules[name] = group.rule
            groupMembers[name] = group.members.sorted()
            for m in group.members { groupOf[m] = name }
        }
        self.rules = rules
        self.groups = groupMembers
        self.deleteRule = deleteRule
        self.groupOfField = groupOf
    }

    /// The stored key of a field: its group's name if it is in one, else its own name.
    public func key(of field: String) -> String { groupOfField[field] ?? field }

    /// The rule of a stored key; nil for a key the schema does not know.
    public func rule(of key: String) -> MergeRule? { rules[key] }
}
