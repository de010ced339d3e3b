import OutpostCore

/// This build of Outpost (sent in hello as `client`, shown by `outpost-admin devices list`).
public enum OutpostRelease {
    public static let version = "0.10.0"
}

/// The protocol version this build speaks; every request carries it.
public enum ProtocolVersion {
    /// The current version.
    public static let current = 1
    /// The oldest version this build still accepts.
    public static let oldestSupported = 1
}

/// Limits both sides keep, so neither holds a whole backlog in memory.
public enum WireLimits {
    /// Most changes in one push or pull page.
    public static let pageChanges = 500
    /// Most bytes of change JSON in one page (before compression).
    public static let pageBytes = 1 << 20
    /// Largest request body the server reads (after decompression).
    public static let maxBodyBytes = 16 << 20
    /// The largest enrollment body: it comes before anything is known of the sender.
    public static let enrollBodyBytes = 8 << 10
}

/// Where a replica stands with a server: the server's feed offset, plus what the replica has
/// seen as a version vector, so a position can be understood by another server (failover).
public struct SyncPosition: Codable, Hashable, Sendable {
    /// The server this cursor belongs to.
    public var server: String?
    /// The server feed position after which to pull.
    public var cursor: Int64
    /// Highest counter seen per origin replica. Every server of the tree understands it: a
    /// server skips the writes it names (the replica holds each origin's writes up to its
    /// counter, because every server applies an origin's writes in counter order), so a
    /// replica can sync with its branch one day and head office the next (failover).
    public var seen: [String: UInt64]

    /// Creates a position.
    public init(server: String?, cursor: Int64, seen: [String: UInt64]) {
        self.server = server
        self.cursor = cursor
        self.seen = seen
    }

    /// The start: nothing pulled yet.
    public static let start = SyncPosition(server: nil, cursor: 0, seen: [:])
}

/// `POST /v1/enroll`: turn a one-time code into a device token.
public struct EnrollRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The one-time code an admin printed.
    public var code: String
    /// A name for the device (shown in `devices list`).
    public var device: String
    /// The replica id the device will write with.
    public var replica: String
    /// The replica's first sync token (``SyncToken``), which its first hello presents.
    public var syncToken: String?

    public init(code: String, device: String, replica: String, syncToken: String? = nil) {
        self.code = code
        self.device = device
        self.replica = replica
        self.syncToken = syncToken
    }
}

/// The answer to an enrollment.
public struct EnrollResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The device's secret token (shown once; the server keeps only its hash).
    public var token: String
    /// The enrolled device's id.
    public var deviceID: String
    /// The user the device belongs to.
    public var user: String
    /// The user's role.
    public var role: String
    /// The server's replica id.
    public var server: String
    /// The schema file in force at the server.
    public var schema: String

    public init(token: String, deviceID: String, user: String, role: String, server: String, schema: String) {
        self.token = token
        self.deviceID = deviceID
        self.user = user
        self.role = role
        self.server = server
        self.schema = schema
    }
}

/// `POST /v1/sync/hello`: open a sync session.
public struct HelloRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The replica syncing.
    public var replica: String
    /// Its write counter now (no pushed change may carry a higher one).
    public var counter: UInt64
    /// The schema version it uses.
    public var schemaVersion: Int
    /// Where it stands.
    public var position: SyncPosition
    /// The sync token this folder committed at its last hello (or enrollment): a folder that
    /// presents an older one is a copy or a restore (``SyncToken``).
    public var syncToken: String?
    /// The token to hold from now on; the folder stored it before sending this hello.
    public var nextSyncToken: String?
    /// A branch server: the replicas whose writes it relays (its children's, and its own). The
    /// answer says what the server acknowledged of each (`relayAcknowledged`).
    public var relaying: [String]?
    /// For a copy's id: the first sync token it was given, from which the server derived the
    /// id. A server restored from a backup older than the copy learns the id again with it.
    public var idProof: String?
    /// The software that syncs (`outpost 0.10.0`), for the admin's device list.
    public var client: String?
    /// The folder received only part of the records until now: if it now receives all, its
    /// `seen` has holes, and it walks the feed from the start with nothing held back.
    public var wasScoped: Bool?
    /// The device's own clock when it sent the hello (milliseconds since 1970, uncorrected), so
    /// the server can tell the admin whose clock is wrong.
    public var time: UInt64?

    public init(replica: String, counter: UInt64, schemaVersion: Int, position: SyncPosition,
                syncToken: String? = nil, nextSyncToken: String? = nil, relaying: [String]? = nil, idProof: String? = nil) {
        self.relaying = relaying
        self.idProof = idProof
        self.replica = replica
        self.counter = counter
        self.schemaVersion = schemaVersion
        self.position = position
        self.syncToken = syncToken
        self.nextSyncToken = nextSyncToken
    }
}

/// The server's answer to hello.
public struct HelloResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The server's replica id.
    public var server: String
    /// The server's schema version.
    public var schemaVersion: Int
    /// Every change of this replica with a counter up to here has been processed (applied or rejected).
    public var acknowledged: UInt64
    /// The cursor to pull from (the replica's own if it belongs to this server, else 0).
    public var cursor: Int64
    /// Page limits the server wants.
    public var pageChanges: Int
    /// For a relaying branch: what the server acknowledged of each replica named in `relaying`.
    public var relayAcknowledged: [String: UInt64]?
    /// For a branch: a fingerprint of the server's users and devices; when it changes, the
    /// branch exchanges directories again (`POST /v1/sync/directory`).
    public var directoryVersion: String?
    /// The device receives only part of the records (`protocol/scopes.md`): it asks
    /// `/v1/sync/scope` before pulling and `/v1/sync/records` for records that entered its scope.
    public var scoped: Bool?
    /// Writes of this replica that the server passed on and its own parent refused (a branch
    /// telling its rep): the client keeps each as a refusal, like one from a push answer.
    public var refusedUpstream: [ChangeResult]?
    /// Feed entries after `cursor` when hello was answered: how much the pull has to walk, so
    /// a client can show one progress display for the whole sync from the start.
    public var backlog: Int?
    /// The user's time zone as head office set it (an IANA name such as `Asia/Almaty`), when set.
    public var timeZone: String?
    /// The server's clock when it answered (milliseconds since 1970): a laptop stamps its
    /// writes with this time, not its own, when the two are apart (`Clocks`).
    public var time: UInt64?
    /// The replica was silent past the admin's expiry and the purge went on without it: push
    /// what it holds, then start again from the server's copy (`Retention`).
    public var expired: Bool?
    /// A branch starting below what the server purged: it takes the purged records' bases and
    /// writes (`POST /v1/sync/purged`, every page) before it pulls (`Retention`).
    public var purged: Bool?

    public init(server: String, schemaVersion: Int, acknowledged: UInt64, cursor: Int64, pageChanges: Int,
                relayAcknowledged: [String: UInt64]? = nil, directoryVersion: String? = nil) {
        self.relayAcknowledged = relayAcknowledged
        self.directoryVersion = directoryVersion
        self.server = server
        self.schemaVersion = schemaVersion
        self.acknowledged = acknowledged
        self.cursor = cursor
        self.pageChanges = pageChanges
    }
}

/// `POST /v1/sync/push`: a page of changes the server has not acknowledged.
public struct PushRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The replica pushing.
    public var replica: String
    /// Changes in the replica's feed order, in the form of `protocol/merge.md` section 5.
    public var changes: [JSONValue]

    public init(replica: String, changes: [JSONValue]) {
        self.replica = replica
        self.changes = changes
    }
}

/// What the server did with one pushed change.
public struct ChangeResult: Codable, Hashable, Sendable {
    /// The outcome.
    public enum Status: String, Codable, Sendable {
        /// Applied now.
        case applied
        /// Already applied before: a no-op.
        case duplicate
        /// Refused; `code` and `reason` say why. The replica keeps the change.
        case rejected
        /// Not looked at and not acknowledged (named beyond the counter declared in hello, or
        /// after a gap): send it again in a later session.
        case deferred
    }

    /// The change's dot.
    public var dot: String
    /// What happened.
    public var status: Status
    /// For rejections: a stable code.
    public var code: String?
    /// For rejections: a sentence for the user.
    public var reason: String?

    public init(dot: String, status: Status, code: String? = nil, reason: String? = nil) {
        self.dot = dot
        self.status = status
        self.code = code
        self.reason = reason
    }
}

/// The server's answer to a push page.
public struct PushResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// One result per pushed change, in order.
    public var results: [ChangeResult]
    /// The replica's changes up to this counter are processed.
    public var acknowledged: UInt64
    /// For a relayed page: the new acknowledgement of each replica whose writes it carried.
    public var relayAcknowledged: [String: UInt64]?

    public init(results: [ChangeResult], acknowledged: UInt64, relayAcknowledged: [String: UInt64]? = nil) {
        self.relayAcknowledged = relayAcknowledged
        self.results = results
        self.acknowledged = acknowledged
    }
}

/// `POST /v1/sync/pull`: the next page after a cursor.
public struct PullRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The replica pulling (nothing its hello's `seen` names is sent back).
    public var replica: String
    /// Pull what comes after this server feed position.
    public var cursor: Int64
    /// At most this many changes.
    public var limit: Int
    /// A branch pulling from below the server's purge: the purge generation of its complete take
    /// of `POST /v1/sync/purged` in this session (`Retention`).
    public var purgedTaken: Int64?

    public init(replica: String, cursor: Int64, limit: Int) {
        self.replica = replica
        self.cursor = cursor
        self.limit = limit
    }
}

/// A page of changes and the cursor to commit with it.
public struct PullResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// Changes in the server's feed order.
    public var changes: [JSONValue]
    /// The cursor after this page (commit it in the same transaction as the changes).
    public var cursor: Int64
    /// Whether more pages follow.
    public var more: Bool
    /// How many changes remain after this page (for progress), when known.
    public var remaining: Int?
    /// For a scoped puller: the changes (by index) whose record existed before the request's
    /// cursor, with the root its scope is decided on. One the client does not hold entered its
    /// scope since: it asks `/v1/sync/records` for its history before applying the page.
    public var older: [OlderRecord]?

    public init(changes: [JSONValue], cursor: Int64, more: Bool, remaining: Int?) {
        self.changes = changes
        self.cursor = cursor
        self.more = more
        self.remaining = remaining
    }
}

/// `POST /v1/sync/fork`: a folder that found itself copied or restored asks for a new replica id.
public struct ForkRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The id the folder has written under so far.
    public var replica: String
    /// The folder's own record of what the server acknowledged (its writes up to here are on the server).
    public var acknowledged: UInt64
    /// Digests of the folder's writes after `from`, in counter order (`ChangeDigest` in OutpostStore).
    public var digests: [String]
    /// The counter before the first digest; `acknowledged` when absent. Lower when the server
    /// asked for more (`digests-needed`: it was restored and holds fewer writes than it acknowledged).
    public var from: UInt64?
    /// The first sync token of the new replica id.
    public var syncToken: String

    public init(replica: String, acknowledged: UInt64, digests: [String], from: UInt64? = nil, syncToken: String) {
        self.replica = replica
        self.acknowledged = acknowledged
        self.digests = digests
        self.from = from
        self.syncToken = syncToken
    }
}

/// The answer to a fork request: the folder's new id and which of its writes keep their names.
public struct ForkResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The new replica id, enrolled for the same device.
    public var replica: String
    /// The folder keeps its writes up to this counter under the old id (the server holds them
    /// identically) and renames the rest.
    public var keptThrough: UInt64
    /// Ranges of the folder's next writes that another copy of it already sent under a new id:
    /// they take that copy's names, in order from `keptThrough`. The folder's own new id
    /// (`replica`) names what comes after the last one.
    public var adopted: [ForkSegment]
    /// Pull again from this cursor: the server holds writes under the old id that the folder
    /// skipped while it wrote under it. Absent when there are none.
    public var cursor: Int64?

    public init(replica: String, keptThrough: UInt64, adopted: [ForkSegment] = [], cursor: Int64?) {
        self.replica = replica
        self.keptThrough = keptThrough
        self.adopted = adopted
        self.cursor = cursor
    }
}

extension ForkSegment {
    /// The range as the merge core renames it.
    public func segment() throws(CoreError) -> ReplicaRename.Segment {
        ReplicaRename.Segment(replica: try ReplicaID(replica), after: after, through: through)
    }
}

/// A range of a copied folder's writes that takes the names another copy gave them:
/// `old:(after, through]` becomes `replica:1...`.
public struct ForkSegment: Codable, Hashable, Sendable {
    /// The other copy's id.
    public var replica: String
    /// The last counter of the old id before the range.
    public var after: UInt64
    /// The last counter of the old id in the range.
    public var through: UInt64

    public init(replica: String, after: UInt64, through: UInt64) {
        self.replica = replica
        self.after = after
        self.through = through
    }
}

/// Every error the server returns: a stable code, a sentence, and details per change where useful.
public struct WireError: Codable, Error, Hashable, Sendable, CustomStringConvertible {
    /// The error body.
    public struct Body: Codable, Hashable, Sendable {
        /// Stable code, for programs (`unsupported-protocol`, `malformed-request`, `unauthorized`, ...).
        public var code: String
        /// A sentence for people that says what to do.
        public var message: String
        /// Further detail, such as the index of a bad change.
        public var details: [String]?
    }

    public var `protocol` = ProtocolVersion.current
    /// The error.
    public var error: Body

    public init(code: String, message: String, details: [String]? = nil) {
        error = Body(code: code, message: message, details: details)
    }

    public var description: String { error.message }
}
