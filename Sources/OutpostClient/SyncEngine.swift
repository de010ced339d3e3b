import Foundation
import Logging
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// Setting keys the client keeps in the replica.
public enum ClientSettings {
    public static let serverURL = "server.url"
    public static let token = "server.token"
    public static let serverID = "server.id"
    public static let cursor = "sync.cursor"
    public static let acknowledged = "sync.acknowledged"
    public static let lastSuccess = "sync.last_success"
}

/// The laptop's sync engine: runs a ``SyncSession`` over HTTP against the local replica.
///
/// Each pulled page is applied together with its new cursor in one transaction, and each push
/// page is resent until the server acknowledges it, so a sync cut anywhere resumes where it
/// stopped, never re-applies a page and never resends what the server acknowledged.
public struct SyncEngine: Sendable {
    let replica: Replica
    let transport: SyncTransport
    /// Attempts per request before giving up (transport failures only).
    public var attempts = 4
    /// The first retry delay; each retry doubles it.
    public var initialBackoff: Duration = .milliseconds(200)
    let logger: Logger

    /// Creates an engine for a replica enrolled with a server.
    public init(replica: Replica, serverURL: String? = nil, logger: Logger = Logger(label: "outpost.sync")) throws {
        guard let token = try replica.setting(ClientSettings.token) else {
            throw TransportError.server(WireError(code: "not-enrolled", message: "This replica is not enrolled with a server; run `outpost enroll --server URL --code CODE` first."), status: 0)
        }
        guard let url = try serverURL ?? replica.setting(ClientSettings.serverURL) else {
            throw TransportError.server(WireError(code: "not-enrolled", message: "No server is known; pass --server URL."), status: 0)
        }
        self.replica = replica
        self.transport = SyncTransport(baseURL: url, token: token)
        self.logger = logger
    }

    /// Runs one full sync; `progress` is called after every page.
    @discardableResult
    public func sync(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncProgress {
        let acknowledged = UInt64(try replica.setting(ClientSettings.acknowledged) ?? "0") ?? 0
        let position = SyncPosition(server: try replica.setting(ClientSettings.serverID),
                                    cursor: Int64(try replica.setting(ClientSettings.cursor) ?? "0") ?? 0,
                                    seen: try replica.seenCounters())
        let hello = HelloRequest(replica: replica.replicaID.rawValue, counter: try replica.counter(),
                                 schemaVersion: replica.schema.version, position: position)
        var session = SyncSession(hello: hello, pendingLocalChanges: try replica.localChangeCount(after: acknowledged))
        var action = try session.start()
        var serverID = position.server
        // The next pull page is fetched while the current one is applied: the server and the
        // local database work at the same time. Pull requests are idempotent, so a prefetch
        // that is not used costs nothing but the bandwidth.
        var prefetch: (cursor: Int64, task: Task<FetchedPage, any Error>)?
        var decoded: [Int64: [Change]] = [:]
        defer { prefetch?.task.cancel() }
        while true {
            switch action {
            case .sendHello(let request):
                let (response, up, down) = try await call("/v1/sync/hello", request, HelloResponse.self)
                session.countBytes(up: up, down: down)
                if serverID != response.server {
                    serverID = response.server
                    try replica.setSettings([ClientSettings.serverID: response.server])
                }
                action = try session.received(response)
            case .loadPushPage(let after, let through, let limit):
                action = try session.pushPageLoaded(try replica.localChanges(after: after, through: through, limit: limit))
            case .sendPush(let request):
                let (response, up, down) = try await call("/v1/sync/push", request, PushResponse.self)
                session.countBytes(up: up, down: down)
                action = try session.received(response)
            case .recordPush(let response):
                let rejected = response.results.compactMap { r -> (dot: Dot, code: String, reason: String)? in
                    guard r.status == .rejected, let dot = try? Dot(parsing: r.dot) else { return nil }
                    return (dot, r.code ?? "rejected", r.reason ?? "The server refused this change.")
                }
                try replica.recordUpstreamRejections(rejected, origin: "server")
                try replica.setSettings([ClientSettings.acknowledged: String(response.acknowledged)])
                action = try session.pushRecorded()
                progress(session.progress)
            case .sendPull(let request):
                let fetched: FetchedPage
                if let p = prefetch, p.cursor == request.cursor {
                    fetched = try await p.task.value
                } else {
                    prefetch?.task.cancel()
                    fetched = try await fetchPage(request)
                }
                prefetch = nil
                session.countBytes(up: fetched.up, down: fetched.down)
                decoded = [fetched.page.cursor: fetched.changes]
                action = try session.received(fetched.page)
            case .commitPull(let page):
                if page.more {
                    let next = PullRequest(replica: replica.replicaID.rawValue, cursor: page.cursor, limit: WireLimits.pageChanges)
                    let engine = self
                    prefetch = (page.cursor, Task { try await engine.fetchPage(next) })
                }
                let changes = decoded[page.cursor] ?? []
                try replica.apply(changes, from: serverID ?? "server", settings: [ClientSettings.cursor: String(page.cursor)])
                action = try session.pullCommitted(page)
                progress(session.progress)
            case .finished(let summary):
                try replica.setSettings([ClientSettings.lastSuccess: ISO8601DateFormatter().string(from: Date())])
                return summary
            }
        }
    }

    /// A pull page with its changes decoded (decoding runs in the prefetching task too).
    struct FetchedPage: Sendable {
        let page: PullResponse
        let changes: [Change]
        let up: Int, down: Int
    }

    func fetchPage(_ request: PullRequest) async throws -> FetchedPage {
        let (page, up, down) = try await call("/v1/sync/pull", request, PullResponse.self)
        do {
            return FetchedPage(page: page, changes: try page.changes.map { try Change(json: $0) }, up: up, down: down)
        } catch {
            throw TransportError.server(WireError(code: "malformed-page", message: "The server sent a change this client cannot read: \(error)."), status: 0)
        }
    }

    /// One request, retried with exponential backoff while the server is unreachable.
    func call<Request: Encodable & Sendable, Response: Decodable>(_ path: String, _ body: Request, _ type: Response.Type) async throws -> (Response, up: Int, down: Int) {
        var delay = initialBackoff
        for attempt in 1...attempts {
            do {
                return try await transport.post(path, body, as: type)
            } catch TransportError.unreachable(let why) where attempt < attempts {
                logger.info("retrying", metadata: ["outpost.path": .string(path), "outpost.attempt": .stringConvertible(attempt), "outpost.why": .string(why)])
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
        fatalError("unreachable: the last attempt rethrows")
    }
}

/// Turning a one-time code into an enrolled replica.
public enum Enrollment {
    /// Enrolls `replicaID` with the server and returns the server's answer (token, user, schema).
    public static func enroll(serverURL: String, code: String, device: String, replicaID: String) async throws -> EnrollResponse {
        let transport = SyncTransport(baseURL: serverURL, token: nil)
        return try await transport.post("/v1/enroll", EnrollRequest(code: code, device: device, replica: replicaID), as: EnrollResponse.self).0
    }
}
