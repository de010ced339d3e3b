import Foundation

/// The encodings spreadsheets in Outpost's markets save text in: UTF-8 (with or without a
/// byte-order mark), UTF-16 (Excel's "Unicode Text", always with a mark) and Windows-1251
/// (Excel's "CSV" in a Russian, Uzbek or Kazakh locale).
enum TextEncoding: String, CaseIterable, Sendable {
    case utf8 = "utf-8", utf16 = "utf-16", windows1251 = "windows-1251"

    /// The encoding a name on the command line means (`cp1251`, `UTF8` and such included).
    init?(name: String) {
        switch name.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "utf-8", "utf8": self = .utf8
        case "utf-16", "utf16", "unicode": self = .utf16
        case "windows-1251", "cp1251", "win1251", "1251": self = .windows1251
        default: return nil
        }
    }

    /// Why bytes could not be read as text: what to do, and the first line at fault.
    struct DecodeError: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "line \(line): \(reason)" }
    }

    /// Decodes a file's bytes: with `encoding`, as that; otherwise by its byte-order mark, then
    /// as UTF-8 when it is valid UTF-8, then as Windows-1251 when its letters look Cyrillic.
    /// Returns the text (without the mark) and the encoding used.
    static func decode(_ bytes: [UInt8], as encoding: TextEncoding? = nil) throws(DecodeError) -> (text: String, encoding: TextEncoding) {
        var body = bytes[...]
        let utf8Mark = body.starts(with: [0xEF, 0xBB, 0xBF])
        let utf16Mark = body.starts(with: [0xFF, 0xFE]) || body.starts(with: [0xFE, 0xFF])
        switch encoding ?? (utf16Mark ? .utf16 : nil) {
        case .utf16?:
            guard let text = String(data: Data(body), encoding: .utf16), utf16Mark || body.count % 2 == 0 else {
                throw DecodeError(line: 1, reason: "the file is not UTF-16 text; check --encoding")
            }
            return (text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text, .utf16)
        case .windows1251?:
            return (windows1251(body), .windows1251)
        case .utf8?, nil:
            if utf8Mark { body = body.dropFirst(3) }
            if let text = String(validating: body, as: UTF8.self) { return (text, .utf8) }
            if encoding == nil, !utf8Mark, looksCyrillic(body) { return (windows1251(body), .windows1251) }
            let line = firstInvalidLine(body)
            throw DecodeError(line: line, reason: encoding == .utf8 || utf8Mark
                ? "the file is not UTF-8 text; save it as CSV UTF-8, or give the encoding it has with --encoding"
                : "the file is not UTF-8 text, nor Cyrillic Windows-1251; save it as CSV UTF-8, or give its encoding with --encoding")
        }
    }

    /// Whether bytes that are not UTF-8 read as Cyrillic words in Windows-1251: their high
    /// bytes come in runs (whole words of Cyrillic letters). A Western file (Latin-1) has them
    /// one at a time inside Latin words ("München"), and is refused rather than misread.
    static func looksCyrillic(_ bytes: ArraySlice<UInt8>) -> Bool {
        let all = Array(bytes)
        var high = 0, insideLatin = 0
        for (i, byte) in all.enumerated() where byte >= 0x80 {
            high += 1
            let before = i > 0 ? all[i - 1] : 0x20, after = i + 1 < all.count ? all[i + 1] : 0x20
            func isLatinLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
            if isLatinLetter(before) || isLatinLetter(after) { insideLatin += 1 }
            if byte == 0x98 { return false }  // not a character in Windows-1251
        }
        return high > 0 && insideLatin * 10 <= high
    }

    static func windows1251(_ bytes: ArraySlice<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in bytes {
            text.append(byte < 0x80 ? Unicode.Scalar(byte) : Unicode.Scalar(windows1251High[Int(byte) - 0x80])!)
        }
        return String(text)
    }

    /// Encodes text in Windows-1251, or nil with the first character it cannot hold.
    static func encodeWindows1251(_ text: String) -> (bytes: [UInt8]?, unencodable: Character?) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for ch in text {
            var encoded = true
            for scalar in ch.unicodeScalars {
                if scalar.value < 0x80 { bytes.append(UInt8(scalar.value)); continue }
                guard let index = windows1251High.firstIndex(of: UInt16(clamping: scalar.value)), scalar.value <= 0xFFFF, scalar.value != 0xFFFD else {
                    encoded = false
                    break
                }
                bytes.append(UInt8(0x80 + index))
            }
            if !encoded { return (nil, ch) }
        }
        return (bytes, nil)
    }

    private static func firstInvalidLine(_ body: ArraySlice<UInt8>) -> Int {
        var line = 1
        var start = body.startIndex
        for index in body.indices where body[index] == 0x0A {
            if String(validating: body[start..<index], as: UTF8.self) == nil { return line }
            start = index + 1
            line += 1
        }
        return line
    }

    /// Windows-1251 bytes 0x80-0xFF as Unicode (0x98 is no character).
    static let windows1251High: [UInt16] = [
        0x0402, 0x0403, 0x201A, 0x0453, 0x201E, 0x2026, 0x2020, 0x2021, 0x20AC, 0x2030, 0x0409, 0x2039, 0x040A, 0x040C, 0x040B, 0x040F,
        0x0452, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0xFFFD, 0x2122, 0x0459, 0x203A, 0x045A, 0x045C, 0x045B, 0x045F,
        0x00A0, 0x040E, 0x045E, 0x0408, 0x00A4, 0x0490, 0x00A6, 0x00A7, 0x0401, 0x00A9, 0x0404, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x0407,
        0x00B0, 0x00B1, 0x0406, 0x0456, 0x0491, 0x00B5, 0x00B6, 0x00B7, 0x0451, 0x2116, 0x0454, 0x00BB, 0x0458, 0x0405, 0x0455, 0x0457,
        0x0410, 0x0411, 0x0412, 0x0413, 0x0414, 0x0415, 0x0416, 0x0417, 0x0418, 0x0419, 0x041A, 0x041B, 0x041C, 0x041D, 0x041E, 0x041F,
        0x0420, 0x0421, 0x0422, 0x0423, 0x0424, 0x0425, 0x0426, 0x0427, 0x0428, 0x0429, 0x042A, 0x042B, 0x042C, 0x042D, 0x042E, 0x042F,
        0x0430, 0x0431, 0x0432, 0x0433, 0x0434, 0x0435, 0x0436, 0x0437, 0x0438, 0x0439, 0x043A, 0x043B, 0x043C, 0x043D, 0x043E, 0x043F,
        0x0440, 0x0441, 0x0442, 0x0443, 0x0444, 0x0445, 0x0446, 0x0447, 0x0448, 0x0449, 0x044A, 0x044B, 0x044C, 0x044D, 0x044E, 0x044F,
    ]
}
