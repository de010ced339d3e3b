/// `GET /v1/admin/retention` and the answer of `POST /v1/admin/retention`: where the purge
/// stands (`protocol/sync.md`, "Retention").
public struct RetentionFigures: Codable, Hashable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// Days of silence after which a device is expired and no longer holds the purge back.
    public var expireAfterDays: Int
    /// Every active replica has pulled this server's feed up to here.
    public var lowWaterMark: Int64
    /// The feed's last position.
    public var feedEnd: Int64
    /// Deleted records held (whole, or purged to their presence).
    public var tombstones: Int
    /// What this call's purge removed (0 when it purged nothing: a dry run, a branch).
    public var purgedTombstones: Int
    public var purgedFeedEntries: Int
    /// Records (live, or deleted after the mark) whose older history this call's purge folded
    /// into their base (nil from an older server).
    public var purgedRecords: Int?
    /// Deleted records still whole (after the mark, or with an open conflict).
    public var keptTombstones: Int
    /// The active replicas furthest behind: they hold the mark where it is.
    public var holdingBack: [ReplicaLag]
    /// Replicas expired for their silence (their devices must start again from the server's copy).
    public var expired: [ReplicaLag]

    public init(expireAfterDays: Int, lowWaterMark: Int64, feedEnd: Int64, tombstones: Int, purgedTombstones: Int,
                purgedFeedEntries: Int, keptTombstones: Int, holdingBack: [ReplicaLag], expired: [ReplicaLag]) {
        self.expireAfterDays = expireAfterDays
        self.lowWaterMark = lowWaterMark
        self.feedEnd = feedEnd
        self.tombstones = tombstones
        self.purgedTombstones = purgedTombstones
        self.purgedFeedEntries = purgedFeedEntries
        self.keptTombstones = keptTombstones
        self.holdingBack = holdingBack
        self.expired = expired
    }
}

/// `POST /v1/admin/retention`: set the expiry, and purge now if asked.
public struct RetentionRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// New expiry in days (1 to 3650), or nil to leave it.
    public var expireAfterDays: Int?
    /// Purge now.
    public var purge: Bool?

    public init(expireAfterDays: Int? = nil, purge: Bool? = nil) {
        self.expireAfterDays = expireAfterDays
        self.purge = purge
    }
}

/// `POST /v1/sync/purged`: one page of what the server purged, for a branch that starts below
/// the purge (`protocol/sync.md`, "Retention").
public struct PurgedRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The branch's replica.
    public var replica: String
    /// The `next` of the page before; absent for the first page.
    public var after: String?

    public init(replica: String, after: String? = nil) {
        self.replica = replica
        self.after = after
    }
}

/// A write whose feed entry a purge removed: its dot and its digest (``ChangeDigest``).
public struct PurgedWrite: Codable, Sendable, Hashable {
    public var dot: String
    public var digest: String

    public init(dot: String, digest: String) {
        self.dot = dot
        self.digest = digest
    }
}

/// The answer to ``PurgedRequest``: records' bases (their state at the purge), then purged
/// writes; `next` is absent after the last page.
public struct PurgedResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var states: [PurgedState]
    public var writes: [PurgedWrite]
    public var next: String?
    /// The server's purge generation when the page was read (odd while a purge runs): a take
    /// counts only if every page gave the same even one.
    public var generation: Int64

    public init(states: [PurgedState], writes: [PurgedWrite], next: String?, generation: Int64) {
        self.states = states
        self.writes = writes
        self.next = next
        self.generation = generation
    }
}
