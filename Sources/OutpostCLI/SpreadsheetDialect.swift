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

    /// Why a cell cannot be read without guessing.
    struct Ambiguous: Error, CustomStringConvertible {
        let description: String
    }

    /// A cell's text as Outpost's typed parser reads it for a field of `type`. A number whose
    /// separators could mean two things (`1.250` where the decimal mark is a comma: 1250 or
    /// 1.25?) is refused, never guessed.
    func normalize(_ cell: String, type: FieldType) throws(Ambiguous) -> String {
        var text = cell
        if text.hasPrefix("=\""), text.hasSuffix("\""), text.count >= 3 {
            // ="0012" keeps a spreadsheet from reading a text as a number or a formula.
            text = String(text.dropFirst(2).dropLast()).replacingOccurrences(of: "\"\"", with: "\"")
        } else if text.count > 1, text.first == "'", let second = text.dropFirst().first, "=+-@".contains(second) {
            // A long text that would start a formula was written with an apostrophe first.
            text.removeFirst()
        }
        switch type {
        case .integer, .decimal:
            text = try number(text)
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

    /// A number as the parser reads it (`-1250000.5`): spaces between thousands dropped, the
    /// decimal mark made a point, thousands marks dropped only where they cannot be the decimal
    /// mark.
    func number(_ cell: String) throws(Ambiguous) -> String {
        let text = String(cell.filter { $0 != " " && $0 != "\u{00A0}" && $0 != "\u{202F}" })
        let (decimal, thousands): (Character, Character) = decimalComma ? (",", ".") : (".", ",")
        let hasDecimal = text.contains(decimal), hasThousands = text.contains(thousands)
        // 1.250.000,50 where the mark is a comma (1,250,000.50 where it is a point).
        func grouped(_ part: Substring) -> Bool {
            let groups = part.split(separator: thousands, omittingEmptySubsequences: false)
            guard groups.count > 1, let head = groups.first else { return false }
            let digits = head.hasPrefix("-") ? head.dropFirst() : head
            return (1...3).contains(digits.count) && digits.allSatisfy(\.isNumber)
                && groups.dropFirst().allSatisfy { $0.count == 3 && $0.allSatisfy(\.isNumber) }
        }
        switch (hasDecimal, hasThousands) {
        case (_, false):
            return decimal == "," ? text.replacingOccurrences(of: ",", with: ".") : text
        case (true, true):
            let whole = text[..<text.firstIndex(of: decimal)!]
            guard grouped(whole) else {
                throw Ambiguous(description: "'\(cell)' mixes '\(decimal)' and '\(thousands)' in a way that is not a number; this file's decimal mark is '\(decimal)'")
            }
            let plain = text.replacingOccurrences(of: String(thousands), with: "")
            return decimal == "," ? plain.replacingOccurrences(of: ",", with: ".") : plain
        case (false, true):
            if grouped(text[...]) {
                throw Ambiguous(description: "'\(cell)' could be \(text.replacingOccurrences(of: String(thousands), with: "")) or \(text.replacingOccurrences(of: String(thousands), with: ".")); this file's decimal mark is '\(decimal)', so write \(text.replacingOccurrences(of: String(thousands), with: "")) for the first or \(text.replacingOccurrences(of: String(thousands), with: String(decimal))) for the second")
            }
            // The other mark, once, not in groups of three: a decimal mark after all (1.5).
            return text.replacingOccurrences(of: ",", with: ".")
        }
    }

    /// `25.11.2026` as `2026-11-25`; nil for any other text.
    static func isoDay(_ text: String) -> String? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].count == 4, (1...2).contains(parts[0].count), (1...2).contains(parts[1].count),
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        func two(_ s: Substring) -> String { s.count == 1 ? "0" + s : String(s) }
        return "\(parts[2])-\(two(parts[1]))-\(two(parts[0]))"
    }

    /// Most characters Excel takes in a formula's text (`="…"`).
    static let formulaTextLimit = 255

    /// A value as a cell of this dialect: decimal commas, times on the rep's clock, and texts a
    /// spreadsheet would take for a number, a date or a formula (`0012`, `12.11`, `1,5`,
    /// `+7 701`, `=SUM`) kept as text: written `="…"`, or, when too long for that, with an
    /// apostrophe first (which import takes off again).
    func cell(_ value: FieldValue, zone: LocalZone) -> String {
        switch value {
        case .decimal(let d): return decimalComma ? d.description.replacingOccurrences(of: ".", with: ",") : d.description
        case .timestamp(let ms): return zone.display(ms)
        case .string(let s):
            let formula = s.first.map { "=+-@".contains($0) } ?? false
            // Only digits, separators and an exponent: Excel would make it a number or a date.
            let looksNumeric = s.contains(where: \.isNumber) && s.allSatisfy { ($0.isASCII && $0.isNumber) || " .,:/-+eE".contains($0) }
            guard formula || looksNumeric || (s.hasPrefix("'") && s.dropFirst().first.map { "=+-@".contains($0) } == true) else { return s }
            if s.count <= Self.formulaTextLimit { return "=\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            return "'" + s
        default: return CollectionSpec.format(value)
        }
    }
}
