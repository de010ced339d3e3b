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
        var o = PullPage.members(cursor: cursor, more: more, remaining: remaining, older: older, protocol: `protocol`)
        o["changes"] = .array(changes)
        return .object(o)
    }

    public init(jsonValue: JSONValue) throws(WireError) {
        guard case .object(let o) = jsonValue else { throw WireError(.malformedPage, message: "A pull response must be a JSON object.") }
        guard case .array(let changes) = try member(o, "changes") else { throw WireError(.malformedPage, message: "\"changes\" must be an array.") }
        guard case .bool(let more) = try member(o, "more") else { throw WireError(.malformedPage, message: "\"more\" must be true or false.") }
        let remaining: Int? = if case .int(let r)? = o["remaining"] { Int(r) } else { nil }
        self.init(changes: changes, cursor: try integer(try member(o, "cursor"), "cursor"), more: more, remaining: remaining)
        self.protocol = Int(try integer(try member(o, "protocol"), "protocol"))
        if let list = o["older"] {
            guard case .array(let items) = list else { throw WireError(.malformedPage, message: "\"older\" must be an array.") }
            older = try items.map { item throws(WireError) -> OlderRecord in
                guard case .object(let r) = item, case .int(let index)? = r["index"], index >= 0, index < changes.count else {
                    throw WireError(.malformedPage, message: "Each of \"older\" must name the index of a change of the page.")
                }
                let root: String? = if case .string(let id)? = r["root"] { id } else { nil }
                return OlderRecord(index: Int(index), root: root)
            }
        }
    }
}

/// A pull page as the server sends it: its changes already in canonical JSON (a server keeps
/// each change's text once and sends it to every puller), the rest as in ``PullResponse``.
public struct PullPage: Sendable {
    /// Each change's canonical JSON, in feed order.
    public var changes: [[UInt8]]
    public var cursor: Int64
    public var more: Bool
    public var remaining: Int?
    public var older: [OlderRecord]?

    public init(changes: [[UInt8]], cursor: Int64, more: Bool, remaining: Int?, older: [OlderRecord]? = nil) {
        self.changes = changes
        self.cursor = cursor
        self.more = more
        self.remaining = remaining
        self.older = older
    }

    /// The members other than the changes, as both forms write them.
    static func members(cursor: Int64, more: Bool, remaining: Int?, older: [OlderRecord]?, protocol version: Int) -> [String: JSONValue] {
        var o: [String: JSONValue] = ["protocol": .int(Int64(version)), "cursor": .int(cursor), "more": .bool(more)]
        if let remaining { o["remaining"] = .int(Int64(remaining)) }
        if let older {
            o["older"] = .array(older.map { r in
                var item: [String: JSONValue] = ["index": .int(Int64(r.index))]
                if let root = r.root { item["root"] = .string(root) }
                return .object(item)
            })
        }
        return o
    }

    /// The same bytes as the ``PullResponse`` with these changes would encode to: "changes" is
    /// the first member in canonical (sorted) order, so it is written first and the others after.
    public var jsonBytes: [UInt8] {
        let rest = JSONValue.object(Self.members(cursor: cursor, more: more, remaining: remaining, older: older, protocol: ProtocolVersion.current)).canonicalBytes
        var out: [UInt8] = []
        out.reserveCapacity(changes.reduce(rest.count + 16) { $0 + $1.count + 1 })
        out.append(contentsOf: Array(#"{"changes":["#.utf8))
        for (i, change) in changes.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: change)
        }
        out.append(contentsOf: Array("],".utf8))
        out.append(contentsOf: rest.dropFirst())
        return out
    }

    /// The page as a client reads it.
    public func response() throws -> PullResponse {
        do { return try PullResponse(jsonValue: try JSONValue.parse(jsonBytes)) } catch let error as WireError { throw error } catch {
            throw WireError(.malformedPage, message: "\(error)")
        }
    }
}
