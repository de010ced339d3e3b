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
    /// The roots the client holds, sent when the server asks for them (a full answer): the
    /// server names which of them left the scope, never one it merely does not hold.
    public var held: [String]?
    /// With `held`: the children it holds without their account (judged one by one).
    public var heldLoose: [RecordRef]?

    public init(replica: String, since: Int64?, token: String?, held: [String]? = nil) {
        self.replica = replica
        self.since = since
        self.token = token
        self.held = held
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
    /// A full answer (no position here, or the scope changed): computed against `held`.
    public var full: Bool
    /// The server needs the client's held roots for a full answer: ask again with `held`.
    public var sendHeld: Bool?
    /// Records that entered the scope (the client fetches those it lacks) and records it holds
    /// that left it (the client evicts them).
    public var entered: [RecordRef]?
    public var left: [RecordRef]?

    public init(through: Int64, token: String, full: Bool, sendHeld: Bool? = nil, entered: [RecordRef]? = nil, left: [RecordRef]? = nil) {
        self.through = through
        self.token = token
        self.full = full
        self.sendHeld = sendHeld
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
    /// Continue after this feed position (the previous answer's `next`).
    public var after: Int64?

    /// Most records one request may name.
    public static let limit = 200

    public init(replica: String, records: [RecordRef], through: Int64) {
        self.replica = replica
        self.records = records
        self.through = through
    }
}

/// A record whose history was purged, as it stood then (``RecordsResponse/states``).
public struct PurgedState: Codable, Sendable {
    public var collection: String
    public var id: String
    public var state: JSONValue
    /// Who created it (its first write's author), when known: an unrooted child is theirs.
    public var creator: String?

    public init(collection: String, id: String, state: JSONValue, creator: String? = nil) {
        self.collection = collection
        self.id = id
        self.state = state
        self.creator = creator
    }
}

/// The answer to ``RecordsRequest``: changes in feed order (records out of scope are left out).
public struct RecordsResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var changes: [JSONValue]
    /// More follow: ask again with `after` set to this.
    public var next: Int64?
    /// First page only: of the records asked for, those whose history head office purged, with
    /// their state at the purge (`merge.md` record state JSON); the changes are what came after.
    public var states: [PurgedState]?

    public init(changes: [JSONValue], next: Int64? = nil) {
        self.changes = changes
        self.next = next
    }
}
