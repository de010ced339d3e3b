import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

import NIOPosix

/// The embedded SQLite store as a ``ServerStorage``: each call runs on ``StorageThreads``,
/// threads that may block on SQLite (one for writes, a few for reads), never on the
/// cooperative threads that serve connections.
public final class SQLiteServerStorage: ServerStorage {
    /// The synchronous store under it.
    public let store: EmbeddedServerStore

    /// Opens the store in `directory`, creating it (as head office) on first use.
    /// `clock` is the wall clock in milliseconds (tests move it; servers use the system's).
    public init(directory: String, schema: Schema = .crm, clock: @escaping @Sendable () -> UInt64 = Replica.systemClock) throws {
        store = try EmbeddedServerStore(directory: directory, schema: schema, clock: clock)
    }

    /// Where a server folder keeps its replica.
    public static func replicaPath(_ directory: String) -> String { EmbeddedServerStore.replicaPath(directory) }

    /// Serves an open store.
    public init(store: EmbeddedServerStore) { self.store = store }

    /// The server's replica (a new object after a schema upgrade).
    public var replica: Replica { store.replica }
    public var serverReplica: String { store.serverReplica }
    public var time: UInt64 { store.replica.correctedTime() }
    public func retention(purge: Bool, expireAfterDays: Int?) async throws -> RetentionFigures {
        try await writeReplica { [store] in try store.retention(purge: purge, expireAfterDays: expireAfterDays) }
    }
    public func noteHello(device: String, replica: String, cursor: Int64, skewMillis: Int64?, active: Bool) async throws {
        try await write { [store] in try store.access.noteHello(device: device, replica: replica, cursor: cursor, skewMillis: skewMillis, active: active) }
    }
    public func purgedStates(_ records: [(collection: String, id: String)]) async throws -> [PurgedBase] {
        try await io { [store] in try store.replica.purgedStates(records) }
    }
    public func purgedThrough() async throws -> Int64 { try await io { [store] in try store.replica.purgedThrough() } }
    public func purgedPage(after: String?, limit: Int) async throws -> (states: [PurgedBase], writes: [(dot: Dot, digest: String)], next: String?, generation: Int64) {
        try await io { [store] in try store.replica.purgedPage(after: after, limit: limit) }
    }
    public func purgeGeneration() async throws -> Int64 { try await io { [store] in try store.replica.purgeGeneration() } }
    public func lastPurgedWrite(of replica: ReplicaID) async throws -> UInt64 { try await io { [store] in try store.replica.lastPurgedWrite(of: replica) } }
    public func recordFingerprints(_ collection: String) async throws -> [(id: String, fingerprint: UInt64)] {
        try await io { [store] in try store.replica.recordFingerprints(collection) }
    }
    public func noteVerification(replica: String, differing: Int) async throws {
        try await write { [store] in try store.access.noteVerification(replica: replica, differing: differing) }
    }
    public var schema: Schema { store.schema }
    public var role: ReplicaRole { store.role }

    /// Runs a read on the storage threads and waits for it without holding a cooperative thread.
    private func io<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await StorageThreads.read(body)
    }

    /// Runs a write of the access data (users, devices, sessions) on its writing thread: writes
    /// wait for SQLite's write lock one after another, so however many queue, the reading
    /// threads stay free for pulls and checks.
    private func write<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await StorageThreads.write(body)
    }

    /// Runs a write of the replica (pushes, settlements) on its own writing thread: a hello's
    /// session does not wait behind a page of changes, nor a page behind a crowd of hellos.
    private func writeReplica<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await StorageThreads.writeReplica(body)
    }

    /// The screen runs inside the push's write transaction on a storage thread, while the
    /// caller waits for the whole call.
    public func applyPush(_ changes: [Change], sender: String, declared: UInt64, relayable: Set<String>,
                          screen: @escaping (Change, PushView) throws -> PushScreening?) async throws -> PushReport {
        try await writeReplica { [store] in
            try store.applyPush(changes, sender: sender, declared: declared, relayable: relayable, screen: screen)
        }
    }

    public func upgradeSchema(_ schema: Schema) async throws { try await writeReplica { [store] in try store.upgradeSchema(schema) } }
    public func acknowledged(of replica: String) async throws -> UInt64 { try await io { [store] in try store.acknowledged(of: replica) } }
    public func acknowledged(of replicas: [String]) async throws -> [String: UInt64] { try await io { [store] in try store.acknowledged(of: replicas) } }
    public func firstUnseenFeedPosition(seen: [String: UInt64]) async throws -> Int64 { try await io { [store] in try store.firstUnseenFeedPosition(seen: seen) } }
    public func seen(of replica: String) async throws -> [String: UInt64] { try await io { [store] in try store.seen(of: replica) } }
    public func relayable(device: String) async throws -> Set<String> { try await io { [store] in try store.relayable(device: device) } }
    public func directoryVersion() async throws -> String { try await io { [store] in try store.directoryVersion() } }
    public func directoryDevices(notFrom neighbour: String?) async throws -> [DirectoryDevice] { try await io { [store] in try store.directoryDevices(notFrom: neighbour) } }
    public func relayedReplicas(parent: String?) async throws -> [String] { try await io { [store] in try store.relayedReplicas(parent: parent) } }
    public func visitingReplicas(parent: String?) async throws -> [String] { try await io { [store] in try store.visitingReplicas(parent: parent) } }
    public func importDirectory(users: [UserInfo]?, devices: [DirectoryDevice], visiting: [String], from neighbour: String, neighbourDevice: String?) async throws { try await write { [store] in try store.importDirectory(users: users, devices: devices, visiting: visiting, from: neighbour, neighbourDevice: neighbourDevice) } }
    public func counts() async throws -> (users: Int, devices: Int, feed: Int) { try await io { [store] in try store.counts() } }
    public func adminStats() async throws -> ServerStats { try await io { [store] in try store.adminStats() } }
    public func storedChange(_ dot: Dot) async throws -> Change? { try await io { [store] in try store.storedChange(dot) } }
    public func storedDigest(_ dot: Dot) async throws -> String? { try await io { [store] in try store.storedDigest(dot) } }
    public func firstFeedSeq(of replica: String, after counter: UInt64) async throws -> Int64? { try await io { [store] in try store.firstFeedSeq(of: replica, after: counter) } }
    public func feedPage(after cursor: Int64, limit: Int) async throws -> [StoredFeedRow] { try await io { [store] in try store.feedPage(after: cursor, limit: limit) } }
    public func feedCount(after cursor: Int64) async throws -> Int { try await io { [store] in try store.feedCount(after: cursor) } }
    public func createAdminToken(name: String) async throws -> String { try await write { [store] in try store.createAdminToken(name: name) } }
    public func adminName(token: String) async throws -> String? { try await io { [store] in try store.adminName(token: token) } }
    public func openConflicts() async throws -> [Conflict] { try await io { [store] in try store.openConflicts() } }
    public func closedConflicts() async throws -> [ClosedConflict] { try await io { [store] in try store.closedConflicts() } }
    public func replicaBranches() async throws -> [String: String] { try await io { [store] in try store.replicaBranches() } }
    public func replicaUsers() async throws -> [String: String] { try await io { [store] in try store.replicaUsers() } }
    public func usersEnrolledBeneath(device: String) async throws -> Set<String> { try await io { [store] in try store.usersEnrolledBeneath(device: device) } }
    public func scopeSubject(_ collection: String, _ id: String) async throws -> ScopeSubject { try await io { [store] in try store.scopeSubject(collection, id) } }
    public func scopeSubjects(_ records: [(collection: String, id: String)]) async throws -> [String: ScopeSubject] { try await io { [store] in try store.scopeSubjects(records) } }
    public func existedBefore(_ records: [(collection: String, id: String)], seq: Int64) async throws -> Set<String> { try await io { [store] in try store.existedBefore(records, seq: seq) } }
    public func scopeRoots() async throws -> [(id: String, values: [String: String])] { try await io { [store] in try store.scopeRoots() } }
    public func history(of records: [(collection: String, id: String)], after: Int64, through: Int64, limit: Int) async throws -> [(seq: Int64, change: Change)] { try await io { [store] in try store.history(of: records, after: after, through: through, limit: limit) } }
    public func scopeLog(after seq: Int64, limit: Int) async throws -> [(seq: Int64, collection: String, id: String)] { try await io { [store] in try store.scopeLog(after: seq, limit: limit) } }
    public func scopeLogEnd() async throws -> Int64 { try await io { [store] in try store.scopeLogEnd() } }
    public func upstreamRefusals(of replica: String) async throws -> [(dot: Dot, code: String, reason: String)] { try await io { [store] in try store.upstreamRefusals(of: replica) } }
    public func evicted(_ collection: String, among ids: [String]) async throws -> Set<String> { try await io { [store] in try store.evicted(collection, among: ids) } }
    public func resolve(_ conflict: Conflict, choice: ConflictChoice, author: Author) async throws -> ConflictResolution { try await writeReplica { [store] in try store.resolve(conflict, choice: choice, author: author) } }
    public func recordValues(_ collection: String, id: String) async throws -> [String: FieldValue]? { try await io { [store] in try store.recordValues(collection, id: id) } }
    public func probableDuplicates(in collection: String?) async throws -> [DuplicatePair] { try await io { [store] in try store.probableDuplicates(in: collection) } }
    public func merge(_ collection: String, keep: String, other: String, take: [String: MergeSide], author: Author) async throws -> MergeReport { try await writeReplica { [store] in try store.merge(collection, keep: keep, other: other, take: take, author: author) } }
    public func dismiss(collection: String, _ a: String, _ b: String) async throws { try await write { [store] in try store.dismiss(collection: collection, a, b) } }
    public func repairMerged() async throws -> Int { try await writeReplica { [store] in try store.repairMerged() } }
    public func collectionHolding(_ id: String) async throws -> String? { try await io { [store] in try store.collectionHolding(id) } }
    public func writeSnapshot(to path: String, user: String) async throws -> SnapshotInfo { try await io { [store] in try store.writeSnapshot(to: path, user: user) } }
    public func addAudit(_ entry: AuditEntry) async throws { try await write { [store] in try store.addAudit(entry) } }
    public func audit() async throws -> [AuditEntry] { try await io { [store] in try store.audit() } }
    public func addUser(_ user: UserInfo) async throws { try await write { [store] in try store.addUser(user) } }
    public func users() async throws -> [UserInfo] { try await io { [store] in try store.users() } }
    public func editUser(_ edit: AdminUserEditRequest) async throws -> UserInfo { try await write { [store] in try store.editUser(edit) } }
    public func revoke(device: String) async throws -> DeviceInfo { try await write { [store] in try store.revoke(device: device) } }
    public func createEnrollmentCode(user: String, hours: Double) async throws -> String { try await write { [store] in try store.createEnrollmentCode(user: user, hours: hours) } }
    public func isRevoked(token: String) async throws -> Bool { try await io { [store] in try store.isRevoked(token: token) } }
    public func enroll(code: String, device: String, replica: String, syncToken: String?) async throws -> (token: String, device: String, user: UserInfo) { try await write { [store] in try store.enroll(code: code, device: device, replica: replica, syncToken: syncToken) } }
    public func device(token: String) async throws -> AuthenticatedDevice? { try await io { [store] in try store.device(token: token) } }
    public func devices() async throws -> [DeviceInfo] { try await io { [store] in try store.devices() } }
    public func noteClient(device: String, version: String) async throws { try await write { [store] in try store.noteClient(device: device, version: version) } }
    public func ownsReplica(device: String, replica: String) async throws -> Bool { try await io { [store] in try store.ownsReplica(device: device, replica: replica) } }
    public func openSession(replica: String, device: String, counter: UInt64, syncToken: String?, nextSyncToken: String?, seen: [String: UInt64], sameServer: Bool, idProof: String?) async throws -> Bool { try await write { [store] in try store.openSession(replica: replica, device: device, counter: counter, syncToken: syncToken, nextSyncToken: nextSyncToken, seen: seen, sameServer: sameServer, idProof: idProof) } }
    public func declaredCounter(replica: String) async throws -> UInt64 { try await io { [store] in try store.declaredCounter(replica: replica) } }
    public func forks(of replica: String) async throws -> [StoredFork] { try await io { [store] in try store.forks(of: replica) } }
    public func forkMap(of replica: String) async throws -> StoredFork? { try await io { [store] in try store.forkMap(of: replica) } }
    public func unusedFork(of replica: String, device: String, syncToken: String) async throws -> StoredFork? { try await io { [store] in try store.unusedFork(of: replica, device: device, syncToken: syncToken) } }
    public func createFork(device: String, from replica: String, syncToken: String, map: StoredFork) async throws -> String { try await write { [store] in try store.createFork(device: device, from: replica, syncToken: syncToken, map: map) } }
}

/// The threads the embedded store blocks on, so a thousand waiting requests queue for them
/// instead of each holding a thread: one for each file's writes (SQLite takes one writer at a
/// time per file, and a write waiting for the lock must not hold a thread a read needs) and a
/// few for reads (GRDB keeps five reader connections per file).
public enum StorageThreads {
    /// Threads that read.
    public static let readers = 6

    static let readPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: readers)
        pool.start()
        return pool
    }()

    static let writePool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    static let replicaWritePool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// Runs a write of the replica on its writing thread; the caller's task is suspended meanwhile.
    public static func writeReplica<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await run(body, on: replicaWritePool)
    }

    /// Runs a read on a reading thread; the caller's task is suspended meanwhile.
    public static func read<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await run(body, on: readPool)
    }

    /// Runs a write of the access data on its writing thread; the caller's task is suspended meanwhile.
    public static func write<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await run(body, on: writePool)
    }

    private static func run<T>(_ body: @escaping () throws -> T, on pool: NIOThreadPool) async throws -> T {
        let work = UncheckedBox(body)
        return try await pool.runIfActive { UncheckedBox(try work.value()) }.value
    }
}

/// Carries a value that is used by one thread at a time across an isolation boundary: the
/// caller hands it over and waits until the other side is done with it.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
