import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostTerminal

/// How values and records look on a terminal and in `--json` output.
enum Output {
    /// A value as plain JSON for scripts: decimals, dates and ids as strings, timestamps as
    /// ISO 8601 strings, sets as arrays.
    static func json(_ value: FieldValue) -> JSONValue {
        switch value {
        case .null: .null
        case .bool(let b): .bool(b)
        case .integer(let n): .int(n)
        case .decimal(let d): .string(d.description)
        case .string(let s), .date(let s), .uuid(let s), .reference(let s): .string(s)
        case .timestamp(let ms): .string(CivilTime.iso8601(millis: ms))
        case .set(let items): .array(items.map { .string($0) })
        case .group(let parts): .object(parts.mapValues(json))
        }
    }

    static func json(_ record: RecordView) -> JSONValue {
        .object(["id": .string(record.id), "values": .object(record.values.filter { $0.value != .null }.mapValues(json))])
    }

    static func printJSON(_ value: JSONValue) { print(value.canonicalText) }

    /// A table for the terminal: id plus every field that has a value in some row.
    static func table(_ records: [RecordView], spec: CollectionSpec) -> String {
        let columns = spec.fields.map(\.name).filter { name in records.contains { ($0.values[name] ?? .null) != .null } }
        let header = ["id"] + columns
        var rows = [header]
        for r in records { rows.append([r.id] + columns.map { clip(CollectionSpec.format(r.values[$0] ?? .null)) }) }
        var widths = header.map { _ in 0 }
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.enumerated().map { n, row in
            let line = row.enumerated().map { i, cell in cell + String(repeating: " ", count: widths[i] - cell.count) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            return n == 0 ? Style.bold(line) : line
        }.joined(separator: "\n")
    }

    private static func clip(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 28 ? String(flat.prefix(27)) + "…" : flat
    }
}
