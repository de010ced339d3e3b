import Foundation
import OutpostCore
import OutpostSchema

/// How a spreadsheet program in the rep's office writes a CSV file: the separator, the
/// encoding, and how numbers, dates and texts look in cells (`docs/spreadsheets.md`).
///
/// Excel in a Russian, Uzbek, Kazakh or Mongolian locale separates cells with `;` because the
/// comma is its decimal mark (`1 250 000,50`), writes dates as `25.11.2026`, and saves "CSV"
/// in Windows-1251; "CSV UTF-8" adds a byte-order mark.
struct SpreadsheetDialect: Sendable {
    /// The cell separator.
    var delimiter: Unicode.Scalar
    /// The text encoding.
    var encoding: TextEncoding

    /// Numbers use a decimal comma where cells are not separated by commas.
    var decimalComma: Bool { delimiter != "," }

    /// A name for messages: `;` or tab.
    var delimiterName: String { delimiter == "\t" ? "tab" : "'\(delimiter)'" }

    /// What Excel in those locales opens correctly: `;`, UTF-8 with a byte-order mark, CRLF.
    static let excel = SpreadsheetDialect(delimiter: ";", encoding: .utf8)

    /// A cell's text as Outpost's typed parser reads it for a field of `type`.
    func normalize(_ cell: String, type: FieldType) -> String {
        var text = cell
        // ="0012" keeps a spreadsheet from reading a text as a number or a formula.
        if text.hasPrefix("=\""), text.hasSuffix("\""), text.count >= 3 {
            text = String(text.dropFirst(2).dropLast()).replacingOccurrences(of: "\"\"", with: "\"")
        }
        switch type {
        case .integer, .decimal:
            // Thousands apart by spaces (plain, no-break, narrow no-break): 1 250 000,50.
            text = String(text.filter { $0 != " " && $0 != "\u{00A0}" && $0 != "\u{202F}" })
            if decimalComma || !text.contains(".") { text = text.replacingOccurrences(of: ",", with: ".") }
        case .date:
            text = Self.isoDay(text) ?? text
        case .timestamp:
            // 25.11.2026 10:00 → 2026-11-25 10:00 (the rep's clock).
            if let space = text.firstIndex(of: " "), let day = Self.isoDay(String(text[..<space])) {
                text = day + text[space...]
            } else if let day = Self.isoDay(text) {
                text = day
            }
        case .bool:
            switch text.lowercased() {
            case "истина", "да": text = "true"
            case "ложь", "нет": text = "false"
            default: break
            }
        default:
            break
        }
        return text
    }

    /// `25.11.2026` as `2026-11-25`; nil for any other text.
    static func isoDay(_ text: String) -> String? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].count == 4, (1...2).contains(parts[0].count), (1...2).contains(parts[1].count),
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        func two(_ s: Substring) -> String { s.count == 1 ? "0" + s : String(s) }
        return "\(parts[2])-\(two(parts[1]))-\(two(parts[0]))"
    }

    /// A value as a cell of this dialect: decimal commas, times on the rep's clock, and texts a
    /// spreadsheet would take for a number or a formula (`0012`, `+7 701`, `=SUM`) wrapped.
    func cell(_ value: FieldValue, zone: LocalZone) -> String {
        switch value {
        case .decimal(let d): return decimalComma ? d.description.replacingOccurrences(of: ".", with: ",") : d.description
        case .timestamp(let ms): return zone.display(ms)
        case .string(let s):
            let risky = s.first.map { "=+-@".contains($0) } ?? false
            let numeric = s.count > 1 && s.allSatisfy { $0.isASCII && $0.isNumber }
            return risky || numeric ? "=\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        default: return CollectionSpec.format(value)
        }
    }
}
