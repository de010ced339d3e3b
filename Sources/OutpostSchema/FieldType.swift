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

/// How big a value, a name or a set may be: a change is sent to every replica in scope, so one
/// oversized value would cost every laptop. `protocol/sync.md` lists them.
public enum ValueLimits {
    /// The most UTF-8 bytes of a `text` value (notes), and of a value of a field this schema does not know.
    public static let textBytes = 256 << 10
    /// The most UTF-8 bytes of any other value (names, phones, ids, pick-list values).
    public static let stringBytes = 4 << 10
    /// The most elements of a set, and the most bytes of one element.
    public static let setElements = 1_000
    public static let setElementBytes = 1 << 10
    /// The longest field or collection name, record id, and author name.
    public static let nameBytes = 128

    /// The most bytes a value of `type` may take.
    public static func maxBytes(_ type: FieldType?) -> Int {
        type == .text || type == nil ? textBytes : stringBytes
    }

    /// Why `value` is too large for a field of `type` (nil if it fits).
    public static func problem(_ value: FieldValue, type: FieldType?, field: String) -> String? {
        switch value {
        case .string(let s), .date(let s), .uuid(let s), .reference(let s):
            let limit = maxBytes(type)
            return s.utf8.count > limit ? "\(field) holds \(s.utf8.count) bytes; a \(type?.rawValue ?? "value") may hold at most \(limit)." : nil
        case .set(let items):
            if items.count > setElements { return "\(field) holds \(items.count) elements; a set may hold at most \(setElements)." }
            if let big = items.first(where: { $0.utf8.count > setElementBytes }) {
                return "An element of \(field) holds \(big.utf8.count) bytes; at most \(setElementBytes)."
            }
            return nil
        case .group(let parts):
            for (name, part) in parts { if let p = problem(part, type: type, field: "\(field).\(name)") { return p } }
            return nil
        default:
            return nil
        }
    }
}
