extension JSONValue {
    /// Parses JSON text (RFC 8259) into a value, strictly: numbers must be 64-bit integers (no
    /// fraction or exponent), at most 64 levels of nesting, no trailing content.
    ///
    /// Much faster than `JSONDecoder` for ``JSONValue``, which is why the sync pages use it.
    public static func parse(_ bytes: [UInt8]) throws(CoreError) -> JSONValue {
        var p = Parser(bytes: bytes)
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.at == bytes.count else { throw p.fail("trailing characters") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var at = 0

        func fail(_ why: String) -> CoreError { .malformed("JSON", "\(why) at byte \(at)") }

        mutating func skipSpace() {
            while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 { at += 1 }
        }

        mutating func expect(_ literal: StaticString) throws(CoreError) {
            let n = literal.utf8CodeUnitCount
            guard at + n <= bytes.count else { throw fail("unexpected end") }
            let ok = literal.withUTF8Buffer { lit in (0..<n).allSatisfy { bytes[at + $0] == lit[$0] } }
            guard ok else { throw fail("unexpected word") }
            at += n
        }

        mutating func value(depth: Int) throws(CoreError) -> JSONValue {
            guard depth < 64 else { throw fail("nesting too deep") }
            guard at < bytes.count else { throw fail("unexpected end") }
            switch bytes[at] {
            case 0x7B: return try object(depth: depth)
            case 0x5B: return try array(depth: depth)
            case 0x22: return .string(try string())
            case 0x74: try expect("true"); return .bool(true)
            case 0x66: try expect("false"); return .bool(false)
            case 0x6E: try expect("null"); return .null
            case 0x2D, 0x30...0x39: return .int(try integer())
            default: throw fail("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(CoreError) -> JSONValue {
            at += 1
            var members: [String: JSONValue] = [:]
            skipSpace()
            if at < bytes.count, bytes[at] == 0x7D { at += 1; return .object(members) }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == 0x22 else { throw fail("expected a member name") }
                let key = try string()
                skipSpace()
                guard at < bytes.count, bytes[at] == 0x3A else { throw fail("expected ':'") }
                at += 1
                skipSpace()
                guard members[key] == nil else { throw fail("member \"\(key)\" appears twice") }
                members[key] = try value(depth: depth + 1)
                skipSpace()
                guard at < bytes.count else { throw fail("unexpected end") }
                if bytes[at] == 0x2C { at += 1; continue }
                if bytes[at] == 0x7D { at += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws(CoreError) -> JSONValue {
            at += 1
            var items: [JSONValue] = []
            skipSpace()
            if at < bytes.count, bytes[at] == 0x5D { at += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard at < bytes.count else { throw fail("unexpected end") }
                if bytes[at] == 0x2C { at += 1; continue }
                if bytes[at] == 0x5D { at += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func integer() throws(CoreError) -> Int64 {
            let start = at
            if bytes[at] == 0x2D { at += 1 }
            let digitsStart = at
            while at < bytes.count, bytes[at] >= 0x30, bytes[at] <= 0x39 { at += 1 }
            guard at > digitsStart else { throw fail("expected digits") }
            guard !(bytes[digitsStart] == 0x30 && at - digitsStart > 1) else { throw fail("leading zero") }
            if at < bytes.count, bytes[at] == 0x2E || bytes[at] == 0x65 || bytes[at] == 0x45 {
                throw fail("numbers must be integers; send fractions as decimal strings")
            }
            guard let n = Int64(String(decoding: bytes[start..<at], as: UTF8.self)) else { throw fail("integer out of range") }
            return n
        }

        mutating func string() throws(CoreError) -> String {
            at += 1
            let start = at
            // Fast path: no escapes.
            while at < bytes.count, bytes[at] != 0x22, bytes[at] != 0x5C, bytes[at] >= 0x20 { at += 1 }
            guard at < bytes.count else { throw fail("unterminated string") }
            if bytes[at] == 0x22 {
                defer { at += 1 }
                guard let s = String(validating: bytes[start..<at], as: UTF8.self) else { throw fail("invalid UTF-8") }
                return s
            }
            var out = Array(bytes[start..<at])
            while true {
                guard at < bytes.count else { throw fail("unterminated string") }
                let b = bytes[at]
                if b == 0x22 { at += 1; break }
                if b < 0x20 { throw fail("control character in string") }
                if b != 0x5C { out.append(b); at += 1; continue }
                at += 1
                guard at < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[at]
                at += 1
                switch e {
                case 0x22: out.append(0x22)
                case 0x5C: out.append(0x5C)
                case 0x2F: out.append(0x2F)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard at + 1 < bytes.count, bytes[at] == 0x5C, bytes[at + 1] == 0x75 else { throw fail("lone surrogate") }
                        at += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("lone surrogate")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default: throw fail("unknown escape")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8") }
            return s
        }

        mutating func hex4() throws(CoreError) -> UInt32 {
            guard at + 4 <= bytes.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[at]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                default: throw fail("bad \\u escape")
                }
                v = v << 4 | d
                at += 1
            }
            return v
        }
    }
}
