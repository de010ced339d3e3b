/// A typed value of one CRM field.
///
/// JSON form: `null`, `true`/`false`, integers and strings as themselves; the other types as a
/// one-member object naming the type: `{"dec":"10.5"}`, `{"date":"2026-11-24"}`,
/// `{"ts":1764000000000}`, `{"uuid":"…"}`, `{"ref":"…"}`, `{"set":["a","b"]}`, `{"group":{…}}`.
public enum FieldValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// An exact decimal (amounts, prices, probabilities).
    case decimal(DecimalNumber)
    case string(String)
    /// A calendar date, `YYYY-MM-DD`.
    case date(String)
    /// A point in time, milliseconds since 1970 UTC.
    case timestamp(Int64)
    /// A lowercase UUID that is not a link (for example an external key).
    case uuid(String)
    /// The id of another record (the schema says which collection).
    case reference(String)
    /// A set of strings, sorted and without repeats (the resolved value of a `set` field).
    case set([String])
    /// The members of a field group, won or lost together (amount with currency).
    case group([String: FieldValue])

    /// Builds a set value in its normal form (sorted by UTF-8 bytes, no repeats).
    public static func makeSet<S: Sequence>(_ items: S) -> FieldValue where S.Element == String {
        .set(Array(Set(items)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    /// The type's name as schemas and error messages spell it.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .integer: "integer"
        case .decimal: "decimal"
        case .string: "string"
        case .date: "date"
        case .timestamp: "timestamp"
        case .uuid: "uuid"
        case .reference: "reference"
        case .set: "set"
        case .group: "group"
        }
    }

    /// Position of the type in the cross-type order used by `max`/`min` (null lowest).
    var typeRank: Int {
        switch self {
        case .null: 0
        case .bool: 1
        case .integer, .decimal: 2
        case .string: 3
        case .date: 4
        case .timestamp: 5
        case .uuid: 6
        case .reference: 7
        case .set: 8
        case .group: 9
        }
    }

    /// Checks that a date is `YYYY-MM-DD` with a plausible month and day.
    public static func isValidDate(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D else { return false }
        let digits = [0, 1, 2, 3, 5, 6, 8, 9]
        guard digits.allSatisfy({ b[$0] >= 0x30 && b[$0] <= 0x39 }) else { return false }
        let month = Int(b[5] - 0x30) * 10 + Int(b[6] - 0x30)
        let day = Int(b[8] - 0x30) * 10 + Int(b[9] - 0x30)
        return (1...12).contains(month) && (1...31).contains(day)
    }

    /// Checks the 8-4-4-4-12 lowercase hexadecimal form.
    public static func isValidUUID(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == 0x2D else { return false }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) else { return false }
            }
        }
        return true
    }
}

extension FieldValue: Comparable {
    /// Total order for `max`/`min`: by type rank, then by value; integers and decimals compare by amount.
    public static func < (lhs: FieldValue, rhs: FieldValue) -> Bool {
        if lhs.typeRank != rhs.typeRank { return lhs.typeRank < rhs.typeRank }
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): return !a && b
        case (.integer(let a), .integer(let b)): return a < b
        case (.decimal(let a), .decimal(let b)): return a < b
        case (.integer(let a), .decimal(let b)):
            let da = try! DecimalNumber(String(a))
            return da == b ? true : da < b
        case (.decimal(let a), .integer(let b)):
            let db = try! DecimalNumber(String(b))
            return a < db
        case (.string(let a), .string(let b)), (.date(let a), .date(let b)),
             (.uuid(let a), .uuid(let b)), (.reference(let a), .reference(let b)):
            return a.utf8.lexicographicallyPrecedes(b.utf8)
        case (.timestamp(let a), .timestamp(let b)): return a < b
        default:
            return lhs.json.canonicalText.utf8.lexicographicallyPrecedes(rhs.json.canonicalText.utf8)
        }
    }
}

extension FieldValue: JSONRepresentable {
    public var json: JSONValue {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .integer(let i): .int(i)
        case .string(let s): .string(s)
        case .decimal(let d): .object(["dec": .string(d.description)])
        case .date(let d): .object(["date": .string(d)])
        case .timestamp(let t): .object(["ts": .int(t)])
        case .uuid(let u): .object(["uuid": .string(u)])
        case .reference(let r): .object(["ref": .string(r)])
        case .set(let items): .object(["set": .array(items.map { .string($0) })])
        case .group(let members): .object(["group": .object(members.mapValues(\.json))])
        }
    }

    public init(json: JSONValue) throws(CoreError) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .integer(i)
        case .string(let s): self = .string(s)
        case .array: throw CoreError.malformed("field value", json.canonicalText)
        case .object(let o):
            guard o.count == 1, let (tag, body) = o.first else {
                throw CoreError.malformed("field value", json.canonicalText)
            }
            switch tag {
            case "dec": self = .decimal(try DecimalNumber(try body.string("decimal")))
            case "date":
                let d = try body.string("date")
                guard Self.isValidDate(d) else { throw CoreError.malformed("date", d) }
                self = .date(d)
            case "ts": self = .timestamp(try body.int("timestamp"))
            case "uuid", "ref":
                let u = try body.string(tag)
                guard Self.isValidUUID(u) else { throw CoreError.malformed("uuid", u) }
                self = tag == "uuid" ? .uuid(u) : .reference(u)
            case "set":
                var items: [String] = []
                for item in try body.array("set") { items.append(try item.string("set item")) }
                self = Self.makeSet(items)
            case "group":
                var members: [String: FieldValue] = [:]
                for (k, v) in try body.object("group") { members[k] = try FieldValue(json: v) }
                self = .group(members)
            default:
                throw CoreError.malformed("field value", json.canonicalText)
            }
        }
    }
}
