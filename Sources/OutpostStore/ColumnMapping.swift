import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// How typed field values live in the plain, SQL-readable collection tables.
///
/// Each type maps to one storage class, chosen by the field's type (never by the value), so a
/// value read back is exactly the value written: decimals and dates as text, timestamps as
/// ISO 8601 text in UTC with milliseconds (they sort correctly as text), booleans as 0/1, sets
/// as a JSON array of strings.
public enum ColumnMapping {
    /// The column value of a field value (by the field's type, never by the value's).
    public static func databaseValue(_ value: FieldValue, type: FieldType) -> DatabaseValue {
        switch (type, value) {
        case (_, .null): return .null
        case (.integer, .integer(let n)): return n.databaseValue
        case (.bool, .bool(let b)): return (b ? 1 : 0 as Int64).databaseValue
        case (.timestamp, .timestamp(let ms)): return CivilTime.iso8601(millis: ms).databaseValue
        case (.set, .set(let items)):
            let data = try! JSONSerialization.data(withJSONObject: items, options: [.withoutEscapingSlashes])
            return String(decoding: data, as: UTF8.self).databaseValue
        default: return CollectionSpec.format(value).databaseValue
        }
    }

    /// The value a column holds, as the field's type reads it; nil if the column holds something
    /// this mapping never writes.
    public static func fieldValue(_ db: DatabaseValue, type: FieldType) -> FieldValue? {
        switch db.storage {
        case .null: return .null
        case .int64(let n):
            switch type {
            case .integer: return .integer(n)
            case .bool: return n == 0 || n == 1 ? .bool(n == 1) : nil
            default: return nil
            }
        case .string(let s):
            switch type {
            case .string, .text: return .string(s)
            case .decimal: return (try? DecimalNumber(s)).map(FieldValue.decimal)
            case .date: return .date(s)
            case .timestamp: return CivilTime.parseMillis(s).map(FieldValue.timestamp)
            case .uuid: return .uuid(s)
            case .reference: return .reference(s)
            case .set:
                guard let items = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String] else { return nil }
                return .set(items)
            default: return nil
            }
        default: return nil
        }
    }
}

/// The plain table of one collection: its columns and the SQL to keep it up to date.
struct CollectionTable {
    let spec: CollectionSpec
    let upsertSQL: String
    let deleteSQL: String
    let selectSQL: String
    /// Names stored blobs refer to by number: fields, then groups, in schema order.
    let keys: BinaryCodec.KeyTable
    /// Position of each field among the columns after `id`.
    let fieldIndex: [String: Int]
    /// Each grouped field's group.
    let groupOfField: [String: GroupSpec]
    /// The collection's merge rules (built once: the spec computes them on each access).
    let rules: CollectionRules

    init(_ spec: CollectionSpec) {
        self.spec = spec
        keys = BinaryCodec.KeyTable(spec.fields.map(\.name) + spec.groups.map(\.name))
        fieldIndex = Dictionary(uniqueKeysWithValues: spec.fields.enumerated().map { ($1.name, $0) })
        var groupOf: [String: GroupSpec] = [:]
        for g in spec.groups { for m in g.members { groupOf[m] = g } }
        groupOfField = groupOf
        rules = spec.rules
        let table = spec.name.quotedDatabaseIdentifier
        let columns = ["id"] + spec.fields.map(\.name)
        let names = columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        let marks = columns.map { _ in "?" }.joined(separator: ", ")
        let updates = spec.fields.map { "\($0.name.quotedDatabaseIdentifier) = excluded.\($0.name.quotedDatabaseIdentifier)" }
            .joined(separator: ", ")
        upsertSQL = "INSERT INTO \(table) (\(names)) VALUES (\(marks)) ON CONFLICT(id) DO UPDATE SET \(updates)"
        deleteSQL = "DELETE FROM \(table) WHERE id = ?"
        selectSQL = "SELECT \(names) FROM \(table) WHERE id = ?"
    }

    /// Column values (in field order) for a resolved record.
    func columnValues(_ resolved: ResolvedRecord) -> [DatabaseValue] {
        spec.fields.map { ColumnMapping.databaseValue(resolved.values[$0.name] ?? .null, type: $0.type) }
    }

    /// Whether a stored key's value can be left out of the state blob and read back from the
    /// plain row instead: the row shows exactly this value, in the storage class of its field's
    /// type, so ``storedValue(of:columns:)`` restores it unchanged. Decided on typed values, without
    /// converting to and from column values.
    func isRestorable(_ key: String, _ value: FieldValue, resolved: ResolvedRecord) -> Bool {
        if let i = fieldIndex[key] {
            let field = spec.fields[i]
            guard field.rule.isRegister, groupOfField[key] == nil else { return false }
            return Self.roundTrips(value, as: field.type) && resolved.values[key] == value
        }
        guard let group = spec.groups.first(where: { $0.name == key }), case .group(let parts) = value,
              parts.keys.allSatisfy({ groupOfField[$0]?.name == key }) else { return false }
        for m in group.members {
            let v = parts[m] ?? .null
            guard v != .null || parts[m] == nil, let i = fieldIndex[m], Self.roundTrips(v, as: spec.fields[i].type),
                  (resolved.values[m] ?? .null) == v else { return false }
        }
        return true
    }

    /// Whether a value of this case reads back from its column as the same value.
    static func roundTrips(_ value: FieldValue, as type: FieldType) -> Bool {
        switch (type, value) {
        case (_, .null), (.string, .string), (.text, .string), (.integer, .integer), (.decimal, .decimal), (.bool, .bool),
             (.date, .date), (.uuid, .uuid), (.reference, .reference), (.set, .set):
            return true
        case (.timestamp, .timestamp(let ms)):
            // ISO 8601 text with a four-digit year: years 0 to 9999.
            return ms >= -62_167_219_200_000 && ms <= 253_402_300_799_999
        default:
            return false
        }
    }

    /// The value a stored key would be restored to from column values (field order): a plain
    /// field's value, or a group's members without nulls. nil for keys that are not columns.
    func storedValue(of key: String, columns: [DatabaseValue]) -> FieldValue? {
        guard let i = fieldIndex[key] else {
            guard let group = spec.groups.first(where: { $0.name == key }) else { return nil }
            var parts: [String: FieldValue] = [:]
            for m in group.members {
                guard let i = fieldIndex[m], let v = ColumnMapping.fieldValue(columns[i], type: spec.fields[i].type) else { return nil }
                if v != .null { parts[m] = v }
            }
            return .group(parts)
        }
        guard spec.fields[i].rule.isRegister, groupOfField[key] == nil else { return nil }
        return ColumnMapping.fieldValue(columns[i], type: spec.fields[i].type)
    }
}
