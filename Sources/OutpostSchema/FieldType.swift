import OutpostCore

/// The type of a schema field; decides its SQLite column, how text is parsed and which rules fit.
public enum FieldType: String, CaseIterable, Sendable {
    case string, text, integer, decimal, bool, date, timestamp, uuid, reference, set

    /// The rule a field of this type gets when the schema names none.
    public var defaultRule: MergeRule { self == .set ? .set : .lww }

    /// Whether `rule` makes sense for this type.
    public func allows(_ rule: MergeRule) -> Bool {
        switch rule {
        case .set: self == .set
        case .counter: self == .integer
        case .max, .min: [.integer, .decimal, .date, .timestamp, .string].contains(self)
        case .lww, .manual: self != .set
        }
    }

    /// The declared SQLite column type (plain tables stay readable with the `sqlite3` shell).
    public var sqliteType: String {
        switch self {
        case .integer, .bool: "INTEGER"
        default: "TEXT"
        }
    }

    /// Whether `value` is of this type (null is accepted here; `required` is checked separately).
    public func accepts(_ value: FieldValue) -> Bool {
        switch (self, value) {
        case (_, .null): true
        case (.string, .string), (.text, .string), (.integer, .integer), (.decimal, .decimal),
             (.decimal, .integer), (.bool, .bool), (.date, .date), (.timestamp, .timestamp),
             (.uuid, .uuid), (.reference, .reference), (.set, .set): true
        default: false
        }
    }
}
