import Foundation
import Logging
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostServer
import OutpostStore
import OutpostWire
import Synchronization

/// A branch server's link to its parent: to its children the branch is a server, to its parent
/// a replica that relays its children's writes with their original dots, using the same
/// protocol as a laptop.
///
/// ``run()`` syncs continuously: soon after a child's push applied changes (``nudge()``), every
/// `interval` otherwise, and with capped backoff while the parent is unreachable. Children are
/// never blocked by it: it runs on its own task, and each page it applies is one short write
/// transaction like a child's push.
public final class UpstreamLink: Sendable {
    /// How often to sync when nothing arrives from children (changes made elsewhere in the tree come down).
    public let interval: Duration
    /// The longest wait between attempts while the parent is unreachable (bounds catching up
    /// once the link returns: at most this plus the connect timeout).
    public let maxBackoff: Duration
    let storage: SQLiteServerStorage
    let url: String
    let timeouts: SyncTimeouts
    let logger: Logger
    private let state: Mutex<State>

    struct State {
        var status: UpstreamStatus
        var nudged = false
        /// The parent's directory version at the last exchange, and this branch's own then.
        var parentDirectory: String?
        var ownDirectory: String?
        var relayAcknowledged: [String: UInt64] = [:]
    }

    /// Creates the link of the branch whose storage is `storage`, enrolled with its parent (``enroll(directory:upstream:code:device:timeouts:)``).
    public init(storage: SQLiteServerStorage, interval: Duration = .seconds(5), maxBackoff: Duration = .seconds(8),
                timeouts: SyncTimeouts = .standard, logger: Logger = Logger(label: "outpost.upstream")) throws {
        guard let url = try storage.replica.setting(ClientSettings.serverURL) else {
            throw WireError(.notEnrolled, message: "This branch is not enrolled with a parent; start it with --upstream URL --enroll-code CODE.")
        }
        self.storage = storage
        self.url = url
        self.interval = interval
        self.maxBackoff = maxBackoff
        self.timeouts = timeouts
        self.logger = logger
        state = Mutex(State(status: UpstreamStatus(url: url, server: try storage.replica.setting(ClientSettings.serverID), state: .starting)))
    }

    /// Enrolls a new branch folder with its parent, using a code for a user of role `branch`:
    /// creates the branch's replica with the parent's schema. Does nothing if the folder is
    /// enrolled already (a restarted branch).
    public static func enroll(directory: String, upstream: String, code: String?, device: String,
                              timeouts: SyncTimeouts = .standard, trustedCA: String? = nil) async throws {
        let path = EmbeddedServerStore.replicaPath(directory)
        if FileManager.default.fileExists(atPath: path) {
            let replica = try Replica.open(at: path)
            if try replica.setting(ClientSettings.token) != nil {
                // A CA given on a later start replaces the one kept (a certificate renewed by another CA).
                if let trustedCA { try replica.setSettings([ClientSettings.trustedCA: trustedCA]) }
                return
            }
            guard replica.role == .branch else {
                throw WireError(.notABranch, message: "\(directory) holds a head-office server; a branch needs a folder of its own (--data NEW-DIR).")
            }
        }
        guard let code else {
            throw WireError(.notEnrolled, message: "This branch is not enrolled with \(upstream) yet: give --enroll-code CODE (from `outpost-admin devices enroll BRANCH-USER` at head office).")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try await Enrollment.enrollReplica(at: path, serverURL: upstream, code: code, device: device, role: .branch, timeouts: timeouts,
                                               trustedCA: trustedCA)
    }

    /// How the link stands.
    public var status: UpstreamStatus { state.withLock { $0.status } }

    /// Reads ``status``, for the server's status calls.
    public var statusReader: @Sendable () -> UpstreamStatus { { self.status } }

    /// A child's push applied changes: relay them soon.
    public func nudge() { state.withLock { $0.nudged = true } }

    /// Syncs until the task is cancelled.
    public func run() async {
        let clock = ContinuousClock()
        var backoff = Duration.milliseconds(500)
        while !Task.isCancelled {
            let wait: Duration
            do {
                try await runRound()
                backoff = .milliseconds(500)
                wait = interval
            } catch is CancellationError {
                return
            } catch {
                wait = backoff
                backoff = min(backoff * 2, maxBackoff)
            }
            // Sleep until the wait is over or a child's changes arrive (after a failure, only
            // the backoff counts: nudges do not make a down link be hammered).
            let failed = state.withLock { $0.status.state != .connected }
            let deadline = clock.now + wait
            while clock.now < deadline, !Task.isCancelled {
                if !failed, state.withLock({ $0.nudged }) {
                    // A short pause gathers a burst of pushes into one round.
                    try? await Task.sleep(for: .milliseconds(20))
                    break
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// One round with the parent: hello (with the directory exchange when either side's
    /// changed, and a newer schema taken first), push of what the parent lacks, pull of what
    /// this branch lacks.
    @discardableResult
    public func runRound() async throws -> SyncProgress {
        try await withTaskExecutorPreference(LinkExecutor.shared) { try await round() }
    }

    private func round() async throws -> SyncProgress {
        let started = Self.now
        state.withLock {
            $0.nudged = false
            $0.status.lastAttempt = started
        }
        do {
            var engine = try SyncEngine(replica: storage.replica, serverURL: url, timeouts: timeouts, logger: logger)
            engine.attempts = 2
            let storage = self.storage
            let transport = SyncTransport(baseURL: url, token: try storage.replica.setting(ClientSettings.token), timeouts: timeouts,
                                          trustedCA: try storage.replica.setting(ClientSettings.trustedCA))
            engine.upgradeSchema = { _, schema in
                try storage.store.upgradeSchema(schema)
                return storage.replica
            }
            engine.relay = RelaySource(relaying: { [storage] in
                [storage.serverReplica] + (try storage.store.relayedReplicas(parent: try storage.replica.setting(ClientSettings.serverID)))
            }, afterHello: { [self] response in
                state.withLock { $0.relayAcknowledged = response.relayAcknowledged ?? [:] }
                try await exchangeDirectory(parentVersion: response.directoryVersion, transport: transport)
            })
            let summary = try await engine.sync()
            let pending = try pendingUp(acknowledged: summary.relayAcknowledged)
            state.withLock {
                $0.status.state = .connected
                $0.status.server = try? storage.replica.setting(ClientSettings.serverID)
                $0.status.lastSuccess = Self.now
                $0.status.lastError = nil
                $0.status.rounds += 1
                $0.status.pushed += summary.pushed
                $0.status.pulled += summary.pulled
                $0.status.pendingUp = pending
                $0.status.pendingDown = summary.pullRemaining ?? 0
                if let acks = summary.relayAcknowledged { $0.relayAcknowledged = acks }
            }
            return summary
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let known = state.withLock { $0.relayAcknowledged }
            let pending = (try? pendingUp(acknowledged: known)) ?? 0
            let sentence = Self.sentence(error)
            state.withLock {
                $0.status.state = .unreachable
                $0.status.lastError = sentence
                $0.status.pendingUp = pending
            }
            logger.warning("upstream sync failed", metadata: [ClientLogKey.why: .string(sentence)])
            throw error
        }
    }

    /// Writes here the parent has not acknowledged.
    func pendingUp(acknowledged: [String: UInt64]?) throws -> Int {
        let relaying = [storage.serverReplica] + (try storage.store.relayedReplicas(parent: try storage.replica.setting(ClientSettings.serverID)))
        return try storage.replica.relayBacklog(relaying: relaying, acknowledged: acknowledged ?? [:])
    }

    /// Tells the parent the devices enrolled beneath this branch and the replicas that synced
    /// here, and takes in its users and devices, when either side's directory changed since
    /// the last exchange.
    func exchangeDirectory(parentVersion: String?, transport: SyncTransport) async throws {
        let storage = self.storage
        let own = try await storage.directoryVersion()
        let (lastParent, lastOwn) = state.withLock { ($0.parentDirectory, $0.ownDirectory) }
        guard parentVersion == nil || parentVersion != lastParent || own != lastOwn else { return }
        let parent = try storage.replica.setting(ClientSettings.serverID)
        let request = DirectoryRequest(replica: storage.serverReplica, devices: try await storage.directoryDevices(notFrom: parent),
                                       visiting: try await storage.visitingReplicas(parent: parent))
        let answer = try await transport.post("/v1/sync/directory", request, as: DirectoryResponse.self).0
        try await storage.importDirectory(users: answer.users, devices: answer.devices, visiting: [], from: parent ?? "parent", neighbourDevice: nil)
        state.withLock {
            $0.parentDirectory = answer.version
            // The version read before the request: a device enrolled here while it was on its
            // way makes the next round exchange again (at worst once more than needed).
            $0.ownDirectory = own
        }
    }

    static var now: String { ISO8601DateFormatter().string(from: Date()) }

    static func sentence(_ error: any Error) -> String {
        switch error {
        case let error as TransportError: error.description
        case let error as WireError: error.description
        case let error as StoreError: error.description
        default: "\(error)"
        }
    }
}
