/// Reading and writing CSV (RFC 4180): comma-separated, `"` quoting with `""` for a quote,
/// LF or CRLF line ends, UTF-8 (a leading byte-order mark is skipped).
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

    /// Parses a whole file. Throws on invalid UTF-8 or an unterminated quote, naming the line.
    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> [Record] {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        guard let text = String(validating: body, as: UTF8.self) else {
            var line = 1
            var valid = body.startIndex
            // Find the first line with a byte sequence that is not UTF-8.
            for (i, b) in body.enumerated() where b == 0x0A {
                let end = body.startIndex + i
                if String(validating: body[valid..<end], as: UTF8.self) == nil { break }
                valid = end + 1
                line += 1
            }
            throw ParseError(line: line, reason: "the file is not UTF-8 text; save it as UTF-8 (CSV UTF-8 in spreadsheet programs) and import again")
        }
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
            case ",":
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
    public static func line(_ cells: [String]) -> String {
        cells.map { cell in
            let needsQuotes = cell.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                || cell.first?.isWhitespace == true || cell.last?.isWhitespace == true
            guard needsQuotes else { return cell }
            var quoted = "\""
            for ch in cell { quoted += ch == "\"" ? "\"\"" : String(ch) }
            return quoted + "\""
        }.joined(separator: ",") + "\n"
    }
}
