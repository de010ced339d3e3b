import Foundation
import Synchronization
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// Everything the sync and admin logic needs from storage. The embedded SQLite store implements
/// it today; a PostgreSQL store shared by several server processes can implement it later
/// without touching ``SyncService``.
extension ServerStorage {
    /// A one-time code valid for a day.
    public func createEnrollmentCode(user: String) throws -> String { try createEnrollmentCode(user: user, hours: 24) }
}

public protocol ServerStorage: Sendable {
    /// The server's own replica id.
    var serverReplica: String { get }
    /// The schema in force.
    var schema: Schema { get }
    /// Head office, or a branch (a server with a parent).
    var role: ReplicaRole { get }
    /// Puts a newer schema in force: tables gain columns, nothing is dropped; refuses an older
    /// or equal version and type changes.
    func upgradeSchema(_ schema: Schema) throws
    /// Every change of the child `replica` up to this counter was applied or refused for its content here.
    func acknowledged(of replica: String) throws -> UInt64
    /// The highest counter of `replica` whose change was applied here (0 if none).
    func seenCounter(of replica: String) throws -> UInt64
    /// Applies a page pushed by the child `sender` with its new acknowledgement, in one transaction
    /// (``Replica/applyPush(_:sender:declared:screen:)``).
    func applyPush(_ changes: [Change], sender: String, declared: UInt64, relayable: Set<String>,
                   screen: (Change, PushView) throws -> PushScreening?) throws -> PushReport
    /// The feed position before the first write a replica that has seen `seen` lacks.
    func firstUnseenFeedPosition(seen: [String: UInt64]) throws -> Int64
    /// What `replica` said it had seen at its last hello.
    func seen(of replica: String) throws -> [String: UInt64]
    /// The replicas whose writes the child branch device `device` may push.
    func relayable(device: String) throws -> Set<String>
    /// A fingerprint of the users and devices held here.
    func directoryVersion() throws -> String
    /// Devices to tell a neighbour server: every one not learned from it.
    func directoryDevices(notFrom neighbour: String?) throws -> [DirectoryDevice]
    /// Replica ids of the devices enrolled here or beneath this server (not learned from
    /// `parent`): a branch relays their writes to its parent.
    func relayedReplicas(parent: String?) throws -> [String]
    /// Replica ids of devices learned from `parent` that synced here.
    func visitingReplicas(parent: String?) throws -> [String]
    /// Takes in a neighbour's users (from the parent) and devices; a child branch device
    /// (`neighbourDevice`) may then relay the writes of the replicas of the devices it enrolled,
    /// and of the `visiting` replicas of reps enrolled elsewhere that synced with it.
    func importDirectory(users: [UserInfo]?, devices: [DirectoryDevice], visiting: [String], from neighbour: String,
                         neighbourDevice: String?) throws
    /// Users and devices held here, and the length of the change feed.
    func counts() throws -> (users: Int, devices: Int, feed: Int)
    /// The admin's statistics beyond the counts: open conflicts, probable duplicates, refused
    /// changes, bytes stored, changes per day, and each replica's lag.
    func adminStats() throws -> ServerStats
    /// The change stored under `dot` (applied, or refused from the replica that wrote it), if any.
    func storedChange(_ dot: Dot) throws -> Change?
    /// The first feed position holding a write of `replica` with a counter above `counter`, if any.
    func firstFeedSeq(of replica: String, after counter: UInt64) throws -> Int64?
    /// Feed entries after `cursor`, in order.
    func feedPage(after cursor: Int64, limit: Int) throws -> [(seq: Int64, origin: String, change: Change)]
    /// How many feed entries come after `cursor`.
    func feedCount(after cursor: Int64) throws -> Int

    /// A new admin token for the person `name` (only its hash is kept).
    func createAdminToken(name: String) throws -> String
    /// The name of the admin a valid admin token belongs to, or nil.
    func adminName(token: String) throws -> String?
    /// Every open conflict in the server's replica.
    func openConflicts() throws -> [Conflict]
    /// Conflicts closed here, newest first (by an admin, or by a later edit).
    func closedConflicts() throws -> [ClosedConflict]
    /// For each replica a branch relays, that branch's user name.
    func replicaBranches() throws -> [String: String]
    /// For each replica id known here, the user of its device.
    func replicaUsers() throws -> [String: String]
    /// The users of the devices enrolled beneath a branch device (not visitors).
    func usersEnrolledBeneath(device: String) throws -> Set<String>

    /// What a record's scope is decided on, as the server's replica holds it now.
    func scopeSubject(_ collection: String, _ id: String) throws -> ScopeSubject
    /// The same for many records at once, keyed by collection and id joined with U+001F.
    func scopeSubjects(_ records: [(collection: String, id: String)]) throws -> [String: ScopeSubject]
    /// Which of the records existed here at or before feed position `seq` (same keys).
    func existedBefore(_ records: [(collection: String, id: String)], seq: Int64) throws -> Set<String>
    /// Every root held, with its scope-field values.
    func scopeRoots() throws -> [(id: String, values: [String: String])]
    /// The feed entries up to `through` of these records (and a root's current children).
    func history(of records: [(collection: String, id: String)], after: Int64, through: Int64, limit: Int) throws -> [(seq: Int64, change: Change)]
    /// The scope log after `seq`, and its end.
    func scopeLog(after seq: Int64, limit: Int) throws -> [(seq: Int64, collection: String, id: String)]
    func scopeLogEnd() throws -> Int64
    /// Refusals its parent sent of writes of `replica` that this server relayed.
    func upstreamRefusals(of replica: String) throws -> [(dot: Dot, code: String, reason: String)]
    /// Which of these records this server evicted (they left its scope).
    func evicted(_ collection: String, among ids: [String]) throws -> Set<String>
    /// Settles a conflict with a write of the server's replica stamped with `author`.
    func resolve(_ conflict: Conflict, choice: ConflictChoice, author: Author) throws -> ConflictResolution
    /// A record's visible values (nil if never seen here).
    func recordValues(_ collection: String, id: String) throws -> [String: FieldValue]?
    /// Probable duplicates in the server's replica, without dismissed pairs.
    func probableDuplicates(in collection: String?) throws -> [DuplicatePair]
    /// Merges `other` into `keep` (writes stamped with `author`) and remembers the redirect.
    func merge(_ collection: String, keep: String, other: String, take: [String: MergeSide], author: Author) throws -> MergeReport
    /// Marks a pair as not duplicates for good.
    func dismiss(collection: String, _ a: String, _ b: String) throws
    /// Moves children that arrived under a merged-away record to the record it was merged
    /// into; returns how many moved.
    func repairMerged() throws -> Int
    /// The collection holding a live record with this id, among those with duplicate keys.
    func collectionHolding(_ id: String) throws -> String?
    /// Writes a ready replica file for a new laptop of `user` (``Replica/writeSnapshot(to:user:device:server:)``).
    func writeSnapshot(to path: String, user: String) throws -> SnapshotInfo
    /// Appends to the audit trail, and lists it.
    func addAudit(_ entry: AuditEntry) throws
    func audit() throws -> [AuditEntry]
    /// Adds a user.
    func addUser(_ user: UserInfo) throws
    /// All users.
    func users() throws -> [UserInfo]
    /// Changes a user's role, scope or channel.
    func editUser(_ edit: AdminUserEditRequest) throws -> UserInfo
    /// Revokes a device's token.
    func revoke(device: String) throws -> DeviceInfo
    /// A one-time enrollment code for a user.
    func createEnrollmentCode(user: String, hours: Double) throws -> String
    /// Whether the token is a revoked device's.
    func isRevoked(token: String) throws -> Bool
    /// Spends a code and enrolls a device writing as `replica`, whose first sync token is `syncToken`.
    func enroll(code: String, device: String, replica: String, syncToken: String?) throws -> (token: String, device: String, user: UserInfo)
    /// The device a token belongs to, unless unknown or revoked.
    func device(token: String) throws -> AuthenticatedDevice?
    /// All devices.
    func devices() throws -> [DeviceInfo]
    /// Keeps the software a device last synced with.
    func noteClient(device: String, version: String) throws
    /// Whether `device` may write as `replica`.
    func ownsReplica(device: String, replica: String) throws -> Bool
    /// Opens a session: refuses a counter that went back or a sync token older than the stored
    /// one (a copied or restored folder), then records the counter and the next token. Returns
    /// true when the folder is ahead of this server (the server was restored from a backup).
    /// `seen` is what the replica's pulls skip, unless it last synced here (`sameServer`) and is
    /// ahead of this server (restored: it may hold other writes under names the folder has seen).
    /// `idProof` lets a device claim, for a copy of its folder, an id this server forgot.
    func openSession(replica: String, device: String, counter: UInt64, syncToken: String?, nextSyncToken: String?,
                     seen: [String: UInt64], sameServer: Bool, idProof: String?) throws -> Bool
    /// The counter a replica declared at its last hello.
    func declaredCounter(replica: String) throws -> UInt64
    /// The ids copies of `replica` took, with how each renamed its writes.
    func forks(of replica: String) throws -> [StoredFork]
    /// How `replica` renamed the writes of the id it was copied from, if it is a copy.
    func forkMap(of replica: String) throws -> StoredFork?
    /// The copy of `replica` that `device` asked for with `syncToken` and has not used yet.
    func unusedFork(of replica: String, device: String, syncToken: String) throws -> StoredFork?
    /// A new replica id for a copy of `replica`, for the same device, with its first sync token
    /// and how it renames its writes.
    func createFork(device: String, from replica: String, syncToken: String, map: StoredFork) throws -> String
}

/// The embedded store: the server's replica (`replica.sqlite`) and its access data (`server.sqlite`) in one folder.
public final class SQLiteServerStorage: ServerStorage {
    /// The server's replica (a new object after a schema upgrade).
    public var replica: Replica { current.withLock { $0 } }
    private let current: Mutex<Replica>
    let access: AccessDatabase
    private let clock: @Sendable () -> UInt64

    /// Opens the store in `directory`, creating it (as head office) on first use.
    /// `clock` is the wall clock in milliseconds (tests move it; servers use the system's).
    public init(directory: String, schema: Schema = .crm, clock: @escaping @Sendable () -> UInt64 = Replica.systemClock) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = Self.replicaPath(directory)
        let replica: Replica
        if FileManager.default.fileExists(atPath: path) {
            replica = try Replica.open(at: path, clock: clock)
        } else {
            replica = try Replica.create(at: path, schema: schema, options: ReplicaOptions(
                user: "head-office", device: ProcessInfo.processInfo.hostName, role: .headOffice), clock: clock)
        }
        current = Mutex(replica)
        self.clock = clock
        access = try AccessDatabase(path: URL(fileURLWithPath: directory).appendingPathComponent("server.sqlite").path)
    }

    /// Where a server folder keeps its replica.
    public static func replicaPath(_ directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("replica.sqlite").path
    }

    public var role: ReplicaRole { replica.role }

    /// The file is migrated outside the lock (one SQLite write transaction, like a large
    /// push): requests go on meanwhile with the replica in force, whose record states keep the
    /// values of fields it does not know; the new replica object is then swapped in, and a
    /// record those requests wrote is shown in its new columns at its next write.
    public func upgradeSchema(_ schema: Schema) throws {
        let before = replica
        guard schema.version > before.schema.version else {
            throw WireError(.schemaNotNewer, message: "The schema's version is \(schema.version), but version \(before.schema.version) is in force here: raise \"version\" in the file.")
        }
        let upgraded: Replica
        do {
            upgraded = try Replica.open(at: before.path, schema: schema, clock: clock)
        } catch let error as StoreError where error.code == .incompatibleSchema {
            throw WireError(.incompatibleSchema, message: error.description)
        }
        current.withLock { if upgraded.schema.version > $0.schema.version { $0 = upgraded } }
    }

    public var serverReplica: String { replica.replicaID.rawValue }
    public var schema: Schema { replica.schema }
    public func acknowledged(of replica: String) throws -> UInt64 { try self.replica.acknowledged(of: try ReplicaID(replica)) }
    public func seenCounter(of replica: String) throws -> UInt64 { try self.replica.seenCounter(of: replica) }
    public func applyPush(_ changes: [Change], sender: String, declared: UInt64, relayable: Set<String>,
                          screen: (Change, PushView) throws -> PushScreening?) throws -> PushReport {
        try replica.applyPush(changes, sender: try ReplicaID(sender), declared: declared,
                              relayable: { relayable.contains($0.rawValue) }, screen: screen)
    }
    public func firstUnseenFeedPosition(seen: [String: UInt64]) throws -> Int64 { try replica.firstUnseenFeedPosition(seen: seen) }
    public func seen(of replica: String) throws -> [String: UInt64] { try access.seen(of: replica) }
    public func relayable(device: String) throws -> Set<String> { try access.relayable(device: device) }
    public func visitingReplicas(parent: String?) throws -> [String] { try access.visitingReplicas(parent: parent) }
    public func directoryVersion() throws -> String { try access.directoryVersion() }
    public func directoryDevices(notFrom neighbour: String?) throws -> [DirectoryDevice] { try access.directoryDevices(notFrom: neighbour) }
    public func relayedReplicas(parent: String?) throws -> [String] { try access.relayedReplicas(parent: parent) }
    public func importDirectory(users: [UserInfo]?, devices: [DirectoryDevice], visiting: [String], from neighbour: String,
                                neighbourDevice: String?) throws {
        try access.importDirectory(users: users, devices: devices, visiting: visiting, from: neighbour,
                                   neighbourIDs: try neighbourDevice.map { try access.replicaIDs(ofDevice: $0) } ?? [],
                                   childBranch: neighbourDevice != nil)
    }
    public func adminStats() throws -> ServerStats {
        let counts = try counts()
        var stats = ServerStats(server: serverReplica, role: role.rawValue, schemaVersion: schema.version,
                                users: counts.users, devices: counts.devices, feedChanges: counts.feed)
        stats.openConflicts = try openConflicts().count
        stats.probableDuplicates = try probableDuplicates(in: nil).count
        stats.rejectedChanges = try replica.rejections().count
        let folder = URL(fileURLWithPath: replica.path).deletingLastPathComponent()
        stats.storageBytes = try FileManager.default.contentsOfDirectory(atPath: folder.path).reduce(0) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent($1).path)[.size] as? Int) ?? 0)
        }
        stats.changesPerDay = try replica.changesPerDay(days: 7)
        stats.replicas = try access.replicaActivity().map {
            ReplicaLag(replica: $0.replica, user: $0.user, lastSeen: $0.lastSeen,
                       pendingUp: Int($0.declared) - Int(try acknowledged(of: $0.replica)))
        }.map { var lag = $0; lag.pendingUp = max(0, lag.pendingUp); return lag }
        return stats
    }

    public func counts() throws -> (users: Int, devices: Int, feed: Int) {
        let (users, devices) = try access.counts()
        return (users, devices, try replica.feedCount(after: 0))
    }
    public func storedChange(_ dot: Dot) throws -> Change? { try replica.storedChange(dot) }
    public func firstFeedSeq(of replica: String, after counter: UInt64) throws -> Int64? {
        try self.replica.firstFeedSeq(of: try ReplicaID(replica), after: counter)
    }
    public func feedPage(after cursor: Int64, limit: Int) throws -> [(seq: Int64, origin: String, change: Change)] {
        try replica.changes(after: cursor, limit: limit)
    }
    public func feedCount(after cursor: Int64) throws -> Int { try replica.feedCount(after: cursor) }
    public func createAdminToken(name: String = "admin") throws -> String { try access.createAdminToken(name: name) }
    public func adminName(token: String) throws -> String? { try access.adminName(token: token) }
    public func addAudit(_ entry: AuditEntry) throws { try access.addAudit(entry) }
    /// Open conflicts, without orphans whose parent was merged away: head office moves those
    /// to the record it was merged into after each push, and restoring the parent would bring
    /// a retired duplicate back.
    public func openConflicts() throws -> [Conflict] {
        let retired = Set(try access.redirects().map { $0.collection + "\u{1F}" + $0.from })
        let parents = Dictionary(uniqueKeysWithValues: replica.schema.collections.compactMap { c in
            c.parentField.flatMap { p in c.field(p)?.references.map { (c.name, $0) } }
        })
        return try replica.openConflicts().filter { c in
            guard c.kind == .orphan, let parentCollection = parents[c.collection],
                  case .reference(let parent)? = c.sides.first(where: { $0.value != .bool(false) })?.value else { return true }
            return !retired.contains(parentCollection + "\u{1F}" + parent)
        }
    }
    public func closedConflicts() throws -> [ClosedConflict] { try replica.closedConflicts() }
    public func replicaBranches() throws -> [String: String] { try access.replicaBranches() }
    public func replicaUsers() throws -> [String: String] { try access.replicaUsers() }
    public func usersEnrolledBeneath(device: String) throws -> Set<String> { try access.usersEnrolledBeneath(device: device) }
    public func scopeSubject(_ collection: String, _ id: String) throws -> ScopeSubject { try replica.scopeSubject(collection, id) }
    public func scopeSubjects(_ records: [(collection: String, id: String)]) throws -> [String: ScopeSubject] { try replica.scopeSubjects(records) }
    public func existedBefore(_ records: [(collection: String, id: String)], seq: Int64) throws -> Set<String> {
        try replica.existedBefore(records, seq: seq)
    }
    public func scopeRoots() throws -> [(id: String, values: [String: String])] { try replica.scopeRoots() }
    public func history(of records: [(collection: String, id: String)], after: Int64, through: Int64, limit: Int) throws -> [(seq: Int64, change: Change)] {
        try replica.history(of: records, after: after, through: through, limit: limit)
    }
    public func scopeLog(after seq: Int64, limit: Int) throws -> [(seq: Int64, collection: String, id: String)] {
        try replica.scopeLog(after: seq, limit: limit)
    }
    public func scopeLogEnd() throws -> Int64 { try replica.scopeLogEnd() }
    public func evicted(_ collection: String, among ids: [String]) throws -> Set<String> { try replica.evicted(collection, among: ids) }
    public func upstreamRefusals(of replica: String) throws -> [(dot: Dot, code: String, reason: String)] {
        role == .branch ? try self.replica.upstreamRefusals(of: replica) : []
    }
    public func writeSnapshot(to path: String, user: String) throws -> SnapshotInfo {
        guard try access.users().contains(where: { $0.name == user }) else {
            throw WireError(.unknownUser, message: "There is no user named \(user); add one with `outpost-admin users add`.")
        }
        guard let info = try access.users().first(where: { $0.name == user }) else { throw WireError(.unknownUser, message: "There is no user named \(user).") }
        // The file holds the user's scope only: it travels to a laptop outside the server.
        let policy = try ScopePolicy.make(for: AuthenticatedDevice(id: "", user: user, replica: "", role: info.role), storage: self)
        return try replica.writeSnapshot(to: path, user: user, device: "new laptop", server: serverReplica,
                                         keep: policy.receivesAll ? nil : { policy.receives($0) })
    }
    public func probableDuplicates(in collection: String?) throws -> [DuplicatePair] {
        let dismissed = try access.dismissals()
        return try replica.probableDuplicates(in: collection).filter { !dismissed.contains("\($0.collection)|\($0.a)|\($0.b)") }
    }
    public func merge(_ collection: String, keep: String, other: String, take: [String: MergeSide], author: Author) throws -> MergeReport {
        // The redirect first: if the merge fails or the server stops halfway, a redirect to a
        // record that still exists moves nothing (only orphans are moved), and nothing is lost.
        try access.addRedirect(collection: collection, from: other, to: keep)
        return try replica.merge(collection, keep: keep, other: other, take: take, author: author)
    }
    public func dismiss(collection: String, _ a: String, _ b: String) throws { try access.dismiss(collection: collection, a, b) }
    public func repairMerged() throws -> Int {
        let redirects = try access.redirects()
        guard !redirects.isEmpty else { return 0 }
        let byRetired = Dictionary(redirects.map { ($0.collection + "\u{1F}" + $0.from, $0.to) }, uniquingKeysWith: { _, last in last })
        return try replica.repairOrphans(redirects: byRetired, author: Author(user: "head-office", device: Replica.repairDevice))
    }
    public func collectionHolding(_ id: String) throws -> String? {
        for spec in replica.schema.collections where !spec.duplicateKeys.isEmpty {
            if try replica.get(spec.name, id: id) != nil { return spec.name }
        }
        return nil
    }
    public func resolve(_ conflict: Conflict, choice: ConflictChoice, author: Author) throws -> ConflictResolution {
        try replica.resolve(conflict, choice: choice, author: author)
    }
    public func recordValues(_ collection: String, id: String) throws -> [String: FieldValue]? {
        try replica.resolved(collection, id: id)?.values
    }
    public func audit() throws -> [AuditEntry] { try access.audit() }
    public func addUser(_ user: UserInfo) throws { try access.addUser(user) }
    public func users() throws -> [UserInfo] { try access.users() }
    public func editUser(_ edit: AdminUserEditRequest) throws -> UserInfo { try access.editUser(edit) }
    public func revoke(device: String) throws -> DeviceInfo { try access.revoke(device: device) }
    public func createEnrollmentCode(user: String, hours: Double = 24) throws -> String { try access.createEnrollmentCode(user: user, hours: hours) }
    public func isRevoked(token: String) throws -> Bool { try access.isRevoked(token: token) }
    public func enroll(code: String, device: String, replica: String, syncToken: String?) throws -> (token: String, device: String, user: UserInfo) {
        try access.enroll(code: code, device: device, replica: replica, syncToken: syncToken, serverIsBranch: role == .branch)
    }
    public func device(token: String) throws -> AuthenticatedDevice? { try access.device(token: token) }
    public func noteClient(device: String, version: String) throws { try access.noteClient(device: device, version: version) }

    /// Every device, with how far each is behind: writes waiting to come up, and about how many
    /// changes it has yet to pull (counted per writer from its last hello's `seen`).
    public func devices() throws -> [DeviceInfo] {
        let writers = try replica.feedWriters()
        return try access.devices().map { device in
            var device = device
            device.pendingUp = max(0, Int(try access.declaredCounter(replica: device.replica)) - Int(try acknowledged(of: device.replica)))
            // Counted only for a device that said hello here (one learned from a branch has no
            // position here), from what it had seen at that hello.
            guard device.lastSeen != nil else { return device }
            let seen = try access.seen(of: device.replica)
            device.pendingDown = writers.reduce(0) { total, writer in
                writer.replica == device.replica ? total : total + min(writer.count, max(0, Int(writer.newest) - Int(seen[writer.replica] ?? 0)))
            }
            return device
        }
    }
    public func ownsReplica(device: String, replica: String) throws -> Bool { try access.replica(replica, device: device) != nil }
    public func openSession(replica: String, device: String, counter: UInt64, syncToken: String?, nextSyncToken: String?,
                            seen: [String: UInt64], sameServer: Bool, idProof: String?) throws -> Bool {
        try access.openSession(replica: replica, device: device, counter: counter, syncToken: syncToken, nextSyncToken: nextSyncToken,
                               seen: seen, sameServer: sameServer, idProof: idProof)
    }
    public func declaredCounter(replica: String) throws -> UInt64 { try access.declaredCounter(replica: replica) }
    public func forks(of replica: String) throws -> [StoredFork] { try access.forks(of: replica) }
    public func forkMap(of replica: String) throws -> StoredFork? { try access.forkMap(of: replica) }
    public func unusedFork(of replica: String, device: String, syncToken: String) throws -> StoredFork? {
        try access.unusedFork(of: replica, device: device, syncToken: syncToken)
    }
    public func createFork(device: String, from replica: String, syncToken: String, map: StoredFork) throws -> String {
        try access.createFork(device: device, from: replica, syncToken: syncToken, map: map)
    }
}
