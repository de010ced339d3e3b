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
    public var canonicalText: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// The canonical encoding as UTF-8 bytes.
    public var canonicalBytes: [UInt8] { Array(canonicalText.utf8) }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
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
