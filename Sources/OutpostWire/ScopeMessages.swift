import OutpostCore

/// A change of a pull page whose record existed before the page (``PullResponse/older``).
public struct OlderRecord: Codable, Hashable, Sendable {
    /// Its index in the page.
    public var index: Int
    /// The root its scope is decided on (the record itself for a root), if any.
    public var root: String?

    public init(index: Int, root: String?) {
        self.index = index
        self.root = root
    }
}

/// `POST /v1/sync/scope`: what of the puller's holdings left or entered its scope since `since`.
public struct ScopeRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var replica: String
    /// The scope-log position the client reached at this server, and the scope token it had
    /// then (both from the last answer; absent the first time).
    public var since: Int64?
    public var token: String?

    public init(replica: String, since: Int64?, token: String?) {
        self.replica = replica
        self.since = since
        self.token = token
    }
}

/// A record named by collection and id.
public struct RecordRef: Codable, Hashable, Sendable {
    public var collection: String
    public var id: String

    public init(collection: String, id: String) {
        self.collection = collection
        self.id = id
    }
}

/// The answer to ``ScopeRequest``.
public struct ScopeResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The log position and scope token to send next time.
    public var through: Int64
    public var token: String
    /// A full answer: `inScope` is every root in scope; the client evicts every root it holds
    /// outside it.
    public var full: Bool
    public var inScope: [String]?
    /// An incremental answer: records logged since, each in or out of scope now.
    public var entered: [RecordRef]?
    public var left: [RecordRef]?

    public init(through: Int64, token: String, full: Bool, inScope: [String]? = nil, entered: [RecordRef]? = nil, left: [RecordRef]? = nil) {
        self.through = through
        self.token = token
        self.full = full
        self.inScope = inScope
        self.entered = entered
        self.left = left
    }
}

/// `POST /v1/sync/records`: the history of records that entered the puller's scope, up to
/// `through` (a feed position of this server); for a root, with its current children.
public struct RecordsRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var replica: String
    public var records: [RecordRef]
    public var through: Int64

    /// Most records one request may name.
    public static let limit = 200

    public init(replica: String, records: [RecordRef], through: Int64) {
        self.replica = replica
        self.records = records
        self.through = through
    }
}

/// The answer to ``RecordsRequest``: changes in feed order (records out of scope are left out).
public struct RecordsResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var changes: [JSONValue]

    public init(changes: [JSONValue]) { self.changes = changes }
}
