import OutpostCore

/// Counts for progress and for the final summary.
public struct SyncProgress: Hashable, Sendable {
    /// Changes sent and acknowledged.
    public var pushed = 0
    /// Changes the server refused (kept locally, with reasons).
    public var rejected = 0
    /// Changes the server did not look at this time (sent again next sync).
    public var deferred = 0
    /// Why the first of them was deferred (the server's sentence), for the rep.
    public var deferredReason: String?
    /// Changes received and applied.
    public var pulled = 0
    /// Of the changes sent, those the server already held; of those received, those this
    /// replica already held. Both are no-ops; in a tree without failover both stay 0 (nothing
    /// travels back to where it came from).
    public var pushedAlreadyHeld = 0, pulledAlreadyHeld = 0
    /// Bytes sent and received on the wire (after compression).
    public var bytesUp = 0, bytesDown = 0
    /// Changes still to push, and to pull when the server says.
    public var pushRemaining = 0
    public var pullRemaining: Int?
    /// Server feed entries the pull has walked past (sent or not in this replica's scope), and
    /// the best estimate of how many it walks in all: with `pushed`, `rejected`, `deferred` and
    /// `pushRemaining`, what one progress display for the whole sync needs.
    public var pullScanned = 0
    public var pullTotal: Int?
    /// Set when this sync found the folder copied or restored and gave it a new replica id.
    public var fork: ForkNotice?
    /// The replica was new and started from a snapshot of its user's records (`pulled` counts
    /// the feed entries it brought).
    public var fromSnapshot = false
    /// A relaying branch: what the server acknowledged of each relayed replica, as last told.
    public var relayAcknowledged: [String: UInt64]?

    public init() {}

    /// Work done and work in all, for one progress display over the whole sync: changes
    /// sent, then server feed entries walked by the pull (known from hello, so the share done
    /// does not fall back when the pull starts).
    public var work: (done: Int, total: Int) {
        let sent = pushed + rejected + deferred
        let pushTotal = sent + pushRemaining
        let pullTotal = max(pullTotal ?? (pullScanned + (pullRemaining ?? 0)), pullScanned)
        return (sent + pullScanned, pushTotal + pullTotal)
    }
}

/// What told a server that a folder is a copy or a restore (`protocol/sync.md`).
public enum ForkSignal: String, Codable, Hashable, Sendable, CaseIterable {
    /// An older sync token than the server holds, or a write the server holds with other content.
    case replicaForked = "replica-forked"
    /// A lower counter than an earlier hello declared.
    case counterWentBack = "counter-went-back"
}

/// What a sync did when it found its folder copied or restored (``SyncToken``).
public struct ForkNotice: Codable, Hashable, Sendable {
    /// The id the folder wrote under, and its new one.
    public var oldReplica: String, newReplica: String
    /// How many of its writes took the new id (the server held them under no name).
    public var reissued: Int
    /// How many took the names a copy of the folder had already given them.
    public var adopted: Int
    /// What gave it away.
    public var signal: ForkSignal

    public init(oldReplica: String, newReplica: String, reissued: Int, adopted: Int = 0, signal: ForkSignal) {
        self.oldReplica = oldReplica
        self.newReplica = newReplica
        self.reissued = reissued
        self.adopted = adopted
        self.signal = signal
    }

    /// One sentence for the rep.
    public var sentence: String {
        let why = signal == .counterWentBack ? "was restored from an older copy" : "is a copy of another folder (or was restored from a backup)"
        let sent = switch reissued {
        case 0: "none of your writes needed sending again"
        case 1: "1 of your writes that the server did not have is sent under the new id"
        default: "\(reissued) of your writes that the server did not have are sent under the new id"
        }
        return "This replica folder \(why), so it now writes as replica \(newReplica) instead of \(oldReplica); \(sent), and nothing was lost."
    }
}

/// One sync session as a state machine with no I/O: hello, then push pages until the server
/// has acknowledged every local change, then pull pages until there are no more.
///
/// The driver (the client engine, or a test) performs each returned ``Action`` and feeds the
/// outcome back. Every page is committed by the driver before the machine moves on, so a
/// session cut at any point resumes from the last committed page.
public struct SyncSession: Sendable {
    /// What the driver must do next.
    public enum Action: Sendable {
        /// Send this hello.
        case sendHello(HelloRequest)
        /// Load up to `limit` local changes with counters above `after` and at most `through` (the
        /// counter declared in hello: later changes wait for the next sync), then call ``pushPageLoaded(_:)``.
        case loadPushPage(after: UInt64, through: UInt64, limit: Int)
        /// A relaying branch: load the next changes of its feed after `after` (nil: from the first
        /// one the server lacks) that are not covered by `acknowledged`, leaving out replicas in
        /// `blocked` (the server deferred one of their writes this session), then call
        /// ``relayPageLoaded(_:through:)``.
        case loadRelayPage(after: Int64?, acknowledged: [String: UInt64], blocked: Set<String>, limit: Int)
        /// Send this push page.
        case sendPush(PushRequest)
        /// Record the server's results for the page just pushed (rejections are kept locally), then call ``pushRecorded()``.
        case recordPush(PushResponse, acknowledged: UInt64)
        /// Send this pull request.
        case sendPull(PullRequest)
        /// Apply the page and commit its cursor in one transaction, then call ``pullCommitted()``.
        case commitPull(PullResponse)
        /// Done.
        case finished(SyncProgress)
    }

    /// Where the session is.
    public enum State: Equatable, Sendable {
        case idle, greeting, loadingPush, pushing, recordingPush, pulling, committingPull, done
    }

    /// Why the session cannot go on.
    public enum Failure: Error, Equatable, Sendable {
        /// The driver called a step that does not follow from the current state.
        case unexpected(String)
    }

    public private(set) var state: State = .idle
    public private(set) var progress = SyncProgress()
    private let replica: String
    private let hello: HelloRequest
    private var acknowledged: UInt64 = 0
    private var cursor: Int64 = 0
    private var pageSize = WireLimits.pageChanges
    private var lastPushedCounter: UInt64 = 0

    private let localAcknowledged: UInt64
    /// The server's latest word on what it acknowledged; it never goes back within a session.
    private var serverAcknowledged: UInt64 = 0
    /// Set when the server deferred a change: the rest waits for the next session.
    private var pushingStopped = false
    /// Relay mode (a branch): where the relay push stands in the branch's feed, what the server
    /// acknowledged of each relayed replica, and which replicas wait for the next session.
    private let relaying: Bool
    private var relaySeq: Int64?
    private var pullStart: Int64?
    private var relayAcknowledged: [String: UInt64] = [:]
    private var acknowledgedAtLastLoad: [String: UInt64]?
    private var blocked: Set<String> = []

    /// Creates a session for a replica whose counter and position are known.
    ///
    /// `localAcknowledged` is what the server acknowledged to this folder itself. Pushing
    /// starts after the lower of it and the server's word: a server that says more was
    /// acknowledged may hold another folder's writes under these names, and pushing them again
    /// lets it compare; a server that says less lost them, and gets them again.
    public init(hello: HelloRequest, localAcknowledged: UInt64, pendingLocalChanges: Int) {
        self.hello = hello
        self.replica = hello.replica
        self.cursor = hello.position.cursor
        self.localAcknowledged = localAcknowledged
        self.relaying = hello.relaying != nil
        progress.pushRemaining = pendingLocalChanges
    }

    /// Starts the session.
    public mutating func start() throws(Failure) -> Action {
        guard state == .idle else { throw .unexpected("start in \(state)") }
        state = .greeting
        return .sendHello(hello)
    }

    /// The server answered hello.
    public mutating func received(_ response: HelloResponse) throws(Failure) -> Action {
        guard state == .greeting else { throw .unexpected("hello response in \(state)") }
        acknowledged = min(response.acknowledged, localAcknowledged)
        serverAcknowledged = response.acknowledged
        cursor = response.cursor
        pageSize = max(1, min(response.pageChanges, WireLimits.pageChanges))
        pullStart = response.cursor
        if let backlog = response.backlog {
            // This replica's own pushes land in the server's feed too, and the pull walks past them.
            progress.pullRemaining = backlog
            progress.pullTotal = backlog + progress.pushRemaining
        }
        state = .loadingPush
        if relaying {
            relayAcknowledged = response.relayAcknowledged ?? [:]
            progress.relayAcknowledged = relayAcknowledged
            return .loadRelayPage(after: nil, acknowledged: relayAcknowledged, blocked: blocked, limit: pageSize)
        }
        return .loadPushPage(after: acknowledged, through: hello.counter, limit: pageSize)
    }

    /// A relaying branch loaded a page of its feed (empty when the server lacks nothing more);
    /// `seq` is the last feed position it looked at.
    public mutating func relayPageLoaded(_ changes: [Change], through seq: Int64) throws(Failure) -> Action {
        guard state == .loadingPush, relaying else { throw .unexpected("relay page in \(state)") }
        // A page that neither moves in the feed nor follows a moved acknowledgement would be
        // the same page again: the rest waits for the next session.
        let stuck = relaySeq == seq && relayAcknowledged == acknowledgedAtLastLoad
        acknowledgedAtLastLoad = relayAcknowledged
        if changes.isEmpty || stuck {
            state = .pulling
            return .sendPull(PullRequest(replica: replica, cursor: cursor, limit: pageSize))
        }
        relaySeq = seq
        state = .pushing
        return .sendPush(PushRequest(replica: replica, changes: changes.map(\.json)))
    }

    /// The driver loaded a page of local changes (empty when everything is acknowledged).
    public mutating func pushPageLoaded(_ changes: [Change]) throws(Failure) -> Action {
        guard state == .loadingPush else { throw .unexpected("push page in \(state)") }
        if changes.isEmpty {
            state = .pulling
            return .sendPull(PullRequest(replica: replica, cursor: cursor, limit: pageSize))
        }
        // Bounded by the bytes it will be, like a pull page: long notes fill a page long before
        // its count does, and one change larger than the bound still goes, alone.
        var page: [JSONValue] = []
        var bytes = 0
        for change in changes {
            let json = change.json
            let size = json.canonicalSize + 1
            if !page.isEmpty && bytes + size > WireLimits.pageBytes { break }
            page.append(json)
            bytes += size
        }
        lastPushedCounter = changes.prefix(page.count).map(\.dot.counter).max() ?? acknowledged
        state = .pushing
        return .sendPush(PushRequest(replica: replica, changes: page))
    }

    /// The server answered a push page.
    public mutating func received(_ response: PushResponse) throws(Failure) -> Action {
        guard state == .pushing else { throw .unexpected("push response in \(state)") }
        guard response.acknowledged >= serverAcknowledged else { throw .unexpected("acknowledgement went back") }
        serverAcknowledged = response.acknowledged
        if relaying {
            return receivedRelayed(response)
        }
        progress.pushed += response.results.filter { $0.status == .applied || $0.status == .duplicate }.count
        progress.pushedAlreadyHeld += response.results.filter { $0.status == .duplicate }.count
        progress.rejected += response.results.filter { $0.status == .rejected }.count
        progress.deferred += response.results.filter { $0.status == .deferred }.count
        progress.pushRemaining = max(0, progress.pushRemaining - response.results.count)
        // Deferred changes are not acknowledged; they and everything after them wait for the
        // next session (the server would defer the rest as out of order), so nothing is resent
        // in a loop within this one.
        if let first = response.results.first(where: { $0.status == .deferred }) {
            pushingStopped = true
            progress.deferredReason = progress.deferredReason ?? first.reason
        }
        // The session moves past the page it pushed, never past the server's word alone: a
        // server that acknowledges more may hold another folder's writes under the next names,
        // and only pushing them lets it compare. The folder records no more than it pushed.
        acknowledged = lastPushedCounter
        state = .recordingPush
        return .recordPush(response, acknowledged: min(response.acknowledged, lastPushedCounter))
    }

    /// A relayed page: each replica's acknowledgement moves on its own, and a replica one of
    /// whose writes was deferred waits for the next session while the others go on.
    private mutating func receivedRelayed(_ response: PushResponse) -> Action {
        progress.pushed += response.results.filter { $0.status == .applied || $0.status == .duplicate }.count
        progress.pushedAlreadyHeld += response.results.filter { $0.status == .duplicate }.count
        progress.rejected += response.results.filter { $0.status == .rejected }.count
        progress.deferred += response.results.filter { $0.status == .deferred }.count
        progress.pushRemaining = max(0, progress.pushRemaining - response.results.count)
        for (id, counter) in response.relayAcknowledged ?? [:] {
            relayAcknowledged[id] = max(relayAcknowledged[id] ?? 0, counter)
        }
        relayAcknowledged[replica] = max(relayAcknowledged[replica] ?? 0, response.acknowledged)
        progress.relayAcknowledged = relayAcknowledged
        for result in response.results where result.status == .deferred || result.code == "foreign-origin" {
            // Deferred: the replica's next writes would be out of order. Not relayable (the
            // parent has not learned yet that the replica is beneath this branch): its writes
            // wait for the next session rather than be sent again in this one.
            if let dot = try? Dot(parsing: result.dot) { blocked.insert(dot.replica.rawValue) }
            if result.status == .deferred { progress.deferredReason = progress.deferredReason ?? result.reason }
        }
        state = .recordingPush
        return .recordPush(response, acknowledged: response.acknowledged)
    }

    /// The driver recorded the push results.
    public mutating func pushRecorded() throws(Failure) -> Action {
        guard state == .recordingPush else { throw .unexpected("push recorded in \(state)") }
        if relaying {
            state = .loadingPush
            return .loadRelayPage(after: relaySeq, acknowledged: relayAcknowledged, blocked: blocked, limit: pageSize)
        }
        if pushingStopped {
            state = .pulling
            return .sendPull(PullRequest(replica: replica, cursor: cursor, limit: pageSize))
        }
        state = .loadingPush
        return .loadPushPage(after: acknowledged, through: hello.counter, limit: pageSize)
    }

    /// The server answered a pull request.
    public mutating func received(_ response: PullResponse) throws(Failure) -> Action {
        guard state == .pulling else { throw .unexpected("pull response in \(state)") }
        guard response.cursor >= cursor else { throw .unexpected("cursor went back") }
        state = .committingPull
        return .commitPull(response)
    }

    /// The driver applied and committed the page.
    public mutating func pullCommitted(_ response: PullResponse) throws(Failure) -> Action {
        guard state == .committingPull else { throw .unexpected("pull committed in \(state)") }
        progress.pulled += response.changes.count
        progress.pullRemaining = response.remaining
        cursor = response.cursor
        // The server's feed positions are dense: the cursor's advance is what was walked.
        progress.pullScanned = Int(clamping: cursor - (pullStart ?? cursor))
        progress.pullTotal = max(progress.pullTotal ?? 0, progress.pullScanned + (response.remaining ?? 0))
        if response.more {
            state = .pulling
            return .sendPull(PullRequest(replica: replica, cursor: cursor, limit: pageSize))
        }
        state = .done
        return .finished(progress)
    }

    /// Counts pulled changes the replica already held (the driver learns it when it applies a page).
    public mutating func countAlreadyHeld(_ n: Int) {
        progress.pulledAlreadyHeld += n
    }

    /// Adds bytes seen on the wire, for progress.
    public mutating func countBytes(up: Int, down: Int) {
        progress.bytesUp += up
        progress.bytesDown += down
    }
}
