import Foundation
import Synchronization
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// The embedded store's synchronous work: the server's replica (`replica.sqlite`) and its access
/// data (`server.sqlite`) in one folder. Requests reach it through ``SQLiteServerStorage``, which
/// runs each call on the storage threads; tools that own the folder (tests, benchmarks, the
/// branch's link) may call it directly.
public final class EmbeddedServerStore: Sendable {
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
        // No purge runs yet: one a crash cut short is finished.
        try replica.settlePurgeGeneration()
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
    /// What is acknowledged of each of these child replicas.
    public func acknowledged(of replicas: [String]) throws -> [String: UInt64] {
        var all: [String: UInt64] = [:]
        for id in replicas { all[id] = try acknowledged(of: id) }
        return all
    }
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
            var lag = ReplicaLag(replica: $0.replica, user: $0.user, lastSeen: $0.lastSeen,
                                 pendingUp: max(0, Int($0.declared) - Int(try acknowledged(of: $0.replica))))
            lag.verifiedAt = $0.verifiedAt
            lag.verifyDiffering = $0.differing
            return lag
        }
        return stats
    }

    public func counts() throws -> (users: Int, devices: Int, feed: Int) {
        let (users, devices) = try access.counts()
        return (users, devices, try replica.feedCount(after: 0))
    }
    public func storedChange(_ dot: Dot) throws -> Change? { try replica.storedChange(dot) }
    /// The digest of the write stored under `dot`, in the feed, kept refused, or purged.
    public func storedDigest(_ dot: Dot) throws -> String? {
        try replica.storedChange(dot).map(ChangeDigest.of) ?? replica.purgedWriteDigest(dot)
    }
    public func firstFeedSeq(of replica: String, after counter: UInt64) throws -> Int64? {
        try self.replica.firstFeedSeq(of: try ReplicaID(replica), after: counter)
    }
    public func feedPage(after cursor: Int64, limit: Int) throws -> [StoredFeedRow] {
        try replica.feedRows(after: cursor, limit: limit)
    }
    public func feedCount(after cursor: Int64) throws -> Int { try replica.feedCount(after: cursor) }

    /// Expires replicas silent past the expiry, computes the low-water mark of the active ones
    /// (the lowest position any of them stood at at its last hello) and, with `purge`, purges
    /// the history below it (``Replica/purgeHistory(through:)``).
    public func retention(purge: Bool, expireAfterDays days: Int? = nil) throws -> RetentionFigures {
        if let days { try access.setExpireAfterDays(days) }
        let expiry = try access.expireAfterDays()
        let cutoff = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(clock()) / 1000 - Double(expiry) * 86_400))
        let (active, expired) = try access.retentionReplicas(cutoff: cutoff, marking: purge)
        let end = try replica.feedEnd()
        let mark = active.map(\.cursor).min() ?? end
        // A branch relays its feed to its parent: only head office purges (its parent acknowledgement would have to hold the mark too).
        let report = purge && role == .headOffice ? try replica.purgeHistory(through: mark) : PurgeReport()
        var figures = RetentionFigures(expireAfterDays: expiry, lowWaterMark: mark, feedEnd: end, tombstones: try replica.tombstoneCount(),
                                       purgedTombstones: report.tombstones, purgedFeedEntries: report.feedEntries, keptTombstones: report.kept,
                                       holdingBack: Array(active.filter { $0.cursor == mark }.map(\.lag).prefix(10)), expired: expired)
        figures.purgedRecords = report.records
        return figures
    }
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
        let users = try access.users()
        guard let info = users.first(where: { $0.name == user }) else {
            throw WireError(.unknownUser, message: "There is no user named \(user); add one with `outpost-admin users add`.")
        }
        // The file holds the user's scope only: it travels to a laptop outside the server.
        let policy = ScopePolicy.make(for: AuthenticatedDevice(id: "", user: user, replica: "", role: info.role), schema: schema,
                                      users: users, beneath: [])
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
