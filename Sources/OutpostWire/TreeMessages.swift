/// Messages between a branch server and its parent (`protocol/sync.md`, "Branch servers").

/// One replica id a device writes under, as servers of the tree tell each other.
public struct DirectoryReplica: Codable, Hashable, Sendable {
    /// The replica id.
    public var id: String
    /// The id it was copied from, if it is a healed copy.
    public var forkedFrom: String?
    /// How it renamed the writes of `forkedFrom` (JSON, as the server that healed it stored it).
    public var forkMap: String?

    public init(id: String, forkedFrom: String? = nil, forkMap: String? = nil) {
        self.id = id
        self.forkedFrom = forkedFrom
        self.forkMap = forkMap
    }
}

/// An enrolled device as servers of the tree tell each other: enough to authenticate its token
/// anywhere (only the token's hash travels).
public struct DirectoryDevice: Codable, Hashable, Sendable {
    public var id: String
    public var user: String
    public var name: String
    /// The replica it enrolled with.
    public var replica: String
    /// SHA-256 of its token, hex.
    public var tokenHash: String
    public var enrolledAt: String
    /// A revocation travels both ways and is never undone by a peer.
    public var revoked: Bool
    /// Every replica id it writes under (the enrolled one and its copies').
    public var replicas: [DirectoryReplica]

    public init(id: String, user: String, name: String, replica: String, tokenHash: String, enrolledAt: String,
                revoked: Bool, replicas: [DirectoryReplica]) {
        self.id = id
        self.user = user
        self.name = name
        self.replica = replica
        self.tokenHash = tokenHash
        self.enrolledAt = enrolledAt
        self.revoked = revoked
        self.replicas = replicas
    }
}

/// `POST /v1/sync/directory`: a branch sends the devices enrolled at it or beneath it; the
/// parent answers with its users and every device it knows. Identities travel the tree this
/// way: users flow down, devices both ways.
public struct DirectoryRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The branch's replica id.
    public var replica: String
    /// Devices enrolled at the branch or below it (the branch relays their replicas' writes).
    public var devices: [DirectoryDevice]
    /// Replica ids of reps enrolled elsewhere that synced with the branch: it relays their
    /// writes too, since its own reps' writes may build on them.
    public var visiting: [String]?

    public init(replica: String, devices: [DirectoryDevice], visiting: [String]? = nil) {
        self.replica = replica
        self.devices = devices
        self.visiting = visiting
    }
}

/// The parent's answer to a directory exchange.
public struct DirectoryResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// Every user (users are managed at head office).
    public var users: [UserInfo]
    /// Every device the parent knows (the branch's own included: their revocations and new replica ids).
    public var devices: [DirectoryDevice]
    /// The directory fingerprint this answer stands for (as in hello).
    public var version: String

    public init(users: [UserInfo], devices: [DirectoryDevice], version: String) {
        self.users = users
        self.devices = devices
        self.version = version
    }
}

/// `POST /v1/sync/schema`: ask for the schema in force (its answer is a ``SchemaMessage``).
public struct SchemaRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current

    public init() {}
}

/// The answer to `POST /v1/sync/schema`, and the body of `POST /v1/admin/schema` (an admin) and `POST /v1/admin/schema` (an admin).
public struct SchemaMessage: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The schema version.
    public var version: Int
    /// The schema file, as `outpost-admin schema set` reads it (`protocol/schema.md`).
    public var schema: String

    public init(version: Int, schema: String) {
        self.version = version
        self.schema = schema
    }
}

/// Whether a branch's link to its parent works.
public enum UpstreamState: String, Codable, Hashable, Sendable {
    /// No round has completed or failed since the server started.
    case starting
    /// The last round completed.
    case connected
    /// The last round failed (`lastError` says why); the link retries with backoff.
    case unreachable
}

/// How a branch server's link to its parent stands (`GET /v1/status`, `outpost-admin stats`).
public struct UpstreamStatus: Codable, Hashable, Sendable {
    /// The parent's URL.
    public var url: String
    /// The parent's replica id, once known.
    public var server: String?
    /// Whether the link works.
    public var state: UpstreamState
    /// When the last round with the parent completed, and when the last one was tried (ISO 8601).
    public var lastSuccess: String?
    public var lastAttempt: String?
    /// The last failure, as a sentence (nil after a success).
    public var lastError: String?
    /// Changes here that the parent has not acknowledged yet.
    public var pendingUp: Int
    /// Changes the parent still had for this branch at the last round (nil if unknown).
    public var pendingDown: Int?
    /// Completed rounds, and changes moved each way since the server started.
    public var rounds: Int
    public var pushed: Int
    public var pulled: Int

    public init(url: String, server: String? = nil, state: UpstreamState, lastSuccess: String? = nil, lastAttempt: String? = nil,
                lastError: String? = nil, pendingUp: Int = 0, pendingDown: Int? = nil, rounds: Int = 0, pushed: Int = 0, pulled: Int = 0) {
        self.url = url
        self.server = server
        self.state = state
        self.lastSuccess = lastSuccess
        self.lastAttempt = lastAttempt
        self.lastError = lastError
        self.pendingUp = pendingUp
        self.pendingDown = pendingDown
        self.rounds = rounds
        self.pushed = pushed
        self.pulled = pulled
    }
}

/// How far one replica is behind this server.
public struct ReplicaLag: Codable, Hashable, Sendable {
    public var replica: String
    public var user: String
    public var lastSeen: String?
    /// Changes it declared at its last hello that this server has not acknowledged.
    public var pendingUp: Int

    /// When it last compared itself with this server (`outpost status --verify`), and how many
    /// records differed then (0: it agreed).
    public var verifiedAt: String?
    public var verifyDiffering: Int?

    public init(replica: String, user: String, lastSeen: String?, pendingUp: Int) {
        self.replica = replica
        self.user = user
        self.lastSeen = lastSeen
        self.pendingUp = pendingUp
    }
}

/// `GET /v1/status` and `GET /v1/admin/stats`: what a server holds and how its upstream stands.
public struct ServerStats: Codable, Hashable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The server's replica id and role (`head-office` or `branch`).
    public var server: String
    public var role: String
    public var schemaVersion: Int
    /// Counts (nil on the public status endpoint).
    public var users: Int?
    public var devices: Int?
    public var feedChanges: Int?
    /// The link to the parent (branches only).
    public var upstream: UpstreamStatus?
    /// What waits for an admin, what was refused, how much is stored, and changes written per
    /// day over the last week (oldest first, UTC days) — admin stats only.
    public var openConflicts: Int?
    public var probableDuplicates: Int?
    public var rejectedChanges: Int?
    public var storageBytes: Int?
    public var changesPerDay: [String: Int]?
    /// Each replica that syncs here: how many changes it has still to push (declared minus
    /// acknowledged) and when it last synced.
    public var replicas: [ReplicaLag]?

    public init(server: String, role: String, schemaVersion: Int, users: Int? = nil, devices: Int? = nil, feedChanges: Int? = nil,
                upstream: UpstreamStatus? = nil) {
        self.server = server
        self.role = role
        self.schemaVersion = schemaVersion
        self.users = users
        self.devices = devices
        self.feedChanges = feedChanges
        self.upstream = upstream
    }
}
