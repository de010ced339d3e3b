import AsyncHTTPClient
import Foundation
import GRDB
import Logging
import NIOCore
import NIOHTTP1
import OutpostBranch
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostServer
import OutpostStore
import OutpostWire
import ServiceLifecycle

/// A temporary folder removed when the test ends.
final class TempFolder: @unchecked Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-sync-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A real outpost-server on 127.0.0.1 with an ephemeral port, in this process.
final class TestServer: @unchecked Sendable {
    let storage: SQLiteServerStorage
    /// A branch's link to its parent (rounds are run by the test, not in the background).
    var link: UpstreamLink?
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    static func start(_ folder: TempFolder, directory: String = "hq", callLimit: Int = OutpostServerApp.defaultCallLimit,
                      clock: @escaping @Sendable () -> UInt64 = Replica.systemClock) async throws -> TestServer {
        try await start(folder, directory: directory, upstream: nil, callLimit: callLimit, clock: clock)
    }

    /// A server; with `upstream` (a parent URL and an enrollment code for a branch user), a
    /// branch enrolled with that parent.
    static func start(_ folder: TempFolder, directory: String, upstream: (url: String, code: String)?,
                      callLimit: Int = OutpostServerApp.defaultCallLimit, clock: @escaping @Sendable () -> UInt64 = Replica.systemClock,
                      linkTimeouts: SyncTimeouts = SyncTimeouts(connect: .milliseconds(300), request: .seconds(10))) async throws -> TestServer {
        if let upstream {
            try await UpstreamLink.enroll(directory: folder.path(directory), upstream: upstream.url, code: upstream.code, device: directory,
                                          timeouts: SyncTimeouts(connect: .seconds(2), request: .seconds(10)))
        }
        let storage = try SQLiteServerStorage(directory: folder.path(directory), clock: clock)
        var logger = Logger(label: "test-server")
        logger.logLevel = .error
        // A branch folder enrolled before (a restarted branch) gets its link back too.
        let link = storage.role != .branch ? nil : try UpstreamLink(storage: storage, timeouts: linkTimeouts, logger: logger)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = OutpostServerApp.application(storage: storage, host: "127.0.0.1", port: 0, logger: logger,
                                               callLimit: callLimit, onRunning: { continuation.yield($0) }, upstream: link?.statusReader)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = stream.makeAsyncIterator()
        let port = await iterator.next()!
        let server = TestServer(storage: storage, group: group, task: task, port: port)
        server.link = link
        return server
    }

    private init(storage: SQLiteServerStorage, group: ServiceGroup, task: Task<Void, any Error>, port: Int) {
        self.storage = storage
        self.group = group
        self.task = task
        self.port = port
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Adds a user and enrolls a new replica for them over HTTP; returns the replica.
    func enroll(_ folder: TempFolder, user: String, url: String? = nil) async throws -> Replica {
        if storage.role == .headOffice, (try storage.store.users()).allSatisfy({ $0.name != user }) {
            try storage.store.addUser(UserInfo(name: user, role: "rep", scope: "all"))
        }
        let code = try storage.store.createEnrollmentCode(user: user)
        let (replica, _) = try await Enrollment.enrollReplica(at: folder.path("\(user)/replica.sqlite"), serverURL: self.url, code: code,
                                                              device: "\(user)-laptop", replicaID: "r-\(user)")
        if let url { try replica.setSettings([ClientSettings.serverURL: url]) }
        return replica
    }
}

func s(_ text: String) -> FieldValue { .string(text) }

/// Every collection's plain rows, for comparing replicas.
func snapshot(_ r: Replica) throws -> [String: [RecordView]] {
    var result: [String: [RecordView]] = [:]
    for c in r.schema.collections { result[c.name] = try r.query(c.name) }
    return result
}

/// Moves a replica's last sync at the head office in `folder` a hundred days back: past the
/// default 90-day expiry.
func silence(_ replica: Replica, at folder: TempFolder) async throws {
    let access = try DatabaseQueue(path: folder.path("hq/server.sqlite"))
    try await access.write { db in
        try db.execute(sql: "UPDATE replicas SET last_seen = ? WHERE id = ?",
                       arguments: [ISO8601DateFormatter().string(from: Date().addingTimeInterval(-100 * 86_400)), replica.replicaID.rawValue])
    }
    try access.close()
}

/// A pull sent as an older client would, past the engine: the status and the body.
func rawPull(_ serverURL: String, as replica: Replica, cursor: String) async throws -> (status: HTTPResponseStatus, body: String) {
    var request = HTTPClientRequest(url: serverURL + "/v1/sync/pull")
    request.method = .POST
    request.headers.add(name: "Authorization", value: "Bearer \(try replica.setting(ClientSettings.token)!)")
    request.body = .bytes(ByteBuffer(string: #"{"protocol":1,"replica":"\#(replica.replicaID.rawValue)","cursor":\#(cursor),"limit":10}"#))
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let response = try await client.execute(request, timeout: .seconds(20))
    let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
    try await client.shutdown()
    return (response.status, body)
}
