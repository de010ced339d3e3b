import OutpostCore

/// Messages that carry pages of changes, encoded and parsed by hand: `JSONEncoder` and
/// `JSONDecoder` are an order of magnitude slower on large pages of ``JSONValue``. The JSON is
/// the same as their `Codable` form (members sorted, as in the canonical encoding).
public protocol PageMessage: Sendable {
    /// The message as a JSON value.
    var jsonValue: JSONValue { get }
    /// Reads the message from a JSON value, or throws naming the member at fault.
    init(jsonValue: JSONValue) throws(WireError)
}

extension PageMessage {
    /// The JSON text as UTF-8 bytes.
    public var jsonBytes: [UInt8] { jsonValue.canonicalBytes }
}

func member(_ o: [String: JSONValue], _ name: String) throws(WireError) -> JSONValue {
    guard let v = o[name] else { throw WireError(.malformedRequest, message: "The message lacks \"\(name)\".") }
    return v
}

func integer(_ v: JSONValue, _ name: String) throws(WireError) -> Int64 {
    guard case .int(let n) = v else { throw WireError(.malformedRequest, message: "\"\(name)\" must be an integer.") }
    return n
}

extension PushRequest: PageMessage {
    public var jsonValue: JSONValue {
        .object(["protocol": .int(Int64(`protocol`)), "replica": .string(replica), "changes": .array(changes)])
    }

    public init(jsonValue: JSONValue) throws(WireError) {
        guard case .object(let o) = jsonValue else { throw WireError(.malformedRequest, message: "A push request must be a JSON object.") }
        guard case .string(let replica) = try member(o, "replica") else { throw WireError(.malformedRequest, message: "\"replica\" must be a string.") }
        guard case .array(let changes) = try member(o, "changes") else { throw WireError(.malformedRequest, message: "\"changes\" must be an array.") }
        self.init(replica: replica, changes: changes)
        self.protocol = Int(try integer(try member(o, "protocol"), "protocol"))
    }
}

extension PullResponse: PageMessage {
    public var jsonValue: JSONValue {
        var o: [String: JSONValue] = ["protocol": .int(Int64(`protocol`)), "changes": .array(changes), "cursor": .int(cursor), "more": .bool(more)]
        if let remaining { o["remaining"] = .int(Int64(remaining)) }
        return .object(o)
    }

    public init(jsonValue: JSONValue) throws(WireError) {
        guard case .object(let o) = jsonValue else { throw WireError(.malformedPage, message: "A pull response must be a JSON object.") }
        guard case .array(let changes) = try member(o, "changes") else { throw WireError(.malformedPage, message: "\"changes\" must be an array.") }
        guard case .bool(let more) = try member(o, "more") else { throw WireError(.malformedPage, message: "\"more\" must be true or false.") }
        let remaining: Int? = if case .int(let r)? = o["remaining"] { Int(r) } else { nil }
        self.init(changes: changes, cursor: try integer(try member(o, "cursor"), "cursor"), more: more, remaining: remaining)
        self.protocol = Int(try integer(try member(o, "protocol"), "protocol"))
    }
}
