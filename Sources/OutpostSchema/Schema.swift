import OutpostCore

/// One field of a collection, as the schema declares it.
public struct FieldSpec: Sendable, Equatable {
    /// Column and field name (`[a-z][a-z0-9_]*`).
    public let name: String
    /// The value type.
    public let type: FieldType
    /// Whether a record must have a non-null value (checked on local writes and imports).
    public let required: Bool
    /// The merge rule (for a grouped field: the group's rule).
    public let rule: MergeRule
    /// For `reference` fields: the collection pointed to.
    public let references: String?
    /// Allowed values for a `string` field (a pick list such as deal stages), or nil for any.
    public let allowedValues: [String]?
    /// What a new record gets when the field is not given: a value as typed (`open`), or `now`
    /// for a timestamp or a date (`protocol/schema.md`).
    public let defaultText: String?
}

/// Fields merged and won together (amount with its currency, the parts of an address).
public struct GroupSpec: Sendable, Equatable {
    /// The group's name; its state is stored under this key.
    public let name: String
    /// Member field names.
    public let members: [String]
    /// `lww` or `manual`.
    public let rule: MergeRule
}

/// A key that marks two records as probable duplicates when their normalized values match.
public struct DuplicateKey: Sendable, Equatable {
    /// How a value is normalized before comparing.
    public enum Normalization: String, Sendable {
        /// Letters and digits only, upper-cased (tax ids).
        case alnum
        /// International form, the last eight digits (``PhoneMatching``).
        case phone
        /// Trimmed and lower-cased (e-mail addresses).
        case email
        /// Across scripts and spellings, legal forms set aside (``NameMatching``).
        case text
    }

    /// The key's name.
    public let name: String
    /// Fields whose normalized values together form the key.
    public let fields: [String]
    /// The normalization.
    public let normalize: Normalization

    /// Creates a key.
    public init(name: String, fields: [String], normalize: Normalization) {
        self.name = name
        self.fields = fields
        self.normalize = normalize
    }
}

/// One collection: its fields, groups, delete rule, parent, scope and duplicate keys.
public struct CollectionSpec: Sendable, Equatable {
    /// The collection (and table) name.
    public let name: String
    /// Fields in declaration order (the column order of the plain table).
    public let fields: [FieldSpec]
    /// Field groups.
    public let groups: [GroupSpec]
    /// Delete versus concurrent update.
    public let deleteRule: DeleteRule
    /// The reference field that points to the parent record (contacts → account), if any.
    public let parentField: String?
    /// Fields a user's scope is decided on (only on the scope root, `accounts`).
    public let scopeFields: [String]
    /// Keys for probable-duplicate detection.
    public let duplicateKeys: [DuplicateKey]
    /// Reference data: written at head office only, read everywhere.
    public let isReferenceData: Bool

    /// The field named `name`, if declared.
    public func field(_ name: String) -> FieldSpec? { fields.first { $0.name == name } }

    /// The merge rules the core needs.
    public var rules: CollectionRules {
        let grouped = Set(groups.flatMap(\.members))
        var plain: [String: MergeRule] = [:]
        for f in fields where !grouped.contains(f.name) { plain[f.name] = f.rule }
        var groupRules: [String: (rule: MergeRule, members: [String])] = [:]
        for g in groups { groupRules[g.name] = (g.rule, g.members) }
        return CollectionRules(collection: name, fields: plain, groups: groupRules, deleteRule: deleteRule)
    }
}

/// A whole schema: the collections every replica of a deployment shares.
///
/// The schema is data: a JSON file (see `protocol/schema.md`) read at start-up. Adding a field
/// or a collection needs no code change; a replica migrates its tables when it opens.
public struct Schema: Sendable, Equatable {
    /// Increases whenever head office publishes a changed schema.
    public let version: Int
    /// Collections in declaration order.
    public let collections: [CollectionSpec]
    /// The schema file this schema was read from (replicas store it to detect changes).
    public let fileJSON: String

    /// The collection named `name`, or a clear error listing the known ones.
    public func collection(_ name: String) throws(SchemaError) -> CollectionSpec {
        guard let c = collections.first(where: { $0.name == name }) else {
            let known = collections.map(\.name).joined(separator: ", ")
            throw SchemaError(.unknownCollection, "There is no collection '\(name)'. Known collections: \(known).")
        }
        return c
    }

    /// The collection scopes are decided on (the one that declares scope fields), if any.
    public var scopeRoot: CollectionSpec? { collections.first { !$0.scopeFields.isEmpty } }

    /// Parses a user's scope against this schema's scope fields.
    public func scope(_ text: String) throws(ScopeError) -> Scope {
        try Scope(parsing: text, fields: scopeRoot?.scopeFields ?? [])
    }
}
