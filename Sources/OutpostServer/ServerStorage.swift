import Foundation
import Synchronization
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// Everything the sync and admin logic needs from storage, asynchronous so that no request
/// waits for a disk on the threads that serve every connection: the embedded SQLite store runs
/// its work on a thread pool of its own, and a PostgreSQL store shared by several server
/// processes can implement it later without touching ``SyncService``.
public protocol ServerStorage: Sendable {
    /// The server's own replica id.
    var serverReplica: String { get }
    /// The schema in force.
    var schema: Schema { get }
    /// Head office, or a branch (a server with a parent).
    var role: ReplicaRole { get }
    /// The server's wall clock in milliseconds since 1970 (what hello tells devices).
    var time: UInt64 { get }
    /// Retention: expiry, the low-water mark, and a purge if asked (``EmbeddedServerStore/retention(purge:expireAfterDays:)``).
    func retention(purge: Bool, expireAfterDays: Int?) async throws -> RetentionFigures
    /// Keeps what a hello says: the device's clock skew (positive: ahead; nil when it sent no
    /// time), where the replica starts here, and whether it is active (at or after the purge).
    func noteHello(device: String, replica: String, cursor: Int64, skewMillis: Int64?, active: Bool) async throws
    /// Of these records, those whose history was purged, with their state at the purge.
    func purgedStates(_ records: [(collection: String, id: String)]) async throws -> [PurgedBase]
    /// The feed position below which history was purged (``Replica/purgedThrough()``).
    func purgedThrough() async throws -> Int64
    /// One page of what was purged here, for a branch below the purge (``Replica/purgedPage(after:limit:)``).
    func purgedPage(after: String?, limit: Int) async throws -> (states: [PurgedBase], writes: [(dot: Dot, digest: String)], next: String?, generation: Int64)
    /// How many times a purge started or finished (odd while one runs).
    func purgeGeneration() async throws -> Int64
    /// The highest write of `replica` whose feed entry a purge removed (0 if none).
    func lastPurgedWrite(of replica: ReplicaID) async throws -> UInt64
    /// Every live record of a collection with its fingerprint (``RecordDigest``).
    func recordFingerprints(_ collection: String) async throws -> [(id: String, fingerprint: UInt64)]
    /// Keeps the outcome of a replica's last comparison with this server (0: it agreed).
    func noteVerification(replica: String, differing: Int) async throws
    /// Puts a newer schema in force: tables gain columns, nothing is dropped; refuses an older
    /// or equal version and type changes.
    func upgradeSchema(_ schema: Schema) async throws
    /// Every change of the child `replica` up to this counter was applied or refused for its content here.
    func acknowledged(of replica: String) async throws -> UInt64
    /// The same for many child replicas at once (a branch's hello names every replica it relays).
    func acknowledged(of replicas: [String]) async throws -> [String: UInt64]
    /// Applies a page pushed by the child `sender` with its new acknowledgement, in one transaction
    /// (``Replica/applyPush(_:sender:declared:screen:)``).
    func applyPush(_ changes: [Change], sender: String, declared: UInt64, relayable: Set<String>,
                   screen: @escaping (Change, PushView) throws -> PushScreening?) async throws -> PushReport
    /// The feed position before the first write a replica that has seen `seen` lacks.
    func firstUnseenFeedPosition(seen: [String: UInt64]) async throws -> Int64
    /// What `replica` said it had seen at its last hello.
    func seen(of replica: String) async throws -> [String: UInt64]
    /// The replicas whose writes the child branch device `device` may push.
    func relayable(device: String) async throws -> Set<String>
    /// A fingerprint of the users and devices held here.
    func directoryVersion() async throws -> String
    /// Devices to tell a neighbour server: every one not learned from it.
    func directoryDevices(notFrom neighbour: String?) async throws -> [DirectoryDevice]
    /// Replica ids of the devices enrolled here or beneath this server (not learned from
    /// `parent`): a branch relays their writes to its parent.
    func relayedReplicas(parent: String?) async throws -> [String]
    /// Replica ids of devices learned from `parent` that synced here.
    func visitingReplicas(parent: String?) async throws -> [String]
    /// Takes in a neighbour's users (from the parent) and devices; a child branch device
    /// (`neighbourDevice`) may then relay the writes of the replicas of the devices it enrolled,
    /// and of the `visiting` replicas of reps enrolled elsewhere that synced with it.
    func importDirectory(users: [UserInfo]?, devices: [DirectoryDevice], visiting: [String], from neighbour: String,
                         neighbourDevice: String?) async throws
    /// Users and devices held here, and the length of the change feed.
    func counts() async throws -> (users: Int, devices: Int, feed: Int)
    /// The admin's statistics beyond the counts: open conflicts, probable duplicates, refused
    /// changes, bytes stored, changes per day, and each replica's lag.
    func adminStats() async throws -> ServerStats
    /// The change stored under `dot` (applied, or refused from the replica that wrote it), if any.
    func storedChange(_ dot: Dot) async throws -> Change?
    /// The digest (``ChangeDigest``) of the write stored under `dot`, also when a purge removed it.
    func storedDigest(_ dot: Dot) async throws -> String?
    /// The first feed position holding a write of `replica` with a counter above `counter`, if any.
    func firstFeedSeq(of replica: String, after counter: UInt64) async throws -> Int64?
    /// Feed entries after `cursor`, in order.
    func feedPage(after cursor: Int64, limit: Int) async throws -> [StoredFeedRow]
    /// How many feed entries come after `cursor`.
    func feedCount(after cursor: Int64) async throws -> Int

    /// A new admin token for the person `name` (only its hash is kept).
    func createAdminToken(name: String) async throws -> String
    /// The name of the admin a valid admin token belongs to, or nil.
    func adminName(token: String) async throws -> String?
    /// Every open conflict in the server's replica.
    func openConflicts() async throws -> [Conflict]
    /// Conflicts closed here, newest first (by an admin, or by a later edit).
    func closedConflicts() async throws -> [ClosedConflict]
    /// For each replica a branch relays, that branch's user name.
    func replicaBranches() async throws -> [String: String]
    /// For each replica id known here, the user of its device.
    func replicaUsers() async throws -> [String: String]
    /// The users of the devices enrolled beneath a branch device (not visitors).
    func usersEnrolledBeneath(device: String) async throws -> Set<String>

    /// What a record's scope is decided on, as the server's replica holds it now.
    func scopeSubject(_ collection: String, _ id: String) async throws -> ScopeSubject
    /// The same for many records at once, keyed by collection and id joined with U+001F.
    func scopeSubjects(_ records: [(collection: String, id: String)]) async throws -> [String: ScopeSubject]
    /// Which of the records existed here at or before feed position `seq` (same keys).
    func existedBefore(_ records: [(collection: String, id: String)], seq: Int64) async throws -> Set<String>
    /// Every root held, with its scope-field values.
    func scopeRoots() async throws -> [(id: String, values: [String: String])]
    /// The feed entries up to `through` of these records (and a root's current children).
    func history(of records: [(collection: String, id: String)], after: Int64, through: Int64, limit: Int) async throws -> [(seq: Int64, change: Change)]
    /// The scope log after `seq`, and its end.
    func scopeLog(after seq: Int64, limit: Int) async throws -> [(seq: Int64, collection: String, id: String)]
    func scopeLogEnd() async throws -> Int64
    /// Refusals its parent sent of writes of `replica` that this server relayed.
    func upstreamRefusals(of replica: String) async throws -> [(dot: Dot, code: String, reason: String)]
    /// Which of these records this server evicted (they left its scope).
    func evicted(_ collection: String, among ids: [String]) async throws -> Set<String>
    /// Settles a conflict with a write of the server's replica stamped with `author`.
    func resolve(_ conflict: Conflict, choice: ConflictChoice, author: Author) async throws -> ConflictResolution
    /// A record's visible values (nil if never seen here).
    func recordValues(_ collection: String, id: String) async throws -> [String: FieldValue]?
    /// Probable duplicates in the server's replica, without dismissed pairs.
    func probableDuplicates(in collection: String?) async throws -> [DuplicatePair]
    /// Merges `other` into `keep` (writes stamped with `author`) and remembers the redirect.
    func merge(_ collection: String, keep: String, other: String, take: [String: MergeSide], author: Author) async throws -> MergeReport
    /// Marks a pair as not duplicates for good.
    func dismiss(collection: String, _ a: String, _ b: String) async throws
    /// Moves children that arrived under a merged-away record to the record it was merged
    /// into; returns how many moved.
    func repairMerged() async throws -> Int
    /// The collection holding a live record with this id, among those with duplicate keys.
    func collectionHolding(_ id: String) async throws -> String?
    /// Writes a ready replica file for a new laptop of `user` (``Replica/writeSnapshot(to:user:device:server:)``).
    func writeSnapshot(to path: String, user: String) async throws -> SnapshotInfo
    /// Appends to the audit trail, and lists it.
    func addAudit(_ entry: AuditEntry) async throws
    func audit() async throws -> [AuditEntry]
    /// Adds a user.
    func addUser(_ user: UserInfo) async throws
    /// All users.
    func users() async throws -> [UserInfo]
    /// Changes a user's role, scope or channel.
    func editUser(_ edit: AdminUserEditRequest) async throws -> UserInfo
    /// Revokes a device's token.
    func revoke(device: String) async throws -> DeviceInfo
    /// A one-time enrollment code for a user.
    func createEnrollmentCode(user: String, hours: Double) async throws -> String
    /// Whether the token is a revoked device's.
    func isRevoked(token: String) async throws -> Bool
    /// Spends a code and enrolls a device writing as `replica`, whose first sync token is `syncToken`.
    func enroll(code: String, device: String, replica: String, syncToken: String?) async throws -> (token: String, device: String, user: UserInfo)
    /// The device a token belongs to, unless unknown or revoked.
    func device(token: String) async throws -> AuthenticatedDevice?
    /// All devices.
    func devices() async throws -> [DeviceInfo]
    /// Keeps the software a device last synced with.
    func noteClient(device: String, version: String) async throws
    /// Whether `device` may write as `replica`.
    func ownsReplica(device: String, replica: String) async throws -> Bool
    /// Opens a session: refuses a counter that went back or a sync token older than the stored
    /// one (a copied or restored folder), then records the counter and the next token. Returns
    /// true when the folder is ahead of this server (the server was restored from a backup).
    /// `seen` is what the replica's pulls skip, unless it last synced here (`sameServer`) and is
    /// ahead of this server (restored: it may hold other writes under names the folder has seen).
    /// `idProof` lets a device claim, for a copy of its folder, an id this server forgot.
    func openSession(replica: String, device: String, counter: UInt64, syncToken: String?, nextSyncToken: String?,
                     seen: [String: UInt64], sameServer: Bool, idProof: String?) async throws -> Bool
    /// The counter a replica declared at its last hello.
    func declaredCounter(replica: String) async throws -> UInt64
    /// The ids copies of `replica` took, with how each renamed its writes.
    func forks(of replica: String) async throws -> [StoredFork]
    /// How `replica` renamed the writes of the id it was copied from, if it is a copy.
    func forkMap(of replica: String) async throws -> StoredFork?
    /// The copy of `replica` that `device` asked for with `syncToken` and has not used yet.
    func unusedFork(of replica: String, device: String, syncToken: String) async throws -> StoredFork?
    /// A new replica id for a copy of `replica`, for the same device, with its first sync token
    /// and how it renames its writes.
    func createFork(device: String, from replica: String, syncToken: String, map: StoredFork) async throws -> String
}

extension ServerStorage {
    /// A one-time code valid for a day.
    public func createEnrollmentCode(user: String) async throws -> String { try await createEnrollmentCode(user: user, hours: 24) }
}
