import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// Everything the sync and admin logic needs from storage. The embedded SQLite store implements
/// it today; a PostgreSQL store shared by several server processes can implement it later
/// without touching ``SyncService``.
public protocol ServerStorage: Sendable {
    /// The server's own replica id.
    var serverReplica: String { get }
    /// The schema in force.
    var schema: Schema { get }
    /// Every change of the child `replica` up to this counter was applied or refused for its content here.
    func acknowledged(of replica: String) throws -> UInt64
    /// The highest counter of `replica` whose change was applied here (0 if none).
    func seenCounter(of replica: String) throws -> UInt64
    /// Applies a page pushed by the child `sender` with its new acknowledgement, in one transaction
    /// (``Replica/applyPush(_:sender:declared:screen:)``).
    func applyPush(_ changes: [Change], sender: String, declared: UInt64,
                   screen: (Change) -> PushScreening?) throws -> PushReport
    /// The change stored under `dot` (applied, or refused from the replica that wrote it), if any.
    func storedChange(_ dot: Dot) throws -> Change?
    /// The first feed position holding a write of `replica` with a counter above `counter`, if any.
    func firstFeedSeq(of replica: String, after counter: UInt64) throws -> Int64?
    /// Feed entries after `cursor`, in order.
    func feedPage(after cursor: Int64, limit: Int) throws -> [(seq: Int64, change: Change)]
    /// How many feed entries come after `cursor`.
    func feedCount(after cursor: Int64) throws -> Int

    /// A new admin token (only its hash is kept).
    func createAdminToken() throws -> String
    /// Whether `token` is a valid admin token.
    func isAdmin(token: String) throws -> Bool
    /// Adds a user.
    func addUser(_ user: UserInfo) throws
    /// All users.
    func users() throws -> [UserInfo]
    /// A one-time enrollment code for a user.
    func createEnrollmentCode(user: String) throws -> String
    /// Spends a code and enrolls a device writing as `replica`, whose first sync token is `syncToken`.
    func enroll(code: String, device: String, replica: String, syncToken: String?) throws -> (token: String, device: String, user: UserInfo)
    /// The device a token belongs to, unless unknown or revoked.
    func device(token: String) throws -> AuthenticatedDevice?
    /// All devices.
    func devices() throws -> [DeviceInfo]
    /// Whether `device` may write as `replica`.
    func ownsReplica(device: String, replica: String) throws -> Bool
    /// Opens a session: refuses a counter that went back or a sync token older than the stored
    /// one (a copied or restored folder), then records the counter and the next token. Returns
    /// true when the folder is ahead of this server (the server was restored from a backup).
    func openSession(replica: String, device: String, counter: UInt64, syncToken: String?, nextSyncToken: String?) throws -> Bool
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
    /// The server's replica.
    public let replica: Replica
    let access: AccessDatabase

    /// Opens the store in `directory`, creating it (as head office) on first use.
    /// `clock` is the wall clock in milliseconds (tests move it; servers use the system's).
    public init(directory: String, schema: Schema = .crm, clock: @escaping @Sendable () -> UInt64 = Replica.systemClock) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = URL(fileURLWithPath: directory).appendingPathComponent("replica.sqlite").path
        if FileManager.default.fileExists(atPath: path) {
            replica = try Replica.open(at: path, clock: clock)
        } else {
            replica = try Replica.create(at: path, schema: schema, options: ReplicaOptions(
                user: "head-office", device: ProcessInfo.processInfo.hostName, role: .headOffice), clock: clock)
        }
        access = try AccessDatabase(path: URL(fileURLWithPath: directory).appendingPathComponent("server.sqlite").path)
    }

    public var serverReplica: String { replica.replicaID.rawValue }
    public var schema: Schema { replica.schema }
    public func acknowledged(of replica: String) throws -> UInt64 { try self.replica.acknowledged(of: try ReplicaID(replica)) }
    public func seenCounter(of replica: String) throws -> UInt64 { try self.replica.seenCounter(of: replica) }
    public func applyPush(_ changes: [Change], sender: String, declared: UInt64,
                          screen: (Change) -> PushScreening?) throws -> PushReport {
        try replica.applyPush(changes, sender: try ReplicaID(sender), declared: declared, screen: screen)
    }
    public func storedChange(_ dot: Dot) throws -> Change? { try replica.storedChange(dot) }
    public func firstFeedSeq(of replica: String, after counter: UInt64) throws -> Int64? {
        try self.replica.firstFeedSeq(of: try ReplicaID(replica), after: counter)
    }
    public func feedPage(after cursor: Int64, limit: Int) throws -> [(seq: Int64, change: Change)] {
        try replica.changes(after: cursor, limit: limit).map { ($0.seq, $0.change) }
    }
    public func feedCount(after cursor: Int64) throws -> Int { try replica.feedCount(after: cursor) }
    public func createAdminToken() throws -> String { try access.createAdminToken() }
    public func isAdmin(token: String) throws -> Bool { try access.isAdmin(token: token) }
    public func addUser(_ user: UserInfo) throws { try access.addUser(user) }
    public func users() throws -> [UserInfo] { try access.users() }
    public func createEnrollmentCode(user: String) throws -> String { try access.createEnrollmentCode(user: user) }
    public func enroll(code: String, device: String, replica: String, syncToken: String?) throws -> (token: String, device: String, user: UserInfo) {
        try access.enroll(code: code, device: device, replica: replica, syncToken: syncToken)
    }
    public func device(token: String) throws -> AuthenticatedDevice? { try access.device(token: token) }
    public func devices() throws -> [DeviceInfo] { try access.devices() }
    public func ownsReplica(device: String, replica: String) throws -> Bool { try access.replica(replica, device: device) != nil }
    public func openSession(replica: String, device: String, counter: UInt64, syncToken: String?, nextSyncToken: String?) throws -> Bool {
        try access.openSession(replica: replica, device: device, counter: counter, syncToken: syncToken, nextSyncToken: nextSyncToken)
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
