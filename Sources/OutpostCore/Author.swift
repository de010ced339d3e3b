/// Who made a write: the user and the device they used. Kept with every field write for the audit trail.
public struct Author: Hashable, Sendable {
    /// The user's name as enrolled.
    public let user: String
    /// The device (laptop, branch server) the write was made on.
    public let device: String

    /// Creates an author.
    public init(user: String, device: String) {
        self.user = user
        self.device = device
    }
}

extension Author: JSONRepresentable {
    public var json: JSONValue { .object(["u": .string(user), "d": .string(device)]) }

    public init(json: JSONValue) throws(CoreError) {
        let o = try json.object("author")
        guard let u = o["u"], let d = o["d"], o.count == 2 else { throw CoreError.malformed("author", json.canonicalText) }
        self.init(user: try u.string("author user"), device: try d.string("author device"))
    }
}
