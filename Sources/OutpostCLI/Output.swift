import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostTerminal
import Synchronization

/// How values and records look on a terminal and in `--json` output.
enum Output {
    /// The zone times are typed and shown in for this run (`OutpostCommand.zone`): set once
    /// when the command starts, before any value is read or printed.
    private static let zoneBox = Mutex(LocalZone(TimeZone.current))

    /// The zone times are typed and shown in.
    static var zone: LocalZone {
        get { zoneBox.withLock { $0 } }
        set { zoneBox.withLock { $0 = newValue } }
    }

    /// A value as a person reads it (a time on the local wall clock).
    static func text(_ value: FieldValue) -> String { CollectionSpec.display(value, zone: zone) }

    /// A moment (milliseconds since 1970) on the local wall clock.
    static func time(_ millis: Int64) -> String { zone.display(millis) }

    /// A value as plain JSON for scripts: decimals, dates and ids as strings, timestamps as
    /// ISO 8601 strings with the local offset, sets as arrays.
    static func json(_ value: FieldValue) -> JSONValue {
        switch value {
        case .null: .null
        case .bool(let b): .bool(b)
        case .integer(let n): .int(n)
        case .decimal(let d): .string(d.description)
        case .string(let s), .date(let s), .uuid(let s), .reference(let s): .string(s)
        case .timestamp(let ms): .string(zone.iso8601(ms))
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
        // Ids are never cut: a rep copies them into the next command.
        let whole = Set(spec.fields.filter { $0.type == .reference || $0.type == .uuid }.map(\.name))
        for r in records { rows.append([r.id] + columns.map { whole.contains($0) ? text(r.values[$0] ?? .null) : clip(text(r.values[$0] ?? .null)) }) }
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
