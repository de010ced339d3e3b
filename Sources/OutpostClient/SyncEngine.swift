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
    /// The sync token this folder committed at its last hello (``SyncToken``).
    public static let syncToken = "sync.token"
    /// The token proposed at a hello whose answer has not been committed yet.
    public static let nextSyncToken = "sync.next_token"
    /// The first token of the id a fork call is asking for, kept until the folder takes the id,
    /// so a call whose answer is lost gets the same id again.
    public static let forkToken = "sync.fork_token"
    /// A heal not reported yet (its sync failed afterwards), as JSON: told at the next chance.
    public static let forkNotice = "sync.fork_notice"
    /// The first sync token of the id this folder took when it healed: the id is derived from
    /// it, so a server restored from an older backup can learn the id again.
    public static let idProof = "sync.id_proof"
    /// The company CA (PEM) trusted for the server's certificate, besides the system's.
    public static let trustedCA = "server.ca"
    /// The refusals from above a branch already taken in (their dots), so one retried or dropped
    /// by the rep is not brought back at every hello.
    public static let upstreamRefusalsSeen = "sync.upstream_refusals_seen"
    /// Where this folder stands in the server's scope log: `SERVER LOG-POSITION TOKEN`.
    public static let scopePosition = "sync.scope_position"
    /// The user's time zone as head office set it (an IANA name), used when the laptop is
    /// given none (`protocol/schema.md`, "Times and zones").
    public static let userTimeZone = "user.time_zone"
    /// The server said this replica expired: it starts again from the server's copy once every
    /// write it made has gone up (kept until the copy is taken in).
    public static let startAgain = "sync.start_again"
}

extension Replica {
    /// What the server acknowledged to this folder itself, in its last push answer.
    public func acknowledgedByServer() throws -> UInt64 {
        UInt64(try setting(ClientSettings.acknowledged) ?? "0") ?? 0
    }

    /// Changes made here that the server has not acknowledged to this folder: what waits.
    public func pendingChangeCount() throws -> Int {
        try localChangeCount(after: try acknowledgedByServer())
    }
}

/// What a branch server adds to a sync with its parent.
public struct RelaySource: Sendable {
    /// The replicas whose writes the branch relays (its own and those that synced with it).
    public var relaying: @Sendable () throws -> [String]
    /// Runs after the parent answered hello, before anything is pushed (the branch exchanges
    /// directories here when the parent's changed).
    public var afterHello: @Sendable (HelloResponse) async throws -> Void

    /// Creates a relay source.
    public init(relaying: @escaping @Sendable () throws -> [String], afterHello: @escaping @Sendable (HelloResponse) async throws -> Void = { _ in }) {
        self.relaying = relaying
        self.afterHello = afterHello
    }
}

/// Namespaced logging metadata keys of the client (never record values).
public enum ClientLogKey {
    public static let path = "outpost.path"
    public static let attempt = "outpost.attempt"
    public static let why = "outpost.why"
    public static let replica = "outpost.replica"
    public static let reissued = "outpost.reissued"
}

/// The laptop's sync engine: runs a ``SyncSession`` over HTTP against the local replica.
///
/// Each pulled page is applied together with its new cursor in one transaction, and each push
/// page is resent until the server acknowledges it, so a sync cut anywhere resumes where it
/// stopped, never re-applies a page and never resends what the server acknowledged. A folder
/// the server finds copied or restored takes a new replica id and sends again, under it, the
/// writes the server lacks (`heal(signal:)`), then syncs on.
public struct SyncEngine: Sendable {
    let replica: Replica
    let transport: SyncTransport
    /// Attempts per request once the session is open (transport failures only).
    public var attempts = 4
    /// A new, empty replica with at least this many changes to pull starts from a snapshot of
    /// its user's records instead (`protocol/sync.md`, Bootstrap); 0 never does.
    public var bootstrapThreshold = 20_000
    /// How long one request waits, in all, for a server that says it is busy before giving up.
    public var busyPatience: Duration = SyncEngine.defaultBusyPatience
    /// Two minutes: a crowd of a whole sales force is through in that time.
    public static let defaultBusyPatience: Duration = .seconds(120)
    /// The first retry delay; each retry doubles it.
    public var initialBackoff: Duration = .milliseconds(200)
    /// Set for a branch server syncing with its parent: it relays the writes of the replicas
    /// beneath it instead of only its own.
    public var relay: RelaySource?
    /// Puts a newer schema from the server in force before data that uses it arrives; returns
    /// the replica to go on with. By default the replica file is reopened with it.
    public var upgradeSchema: (@Sendable (Replica, Schema) throws -> Replica)?
    let logger: Logger

    /// Creates an engine for a replica enrolled with a server.
    public init(replica: Replica, serverURL: String? = nil, timeouts: SyncTimeouts = .standard,
                logger: Logger = Logger(label: "outpost.sync")) throws {
        guard let token = try replica.setting(ClientSettings.token) else {
            throw TransportError.server(WireError(.notEnrolled, message: "This replica is not enrolled with a server; run `outpost enroll --server URL --code CODE` first."), status: 0)
        }
        guard let url = try serverURL ?? replica.setting(ClientSettings.serverURL) else {
            throw TransportError.server(WireError(.notEnrolled, message: "No server is known; pass --server URL."), status: 0)
        }
        self.replica = replica
        self.transport = SyncTransport(baseURL: url, token: token, timeouts: timeouts, trustedCA: try replica.setting(ClientSettings.trustedCA))
        self.logger = logger
    }

    /// Runs one full sync; `progress` is called after every page.
    ///
    /// A server that says the folder is a copy or a restore (``ForkSignal``) makes it heal once
    /// and sync again; the summary's `fork` tells what happened (also when an earlier sync healed
    /// the folder and then failed before it could say so).
    @discardableResult
    public func sync(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncProgress {
        // A snapshot a stopped sync left half-downloaded.
        try? FileManager.default.removeItem(atPath: replica.bootstrapFilePath)
        var bootstrapped: Bootstrapped?
        for round in 0..<2 {
            do {
                var summary: SyncProgress
                do {
                    summary = try await session(progress: progress)
                } catch let taken as Bootstrapped {
                    // The snapshot is in: the same sync goes on from the position it stands for.
                    bootstrapped = taken
                    summary = try await session(progress: progress)
                }
                if let bootstrapped {
                    summary.fromSnapshot = true
                    summary.pulled += bootstrapped.changes
                    summary.pushed += bootstrapped.pushed
                    summary.bytesDown += bootstrapped.bytes
                }
                summary.fork = try pendingForkNotice()
                try replica.setSettings([:], clearing: [ClientSettings.forkNotice])
                return summary
            } catch TransportError.server(let error, _) where ForkSignal(rawValue: error.error.code) != nil {
                // One heal is enough for a folder; a second in the same sync means a bug or a
                // hostile server, and stopping is safer than renaming again.
                guard round == 0, let signal = ForkSignal(rawValue: error.error.code) else { break }
                let notice = try await heal(signal: signal)
                logger.notice("replica healed", metadata: [ClientLogKey.replica: .string(notice.newReplica),
                                                          ClientLogKey.reissued: .stringConvertible(notice.reissued)])
            }
        }
        throw TransportError.server(WireError(.replicaForked, message: "The server still takes this folder for a copy after it took a new replica id; ask an admin. Nothing was lost: every write is still in this folder."), status: 409)
    }

    /// How many of its latest writes a healing folder compares with the server by digest
    /// (about 7 MB of JSON at most; any folder a rep fills fits).
    static let forkDigestWindow: UInt64 = 200_000

    /// A heal this folder made that the rep has not been told about yet.
    public func pendingForkNotice() throws -> ForkNotice? {
        guard let text = try replica.setting(ClientSettings.forkNotice) else { return nil }
        return try? JSONDecoder().decode(ForkNotice.self, from: Data(text.utf8))
    }

    /// Takes a new replica id from the server and renames, under it, the writes the server
    /// does not hold identically; pulls again what the server holds under the old id.
    func heal(signal: ForkSignal) async throws -> ForkNotice {
        let old = replica.replicaID
        let acknowledged = try replica.acknowledgedByServer()
        let counter = try replica.counter()
        // Digests of the acknowledged writes too (up to a bound): a server restored from a
        // backup may since hold another copy's writes under names it had acknowledged to this
        // folder, and only a comparison tells.
        var from = min(acknowledged, counter > Self.forkDigestWindow ? counter - Self.forkDigestWindow : 0)
        var digests = try replica.ownChangeDigests(after: from)
        // The token is stored before the call, so that a call whose answer is lost asks again
        // for the same id instead of leaving an unused one behind.
        let token: String
        if let pending = try replica.setting(ClientSettings.forkToken) {
            token = pending
        } else {
            var rng = SystemRandomNumberGenerator()
            token = SyncToken.next(after: nil, using: &rng)
            try replica.setSettings([ClientSettings.forkToken: token])
        }
        let answer: ForkResponse
        do {
            answer = try await call("/v1/sync/fork", ForkRequest(replica: old.rawValue, acknowledged: acknowledged, digests: digests, from: from, syncToken: token),
                                    ForkResponse.self, opening: true).0
        } catch TransportError.server(let error, _) where error.error.code == "digests-needed" {
            // The server was restored and holds fewer of this folder's writes than it told the
            // folder: it compares the acknowledged ones too.
            guard let text = error.error.details?.first, let earlier = UInt64(text), earlier < from else { throw TransportError.server(error, status: 409) }
            from = earlier
            digests = try replica.ownChangeDigests(after: from)
            answer = try await call("/v1/sync/fork", ForkRequest(replica: old.rawValue, acknowledged: acknowledged, digests: digests, from: from, syncToken: token),
                                    ForkResponse.self, opening: true).0
        }
        let rename: ReplicaRename
        do {
            rename = try ReplicaRename(old: old, keptThrough: answer.keptThrough, adopted: try answer.adopted.map { try $0.segment() },
                                       new: try ReplicaID(answer.replica))
        } catch {
            throw TransportError.server(WireError(.malformedFork, message: "The server's answer to the fork is not usable (\(error)); nothing was changed here."), status: 0)
        }
        // The server can only have matched what it was sent.
        let sent = from + UInt64(digests.count)
        guard rename.keptThrough <= min(sent, counter), rename.segments.dropLast().allSatisfy({ $0.through <= sent }) else {
            throw TransportError.server(WireError(.malformedFork, message: "The server's answer to the fork claims writes this folder never sent; nothing was changed here."), status: 0)
        }
        var settings = [ClientSettings.acknowledged: "0", ClientSettings.syncToken: token, ClientSettings.idProof: token]
        let cursor = Int64(try replica.setting(ClientSettings.cursor) ?? "0") ?? 0
        if let rewind = answer.cursor, rewind < cursor { settings[ClientSettings.cursor] = String(max(0, rewind)) }
        var notice = ForkNotice(oldReplica: old.rawValue, newReplica: rename.new.rawValue, reissued: 0, signal: signal)
        let report = try replica.reissue(rename, settings: settings, clearing: [ClientSettings.nextSyncToken, ClientSettings.forkToken]) { report in
            notice.reissued = report.reissued
            notice.adopted = report.adopted
            return [ClientSettings.forkNotice: String(decoding: (try? JSONEncoder().encode(notice)) ?? Data(), as: UTF8.self)]
        }
        notice.reissued = report.reissued
        notice.adopted = report.adopted
        return notice
    }

    /// A session ended after its hello because the replica took a snapshot; the sync starts again.
    struct Bootstrapped: Error {
        /// Feed entries and bytes the snapshot brought.
        let changes: Int
        let bytes: Int
        /// Changes pushed before it, in the session it ended (an expired replica's).
        var pushed = 0
    }

    /// Downloads a snapshot of the user's records next to the replica and takes it in; nil if
    /// the server cannot make one (an older server, a branch device) or the schemas differ, and
    /// the replica then pulls the changes as usual.
    func bootstrap(_ replica: Replica, backlog: Int, progress: @Sendable (SyncProgress) -> Void) async throws -> Bootstrapped? {
        let file = replica.bootstrapFilePath
        try? FileManager.default.removeItem(atPath: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            return try await takeSnapshot(replica, file: file, backlog: backlog, progress: progress)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Whatever went wrong (a busy or full server, a cut, a file not taken), nothing is
            // lost: the replica is as it was, and pulls the changes as before.
            logger.warning("snapshot not taken; pulling the changes instead", metadata: [ClientLogKey.why: .string("\(error)")])
            return nil
        }
    }

    private func takeSnapshot(_ replica: Replica, file: String, backlog: Int, restarting: Bool = false,
                              progress: @Sendable (SyncProgress) -> Void) async throws -> Bootstrapped {
        // Shown as the backlog it replaces, in step with the bytes received.
        var shown = SyncProgress()
        shown.pullTotal = backlog
        var lastStep = -1
        let bytes = try await transport.download("/v1/sync/bootstrap", to: file) { written, expected in
            guard let expected, expected > 0 else { return }
            let step = written * 200 / expected
            guard step != lastStep else { return }
            lastStep = step
            shown.pullScanned = Int(Double(backlog) * Double(written) / Double(expected))
            progress(shown)
        }
        let adopted = try replica.adoptSnapshot(at: file, restarting: restarting)
        logger.notice("started from a snapshot", metadata: ["outpost.cursor": .stringConvertible(adopted.cursor), "outpost.changes": .stringConvertible(adopted.changes)])
        return Bootstrapped(changes: adopted.changes, bytes: bytes)
    }

    /// An expired replica starts again from the server's copy (`protocol/sync.md`, "Retention"):
    /// only once every write it made is acknowledged (else nothing is removed and the rep is
    /// told), keeping the changes it refused or had refused; its own writes come back with the
    /// copy. Its counter goes on, so its next writes take new names.
    func startAgain(_ replica: Replica, backlog: Int, progress: @Sendable (SyncProgress) -> Void) async throws -> Bootstrapped {
        let acknowledged = try replica.acknowledgedByServer()
        let unsent = try replica.localChangeCount(after: acknowledged)
        guard unsent == 0 else {
            throw TransportError.server(WireError(.replicaExpired, message: "This laptop must start again from the server's copy (it was away longer than your admin allows, or stands before what the server purged) once all it wrote has gone up; \(unsent) changes could not go up yet (see `outpost status`). They are kept here; nothing was removed."), status: 409)
        }
        do {
            _ = try replica.wipe(acknowledged: acknowledged, settings: [ClientSettings.cursor, ClientSettings.scopePosition], keepingRefusals: true, onlyIfAllSent: true)
        } catch let error as StoreError where error.code == .invalidInput {
            throw TransportError.server(WireError(.replicaExpired, message: "This laptop must start again from the server's copy once all it wrote has gone up: \(error.description) Run `outpost sync` again."), status: 409)
        }
        let file = replica.bootstrapFilePath
        defer { try? FileManager.default.removeItem(atPath: file) }
        let taken: Bootstrapped
        do {
            taken = try await takeSnapshot(replica, file: file, backlog: backlog, restarting: true, progress: progress)
        } catch {
            throw TransportError.server(WireError(.replicaExpired, message: "This laptop was away longer than your admin allows and starts again from the server's copy, which could not be fetched (\(error)). Everything you wrote is at the server; run `outpost sync` again."), status: 409)
        }
        try replica.setSettings([:], clearing: [ClientSettings.startAgain])
        logger.notice("expired replica started again from the server's copy")
        return taken
    }

    /// Takes the server's time from a hello: a laptop whose clock is off by more than a couple
    /// of seconds stamps with the server's time from now on (offline too, until the next hello),
    /// and its writes stamped beyond what the server accepts are re-stamped before the push.
    /// A branch takes its parent's time too (its reps stamp with it), but re-stamps nothing: what
    /// it holds of its own it relays with the rest. Only a laptop whose own clock is found ahead
    /// by more than the drift re-stamps, and only writes beyond what any server acknowledged
    /// to it (the hello's figure or the last push answer's, whichever is higher).
    func keepTime(_ replica: Replica, serverTime: UInt64, sentAt: UInt64, receivedAt: UInt64, acknowledged: UInt64) throws {
        // The server read its clock about halfway through the round trip; a hello that waited
        // (a busy server, retries) says too little about when, and is not used to measure.
        let offset: Int64
        if receivedAt >= sentAt, receivedAt - sentAt <= 10_000 {
            offset = Int64(clamping: serverTime) &- Int64(clamping: sentAt / 2 + receivedAt / 2)
            try replica.setClockOffset(offset)
        } else {
            offset = replica.clockOffset
        }
        if abs(offset) >= Replica.offsetThreshold {
            logger.warning("this device's clock is off", metadata: ["outpost.clock_offset_ms": .stringConvertible(offset)])
        }
        guard relay == nil, offset < -Int64(HybridLogicalClock().maxDriftMillis) || replica.clockOffset < -Int64(HybridLogicalClock().maxDriftMillis) else { return }
        let restamped = try replica.restampAhead(acknowledged: acknowledged, serverTime: serverTime)
        if restamped > 0 {
            logger.notice("writes made while the clock was ahead were re-stamped", metadata: ["outpost.restamped": .stringConvertible(restamped)])
        }
    }

    /// One session: hello, push, pull.
    func session(progress: @Sendable (SyncProgress) -> Void) async throws -> SyncProgress {
        var replica = self.replica
        let acknowledged = try replica.acknowledgedByServer()
        let position = SyncPosition(server: try replica.setting(ClientSettings.serverID),
                                    cursor: Int64(try replica.setting(ClientSettings.cursor) ?? "0") ?? 0,
                                    seen: try replica.seenCounters())
        // The next token is stored before the hello that proposes it, so a hello whose answer
        // is lost is recognized when the same token is proposed again.
        let syncToken = try replica.setting(ClientSettings.syncToken)
        var nextToken = try replica.setting(ClientSettings.nextSyncToken)
        if nextToken == nil {
            var rng = SystemRandomNumberGenerator()
            let fresh = SyncToken.next(after: syncToken, using: &rng)
            try replica.setSettings([ClientSettings.nextSyncToken: fresh])
            nextToken = fresh
        }
        var hello = HelloRequest(replica: replica.replicaID.rawValue, counter: try replica.counter(),
                                 schemaVersion: replica.schema.version, position: position, syncToken: syncToken, nextSyncToken: nextToken,
                                 relaying: try relay?.relaying(), idProof: try replica.setting(ClientSettings.idProof))
        hello.client = (relay == nil ? "outpost " : "outpost-server ") + OutpostRelease.version
        if try replica.setting(ClientSettings.scopePosition) != nil { hello.wasScoped = true }
        hello.time = replica.systemTime()
        var session = SyncSession(hello: hello, localAcknowledged: acknowledged,
                                  pendingLocalChanges: try replica.localChangeCount(after: acknowledged))
        var action = try session.start()
        var serverID = position.server
        // The next pull page is fetched while the current one is applied: the server and the
        // local database work at the same time. Pull requests are idempotent, so a prefetch
        // that is not used costs nothing but the bandwidth.
        var prefetch: (cursor: Int64, task: Task<FetchedPage, any Error>)?
        var decoded: [Int64: [Change]] = [:]
        var scoped = false
        var scopeChecked = false
        var startAgainChecked = false
        // The purge generation of this session's take of what the parent purged (a branch below it).
        var purgedTaken: Int64?
        var pageStart: [Int64: Int64] = [:]
        defer { prefetch?.task.cancel() }
        while true {
            switch action {
            case .sendHello(let request):
                let (response, up, down): (HelloResponse, Int, Int)
                let sentAt = replica.systemTime()
                do {
                    (response, up, down) = try await call("/v1/sync/hello", request, HelloResponse.self, opening: true)
                } catch TransportError.server(let error, let status) where error.error.code == "device-revoked" {
                    // Pushing nothing more: a revoked device keeps no customer base.
                    let unsent = try replica.wipe(acknowledged: acknowledged,
                                                  settings: [ClientSettings.token, ClientSettings.cursor, ClientSettings.scopePosition])
                    logger.warning("device revoked; local data removed", metadata: ["outpost.unsent": .stringConvertible(unsent)])
                    let lost = unsent == 0 ? "" : " \(unsent) changes made here had not reached the server; they were removed with it."
                    throw TransportError.server(WireError(.deviceRevoked, message: "An admin revoked this device: the customer data it held was removed from it.\(lost) Ask an admin for a new enrollment code to sync again."), status: status)
                }
                session.countBytes(up: up, down: down)
                if relay == nil, response.expired == true { try replica.setSettings([ClientSettings.startAgain: "expired"]) }
                if let serverTime = response.time {
                    try keepTime(replica, serverTime: serverTime, sentAt: sentAt, receivedAt: replica.systemTime(),
                                 acknowledged: max(response.acknowledged, acknowledged))
                }
                var settings: [String: String] = [:]
                var clearing = [ClientSettings.nextSyncToken]
                if let next = request.nextSyncToken { settings[ClientSettings.syncToken] = next }
                if serverID != response.server {
                    serverID = response.server
                    settings[ClientSettings.serverID] = response.server
                }
                // The zone head office set for the user (or none: the laptop's own applies).
                if let zone = response.timeZone { settings[ClientSettings.userTimeZone] = zone } else { clearing.append(ClientSettings.userTimeZone) }
                try replica.setSettings(settings, clearing: clearing)
                if response.schemaVersion > replica.schema.version {
                    replica = try await takeSchema(of: replica)
                }
                try await relay?.afterHello(response)
                if relay != nil, response.purged == true { purgedTaken = try await takePurged(replica) }
                // A new laptop facing a large head office starts from its records as they stand,
                // not from every change ever made.
                // Only a replica that receives everything: a scoped rep's copy would cost the server a
                // copy of everything and the eviction of all but a few records, where walking the
                // feed for the scope is cheaper and streams.
                if relay == nil, bootstrapThreshold > 0, response.cursor == 0, response.scoped != true, (response.backlog ?? 0) >= bootstrapThreshold,
                   try replica.isPristine(), let taken = try await bootstrap(replica, backlog: response.backlog ?? 0, progress: progress) {
                    throw taken
                }
                scoped = response.scoped == true
                if let refused = response.refusedUpstream, !refused.isEmpty { try takeUpstreamRefusals(refused, replica) }
                if !scoped, try replica.setting(ClientSettings.scopePosition) != nil {
                    // Now receiving everything: what left its scope before comes back, its own
                    // writes from here, the rest from the walk from the start.
                    let restored = try replica.restoreEvicted()
                    if restored > 0 { logger.notice("records back in scope", metadata: ["outpost.restored": .stringConvertible(restored)]) }
                }
                action = try session.received(response)
            case .loadRelayPage(let after, let acknowledged, let blocked, let limit):
                guard let relay else { throw TransportError.server(WireError(.`internal`, message: "A relay page was asked for outside a relay."), status: 0) }
                let ids = try relay.relaying()
                let start = try after ?? replica.relayStart(relaying: ids, acknowledged: acknowledged)
                let page = try replica.relayPage(after: start, relaying: Set(ids), acknowledged: acknowledged, blocked: blocked, limit: limit,
                                                 byteLimit: WireLimits.pageBytes)
                action = try session.relayPageLoaded(page.changes, through: page.through)
            case .loadPushPage(let after, let through, let limit):
                action = try session.pushPageLoaded(try replica.localChanges(after: after, through: through, limit: limit))
            case .sendPush(let request):
                let (response, up, down) = try await call("/v1/sync/push", request, PushResponse.self)
                session.countBytes(up: up, down: down)
                action = try session.received(response)
            case .recordPush(let response, let confirmed):
                let rejected = response.results.compactMap { r -> (dot: Dot, code: String, reason: String)? in
                    guard r.status == .rejected, let dot = try? Dot(parsing: r.dot) else { return nil }
                    return (dot, r.code ?? "rejected", r.reason ?? "The server refused this change.")
                }
                try replica.recordUpstreamRejections(rejected, origin: "server")
                try replica.setSettings([ClientSettings.acknowledged: String(confirmed)])
                action = try session.pushRecorded()
                progress(session.progress)
            case .sendPull(let request):
                // An expired replica has pushed what it holds by now: it starts again.
                if relay == nil, !startAgainChecked, try replica.setting(ClientSettings.startAgain) != nil {
                    var taken = try await startAgain(replica, backlog: session.progress.pullTotal ?? 0, progress: progress)
                    taken.pushed = session.progress.pushed
                    throw taken
                }
                startAgainChecked = true
                // After the push (a write to a record leaving the scope went up first), before
                // the first page: evict what left the scope, fetch what entered it.
                if scoped && !scopeChecked {
                    try await reconcileScope(replica, server: serverID ?? "", cursor: request.cursor)
                    scopeChecked = true
                }
                var request = request
                request.purgedTaken = purgedTaken
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
                pageStart = [fetched.page.cursor: request.cursor]
                action = try session.received(fetched.page)
            case .commitPull(let page):
                if page.more {
                    var next = PullRequest(replica: hello.replica, cursor: page.cursor, limit: WireLimits.pageChanges)
                    next.purgedTaken = purgedTaken
                    let engine = self
                    prefetch = (page.cursor, Task { try await engine.fetchPage(next) })
                }
                let changes = decoded[page.cursor] ?? []
                if let older = page.older, !older.isEmpty {
                    try await fetchEntered(replica, older, of: changes, through: pageStart[page.cursor] ?? 0, from: serverID ?? "server")
                }
                let applied = try replica.apply(changes, from: serverID ?? "server", settings: [ClientSettings.cursor: String(page.cursor)])
                session.countAlreadyHeld(applied.alreadyApplied)
                action = try session.pullCommitted(page)
                progress(session.progress)
            case .finished(let summary):
                // A whole walk with nothing held back is done: this folder no longer has holes.
                try replica.setSettings([ClientSettings.lastSuccess: ISO8601DateFormatter().string(from: Date())],
                                        clearing: scoped ? [] : [ClientSettings.scopePosition])
                return summary
            }
        }
    }

    /// Keeps the refusals a branch passed down from head office of this folder's writes, each
    /// once: the rep sees them in `outpost status` like any refusal, and acts on them.
    func takeUpstreamRefusals(_ refused: [ChangeResult], _ replica: Replica) throws {
        var seen = Set((try replica.setting(ClientSettings.upstreamRefusalsSeen) ?? "").split(separator: ",").map(String.init))
        let fresh = refused.filter { !seen.contains($0.dot) }
        guard !fresh.isEmpty else { return }
        try replica.recordUpstreamRejections(fresh.compactMap { r in
            (try? Dot(parsing: r.dot)).map { ($0, r.code ?? "rejected", r.reason ?? "Head office refused this change.") }
        }, origin: "server")
        for r in fresh { seen.insert(r.dot) }
        // Bounded: the branch sends at most 100 at a time, oldest first.
        try replica.setSettings([ClientSettings.upstreamRefusalsSeen: seen.sorted().suffix(2_000).joined(separator: ",")])
        logger.warning("head office refused writes a branch had taken", metadata: ["outpost.refused": .stringConvertible(fresh.count)])
    }

    /// Asks the server what of this folder's records left or entered its scope since the last
    /// answer, evicts the first and fetches the history of the second (`protocol/scopes.md`).
    func reconcileScope(_ replica: Replica, server: String, cursor: Int64) async throws {
        let parts = (try replica.setting(ClientSettings.scopePosition) ?? "").split(separator: " ").map(String.init)
        let same = parts.count == 3 && parts[0] == server
        let request = ScopeRequest(replica: replica.replicaID.rawValue, since: same ? Int64(parts[1]) : nil, token: same ? parts[2] : nil)
        var answer = try await call("/v1/sync/scope", request, ScopeResponse.self).0
        if answer.sendHeld == true {
            var full = request
            full.held = try replica.scopeRoots().map(\.id)
            full.heldLoose = try replica.looseChildren().map { RecordRef(collection: $0.collection, id: $0.id) }
            answer = try await call("/v1/sync/scope", full, ScopeResponse.self).0
        }
        let evict = (answer.left ?? []).map { (collection: $0.collection, id: $0.id) }
        let fetch = try (answer.entered ?? []).filter { !(try replica.holds($0.collection, $0.id)) }
        if !evict.isEmpty {
            let removed = try replica.evict(evict, acknowledged: try replica.acknowledgedByServer())
            logger.notice("records left this replica's scope", metadata: ["outpost.evicted": .stringConvertible(removed.count)])
        }
        // Up to the committed cursor: what comes after arrives in the pull pages.
        if cursor > 0 { try await fetchHistory(replica, fetch, through: cursor, from: server) }
        try replica.setSettings([ClientSettings.scopePosition: "\(server) \(answer.through) \(answer.token)"])
    }

    /// Before a page is applied: the records it names that existed before it, that this folder
    /// does not hold (they entered its scope since), are fetched whole, up to the page's start.
    func fetchEntered(_ replica: Replica, _ older: [OlderRecord], of changes: [Change], through: Int64, from server: String) async throws {
        guard let root = replica.schema.scopeRoot?.name else { return }
        var wanted: [RecordRef] = []
        var asked = Set<RecordRef>()
        for item in older where changes.indices.contains(item.index) {
            let change = changes[item.index]
            let ref: RecordRef
            if let parent = item.root, !(try replica.holds(root, parent)) {
                ref = RecordRef(collection: root, id: parent)
            } else if !(try replica.holds(change.collection, change.recordID)) {
                ref = RecordRef(collection: change.collection, id: change.recordID)
            } else {
                continue
            }
            if asked.insert(ref).inserted { wanted.append(ref) }
        }
        try await fetchHistory(replica, wanted, through: through, from: server)
    }

    /// Fetches and applies the history of records, a bounded batch at a time.
    func fetchHistory(_ replica: Replica, _ records: [RecordRef], through: Int64, from server: String) async throws {
        var start = 0
        while start < records.count {
            let batch = Array(records[start..<min(records.count, start + RecordsRequest.limit)])
            start += batch.count
            var request = RecordsRequest(replica: replica.replicaID.rawValue, records: batch, through: through)
            while true {
                let answer = try await call("/v1/sync/records", request, RecordsResponse.self).0
                let changes: [Change]
                let states: [PurgedBase]
                do {
                    changes = try answer.changes.map { try Change(json: $0) }
                    states = try (answer.states ?? []).map(PurgedBase.init)
                } catch {
                    throw TransportError.server(WireError(.malformedPage, message: "The server sent a change this client cannot read: \(error)."), status: 0)
                }
                // Records whose older history was purged come as their state then, and the changes after.
                if !states.isEmpty { try replica.takePurgedStates(states) }
                if !changes.isEmpty { _ = try replica.apply(changes, from: server) }
                guard let next = answer.next, next > (request.after ?? 0) else { break }
                request.after = next
            }
        }
    }

    /// Fetches the server's newer schema and puts it in force here (tables gain columns;
    /// values this replica kept for fields it did not know appear in them).
    func takeSchema(of replica: Replica) async throws -> Replica {
        let message = try await call("/v1/sync/schema", SchemaRequest(), SchemaMessage.self).0
        let schema: Schema
        do { schema = try Schema(json: Data(message.schema.utf8)) } catch {
            throw TransportError.server(WireError(.malformedSchema, message: "The server's schema cannot be read here: \(error). Nothing was changed."), status: 0)
        }
        guard schema.version > replica.schema.version else { return replica }
        let upgraded = try upgradeSchema?(replica, schema) ?? Replica.open(at: replica.path, schema: schema)
        logger.notice("schema upgraded", metadata: ["outpost.schema_version": .stringConvertible(schema.version)])
        return upgraded
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
            throw TransportError.server(WireError(.malformedPage, message: "The server sent a change this client cannot read: \(error)."), status: 0)
        }
    }

    /// One request, retried with exponential backoff while the server is unreachable.
    ///
    /// A request that opens a session (`opening`) is retried only within the connect timeout,
    /// so a stopped or unreachable server is reported at once instead of after a minute of
    /// silence; once a session is open, a flaky link gets `attempts` tries (two for timeouts).
    func call<Request: Encodable & Sendable, Response: Decodable>(_ path: String, _ body: Request, _ type: Response.Type,
                                                                   opening: Bool = false) async throws -> (Response, up: Int, down: Int) {
        let clock = ContinuousClock()
        let started = clock.now
        var delay = initialBackoff
        var attempt = 1
        var waitedForCrowd = Duration.zero
        while true {
            do {
                return try await transport.post(path, body, as: type)
            } catch TransportError.unreachable(.busy(let asked)) {
                // A busy server is alive and will take the call: wait as it asks, with a little
                // spread (up to a quarter more) so a crowd told the same thing does not come back
                // at once, up to `busyPatience` for this request; this does not use up the tries
                // meant for a broken link.
                let wait = asked + .milliseconds(Int.random(in: 0...Int(asked.components.seconds * 250)))
                guard waitedForCrowd + wait <= busyPatience else { throw TransportError.unreachable(.busy(retryAfter: asked)) }
                logger.info("server busy, waiting", metadata: [ClientLogKey.path: .string(path), ClientLogKey.why: .string("server-busy")])
                try await Task.sleep(for: wait)
                waitedForCrowd += wait
            } catch TransportError.unreachable(let why) {
                // Once a session is open, a silent server gets one more chance (a flaky link), not
                // `attempts` full timeouts: a rep should not wait minutes to hear it is down.
                let retry = opening
                    ? Self.quickToRetry(why) && clock.now - started + delay < transport.timeouts.connect
                    : attempt < (Self.quickToRetry(why) ? attempts : min(attempts, 2))
                guard retry else { throw TransportError.unreachable(why) }
                logger.info("retrying", metadata: [ClientLogKey.path: .string(path), ClientLogKey.attempt: .stringConvertible(attempt), ClientLogKey.why: .string(why.code)])
                try await Task.sleep(for: delay)
                delay *= 2
                attempt += 1
            }
        }
    }

    /// Failures that come back at once and may pass in a moment (a server restarting).
    static func quickToRetry(_ why: TransportError.Unreachable) -> Bool {
        switch why {
        case .refused, .cut, .unavailable, .busy: true
        case .connectTimeout, .silent, .unknownHost: false
        }
    }
}

/// Turning a one-time code into an enrolled replica.
public enum Enrollment {
    /// Enrolls `replicaID` with the server and returns the server's answer (token, user, schema).
    public static func enroll(serverURL: String, code: String, device: String, replicaID: String, syncToken: String? = nil,
                              timeouts: SyncTimeouts = .standard, trustedCA: String? = nil) async throws -> EnrollResponse {
        let transport = SyncTransport(baseURL: serverURL, token: nil, timeouts: timeouts, trustedCA: trustedCA)
        return try await transport.post("/v1/enroll", EnrollRequest(code: code, device: device, replica: replicaID, syncToken: syncToken),
                                        as: EnrollResponse.self).0
    }

    /// Enrolls the replica file at `path` with a one-time code: creates it with the server's
    /// schema if there is none (under `replicaID`, or a new random id), and stores the server's
    /// URL, the device token and the first sync token in it. The one sequence the CLI, the demo,
    /// the benchmarks and the tests use.
    ///
    /// A branch server passes `role: .branch`; its code must be for a user of role `branch`.
    public static func enrollReplica(at path: String, serverURL: String, code: String, device: String, replicaID: String? = nil,
                                     role: ReplicaRole = .field,
                                     timeouts: SyncTimeouts = .standard, trustedCA: String? = nil) async throws -> (replica: Replica, answer: EnrollResponse) {
        let existing = FileManager.default.fileExists(atPath: path) ? try Replica.open(at: path) : nil
        let id = existing?.replicaID.rawValue ?? replicaID ?? "r" + String(UUIDv7.make(millis: Replica.systemClock()).filter(\.isHexDigit).suffix(16))
        var rng = SystemRandomNumberGenerator()
        let syncToken = SyncToken.next(after: nil, using: &rng)
        let answer = try await enroll(serverURL: serverURL, code: code, device: device, replicaID: id, syncToken: syncToken, timeouts: timeouts,
                                      trustedCA: trustedCA)
        if role == .branch, answer.role != "branch" {
            throw TransportError.server(WireError(.notABranchUser, message: "This code is for \(answer.user), a \(answer.role); a branch server needs a code for a user of role branch (`outpost-admin users add almaty-branch --role branch --scope all`, then `outpost-admin devices enroll almaty-branch`). The code is spent; ask for a new one."), status: 0)
        }
        let replica: Replica
        if let existing {
            replica = existing
        } else {
            let schema = try Schema(json: Data(answer.schema.utf8))
            try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            replica = try Replica.create(at: path, schema: schema, options: ReplicaOptions(
                user: answer.user, device: device, role: role, replicaID: try ReplicaID(id)))
        }
        var settings = [ClientSettings.serverURL: serverURL, ClientSettings.token: answer.token, ClientSettings.serverID: answer.server,
                        ClientSettings.syncToken: syncToken]
        if let trustedCA { settings[ClientSettings.trustedCA] = trustedCA }
        try replica.setSettings(settings, clearing: [ClientSettings.nextSyncToken])
        return (replica, answer)
    }
}
