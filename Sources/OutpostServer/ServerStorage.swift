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
    /// The highest counter of `replica` processed here (applied or rejected).
    func processedCounter(of replica: String) throws -> UInt64
    /// Applies pushed changes in one transaction, refusing those `precheck` refuses.
    func apply(_ changes: [Change], from origin: String, precheck: (Change) -> (code: String, reason: String)?) throws -> ApplyReport
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
    /// Spends a code and enrolls a device.
    func enroll(code: String, device: String, replica: String) throws -> (token: String, device: String, user: UserInfo)
    /// The device a token belongs to, unless unknown or revoked.
    func device(token: String) throws -> AuthenticatedDevice?
    /// All devices.
    func devices() throws -> [DeviceInfo]
    /// Notes a device's hello and the counter it declared.
    func recordHello(device: String, counter: UInt64) throws
    /// The counter a device declared at its last hello.
    func declaredCounter(device: String) throws -> UInt64
}

/// The embedded store: the server's replica (`replica.sqlite`) and its access data (`server.sqlite`) in one folder.
public final class SQLiteServerStorage: ServerStorage {
    /// The server's replica.
    public let replica: Replica
    let access: AccessDatabase

    /// Opens the store in `directory`, creating it (as head office) on first use.
    public init(directory: String, schema: Schema = .crm) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = URL(fileURLWithPath: directory).appendingPathComponent("replica.sqlite").path
        if FileManager.default.fileExists(atPath: path) {
            replica = try Replica.open(at: path)
        } else {
            replica = try Replica.create(at: path, schema: schema, options: ReplicaOptions(
                user: "head-office", device: ProcessInfo.processInfo.hostName, role: .headOffice))
        }
        access = try AccessDatabase(path: URL(fileURLWithPath: directory).appendingPathComponent("server.sqlite").path)
    }

    public var serverReplica: String { replica.replicaID.rawValue }
    public var schema: Schema { replica.schema }
    public func processedCounter(of replica: String) throws -> UInt64 { try self.replica.processedCounter(of: replica) }
    public func apply(_ changes: [Change], from origin: String, precheck: (Change) -> (code: String, reason: String)?) throws -> ApplyReport {
        try replica.apply(changes, from: origin, precheck: precheck)
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
    public func enroll(code: String, device: String, replica: String) throws -> (token: String, device: String, user: UserInfo) {
        try access.enroll(code: code, device: device, replica: replica)
    }
    public func device(token: String) throws -> AuthenticatedDevice? { try access.device(token: token) }
    public func devices() throws -> [DeviceInfo] { try access.devices() }
    public func recordHello(device: String, counter: UInt64) throws { try access.recordHello(device: device, counter: counter) }
    public func declaredCounter(device: String) throws -> UInt64 { try access.declaredCounter(device: device) }
}
