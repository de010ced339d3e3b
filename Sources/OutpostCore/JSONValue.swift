/// A JSON document as plain values: the form in which core types are encoded, compared and hashed.
///
/// Numbers are 64-bit integers only: money and other fractions travel as exact decimal strings,
/// never as binary floating point.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The canonical text: object keys sorted by their UTF-8 bytes, no white space, strings
    /// escaped minimally (see `protocol/merge.md`, "Canonical encoding").
    public var canonicalText: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// The canonical encoding as UTF-8 bytes.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }

    /// The length in bytes of the canonical encoding, counted without building it: what a page
    /// bound is measured in.
    public var canonicalSize: Int {
        switch self {
        case .null: return 4
        case .bool(let b): return b ? 4 : 5
        case .int(let i): return i == 0 ? 1 : (i < 0 ? 1 : 0) + Self.digits(i.magnitude)
        case .string(let s): return Self.stringSize(s)
        case .array(let items): return 2 + max(0, items.count - 1) + items.reduce(0) { $0 + $1.canonicalSize }
        case .object(let members):
            return 2 + max(0, members.count - 1) + members.reduce(0) { $0 + Self.stringSize($1.key) + 1 + $1.value.canonicalSize }
        }
    }

    private static func digits(_ n: UInt64) -> Int {
        var n = n, count = 0
        while n > 0 { n /= 10; count += 1 }
        return count
    }

    private static func stringSize(_ s: String) -> Int {
        var size = 2
        for b in s.utf8 {
            switch b {
            case 0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x08, 0x0C: size += 2
            case ..<0x20: size += 6
            default: size += 1
            }
        }
        return size
    }

    private func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b): out.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8))
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                item.write(to: &out)
            }
            out.append(0x5D)
        case .object(let members):
            out.append(0x7B)
            let keys = members.count == 1 ? Array(members.keys) : members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(0x2C) }
                Self.writeString(key, to: &out)
                out.append(0x3A)
                members[key]!.write(to: &out)
            }
            out.append(0x7D)
        }
    }

    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            // Most strings need no escaping: copy them whole.
            if !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
                out.append(contentsOf: bytes)
                return
            }
            for b in bytes {
                switch b {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
                case 0x0D: out.append(contentsOf: [0x5C, 0x72])
                case 0x09: out.append(contentsOf: [0x5C, 0x74])
                case 0x08: out.append(contentsOf: [0x5C, 0x62])
                case 0x0C: out.append(contentsOf: [0x5C, 0x66])
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0x0F)]])
                default: out.append(b)
                }
            }
        }
        out.append(0x22)
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? c.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "Numbers must be integers; send fractions as decimal strings.")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue {
    /// The members of an object, or a `malformed` error naming `what`.
    func object(_ what: String) throws(CoreError) -> [String: JSONValue] {
        guard case .object(let o) = self else { throw CoreError.malformed(what, canonicalText) }
        return o
    }

    /// The items of an array, or a `malformed` error naming `what`.
    func array(_ what: String) throws(CoreError) -> [JSONValue] {
        guard case .array(let a) = self else { throw CoreError.malformed(what, canonicalText) }
        return a
    }

    /// The text of a string, or a `malformed` error naming `what`.
    func string(_ what: String) throws(CoreError) -> String {
        guard case .string(let s) = self else { throw CoreError.malformed(what, canonicalText) }
        return s
    }

    /// The value of an integer, or a `malformed` error naming `what`.
    func int(_ what: String) throws(CoreError) -> Int64 {
        guard case .int(let i) = self else { throw CoreError.malformed(what, canonicalText) }
        return i
    }
}

/// A core value with one JSON form, used for the wire, the canonical encoding and test vectors.
public protocol JSONRepresentable {
    /// The value as JSON.
    var json: JSONValue { get }
    /// Decodes the value, throwing ``CoreError/malformed(_:_:)`` on anything unexpected.
    init(json: JSONValue) throws(CoreError)
}

extension JSONRepresentable {
    /// The canonical encoding: identical bytes for identical values, on every replica.
    public var canonicalText: String { json.canonicalText }
}
