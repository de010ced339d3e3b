/// Reading and writing CSV (RFC 4180) as spreadsheets write it: `,`, `;` or tab between
/// cells, `"` quoting with `""` for a quote, LF or CRLF line ends.
public enum CSV {
    /// A parsed record with the line it starts on.
    public struct Record: Equatable, Sendable {
        /// 1-based line number of the record's first character.
        public let line: Int
        /// The cells.
        public let cells: [String]
    }

    /// Why a file could not be read as CSV.
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        /// 1-based line number.
        public let line: Int
        /// What is wrong.
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// The cell separators a file may use.
    public static let delimiters: [Unicode.Scalar] = [",", ";", "\t"]

    /// Parses a whole UTF-8 file (a leading byte-order mark is skipped), cells separated by
    /// commas. Throws on invalid UTF-8 or an unterminated quote, naming the line.
    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> [Record] {
        do {
            return try parse(text: TextEncoding.decode(bytes, as: .utf8).text, delimiter: ",")
        } catch let error as TextEncoding.DecodeError {
            throw ParseError(line: error.line, reason: error.reason)
        } catch let error as ParseError {
            throw error
        } catch {
            throw ParseError(line: 1, reason: "\(error)")
        }
    }

    /// The separator a file uses: of `,`, `;` and tab, the one found most often outside quotes
    /// on its first line (the header); a comma when there is none.
    public static func detectDelimiter(_ text: String) -> Unicode.Scalar {
        var counts: [Unicode.Scalar: Int] = [:]
        var inQuotes = false
        for c in text.unicodeScalars {
            if c == "\"" { inQuotes.toggle(); continue }
            if !inQuotes && (c == "\n" || c == "\r") { break }
            if !inQuotes && delimiters.contains(c) { counts[c, default: 0] += 1 }
        }
        return delimiters.max { counts[$0, default: 0] < counts[$1, default: 0] }.flatMap { counts[$0, default: 0] > 0 ? $0 : nil } ?? ","
    }

    /// Parses text whose cells are separated by `delimiter`. Throws on an unterminated quote,
    /// naming the line.
    public static func parse(text: String, delimiter: Unicode.Scalar) throws(ParseError) -> [Record] {
        var records: [Record] = []
        var cells: [String] = []
        var cell = ""
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var quoteLine = 1
        var atCellStart = true
        var chars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar?
        func next() -> Unicode.Scalar? {
            if let p = pending { pending = nil; return p }
            return chars.next()
        }
        while let c = next() {
            if inQuotes {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { cell.unicodeScalars.append("\""); continue }
                        pending = n
                    }
                    inQuotes = false
                } else {
                    if c == "\n" { line += 1 }
                    cell.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atCellStart:
                inQuotes = true
                quoteLine = line
                atCellStart = false
            case delimiter:
                cells.append(cell); cell = ""; atCellStart = true
            case "\r":
                if let n = next(), n != "\n" { pending = n }
                fallthrough
            case "\n":
                cells.append(cell); cell = ""; atCellStart = true
                if !(cells.count == 1 && cells[0].isEmpty) { records.append(Record(line: recordLine, cells: cells)) }
                cells = []
                line += 1
                recordLine = line
            default:
                cell.unicodeScalars.append(c)
                atCellStart = false
            }
        }
        if inQuotes { throw ParseError(line: quoteLine, reason: "a quoted cell is never closed; check the quotes") }
        if !cell.isEmpty || !cells.isEmpty {
            cells.append(cell)
            records.append(Record(line: recordLine, cells: cells))
        }
        return records
    }

    /// One CSV line (with LF) for the cells, quoting where needed.
    public static func line(_ cells: [String]) -> String { line(cells, delimiter: ",", end: "\n") }

    /// One line of cells separated by `delimiter`, quoting where needed, ending with `end`.
    public static func line(_ cells: [String], delimiter: Unicode.Scalar, end: String) -> String {
        cells.map { cell in
            let needsQuotes = cell.unicodeScalars.contains(where: { $0 == delimiter || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                || cell.first?.isWhitespace == true || cell.last?.isWhitespace == true
            guard needsQuotes else { return cell }
            var quoted = "\""
            for ch in cell { quoted += ch == "\"" ? "\"\"" : String(ch) }
            return quoted + "\""
        }.joined(separator: String(delimiter)) + end
    }
}
