#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Colors and aligned tables for people at a terminal: colors only when standard output is a
/// terminal, `NO_COLOR` is unset and `TERM` is not `dumb`, so scripts and pipes get plain text.
public enum Style {
    /// Whether this process writes colors (decided once, from standard output).
    public static let enabled: Bool = {
        let env = ProcessInfo.processInfo.environment
        return isatty(STDOUT_FILENO) == 1 && env["NO_COLOR"] == nil && env["TERM"] != "dumb"
    }()

    static func wrap(_ text: String, _ code: String) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    /// Headers and names.
    public static func bold(_ text: String) -> String { wrap(text, "1") }
    /// What needs the reader's action (a conflict, a revoked device, a failure).
    public static func alert(_ text: String) -> String { wrap(text, "31") }
    /// What went well.
    public static func ok(_ text: String) -> String { wrap(text, "32") }
    /// What matters less (ids, times).
    public static func dim(_ text: String) -> String { wrap(text, "2") }

    /// How many columns `text` takes on screen, escape codes left out.
    public static func width(_ text: String) -> Int {
        var count = 0
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if scalar == "m" { inEscape = false }
            } else if scalar == "\u{1B}" {
                inEscape = true
            } else {
                count += 1
            }
        }
        return count
    }
}

/// Prints rows under bold headers, columns aligned, values never cut (the last column runs on).
public func printTable(_ headers: [String], _ rows: [[String]]) {
    var widths = headers.map(Style.width)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], Style.width(cell)) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in
            i == cells.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - Style.width(cell)))
        }.joined(separator: "  ")
    }
    print(line(headers.map(Style.bold)))
    for row in rows { print(line(row)) }
}
