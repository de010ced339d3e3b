import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// The server side of the sync protocol, with no HTTP in it: hello, push, pull and fork for an
/// authenticated device, over any ``ServerStorage``.
public struct SyncService: Sendable {
    let storage: any ServerStorage
    /// Called after a push applied changes (a branch relays them upstream soon after).
    let changesArrived: @Sendable () -> Void
    /// Changes as pull pages send them, written once for all pullers.
    let texts = ChangeTextCache()

    /// Most replicas a branch may name in one hello's `relaying`.
    static let relayingLimit = 100_000

    /// Creates the service.
    public init(storage: any ServerStorage, changesArrived: @escaping @Sendable () -> Void = {}) {
        self.storage = storage
        self.changesArrived = changesArrived
    }

    /// Opens a session: checks the folder is the latest of its line (counter and sync token),
    /// records its counter, says what is acknowledged and where to pull from.
    public func hello(_ request: HelloRequest, device: AuthenticatedDevice) async throws -> HelloResponse {
        if let token = request.nextSyncToken, !SyncToken.isValid(token) {
            throw WireError(.malformedRequest, message: "\"nextSyncToken\" is not a sync token (EPOCH.16-hex-digits).")
        }
        guard request.position.seen.count <= Self.relayingLimit else {
            throw WireError(.malformedRequest, message: "\"position.seen\" names \(request.position.seen.count) replicas; at most \(Self.relayingLimit) are allowed.")
        }
        if let relaying = request.relaying {
            guard device.isBranch else {
                throw WireError(.forbidden, message: "Only a branch server relays other replicas' writes; this device belongs to a \(device.role).")
            }
            guard relaying.count <= Self.relayingLimit else {
                throw WireError(.malformedRequest, message: "\"relaying\" names \(relaying.count) replicas; at most \(Self.relayingLimit) are allowed.")
            }
        }
        if let client = request.client { try await storage.noteClient(device: device.id, version: client) }
        let skew = request.time.map { Int64(clamping: $0) &- Int64(clamping: storage.time) }
        let sameServer = request.position.server == storage.serverReplica
        let scoped = !(try await ScopePolicy.make(for: device, storage: storage).receivesAll)
        // A folder that was scoped and now receives everything lacks what lay outside its old
        // scope, below counters its `seen` names: nothing is held back from it this time.
        let widened = !scoped && request.wasScoped == true
        let serverBehind = try await storage.openSession(replica: request.replica, device: device.id, counter: request.counter,
                                                   syncToken: request.syncToken, nextSyncToken: request.nextSyncToken,
                                                   seen: widened ? [:] : request.position.seen, sameServer: sameServer, idProof: request.idProof)
        // The cursor is this server's own feed position, good only here: a replica coming from
        // another server of the tree (failover) starts from the first write its `seen` vector
        // lacks. One ahead of this very server (restored from a backup, its feed positions and
        // perhaps some names reused) pulls from the start, and what it has is a no-op.
        let cursor: Int64
        if (sameServer && serverBehind) || widened {
            cursor = 0
        } else if sameServer {
            cursor = request.position.cursor
        } else {
            // A scoped replica's `seen` has holes (writes out of its scope were never sent to
            // it), so it cannot say where to start here: it walks this feed from the start.
            cursor = scoped ? 0 : try await storage.firstUnseenFeedPosition(seen: request.position.seen)
        }
        var relayAcknowledged: [String: UInt64]?
        if let relaying = request.relaying {
            relayAcknowledged = [:]
            relayAcknowledged = try await storage.acknowledged(of: relaying.filter(ReplicaID.isValid))
        }
        var response = HelloResponse(server: storage.serverReplica, schemaVersion: storage.schema.version,
                                     acknowledged: try await storage.acknowledged(of: request.replica), cursor: cursor, pageChanges: WireLimits.pageChanges,
                                     relayAcknowledged: relayAcknowledged, directoryVersion: device.isBranch ? try await storage.directoryVersion() : nil)
        if scoped { response.scoped = true }
        response.time = storage.time
        // Below what was purged it would walk past deletes it never sees: it starts again from a copy.
        let purgedThrough = try await storage.purgedThrough()
        let startsAgain = !device.isBranch && cursor < purgedThrough
        if startsAgain { response.expired = true }
        // A branch cannot start from a copy (it relays its feed): it takes what was purged first.
        if device.isBranch && cursor < purgedThrough { response.purged = true }
        // Where it really starts here (after a restore, a widened scope or a failover, not where
        // it said it stood): the low-water mark is made of these.
        try await storage.noteHello(device: device.id, replica: request.replica, cursor: cursor, skewMillis: skew, active: !startsAgain)
        response.backlog = try await storage.feedCount(after: cursor)
        response.timeZone = try await storage.users().first { $0.name == device.user }?.timeZone
        let refused = try await storage.upstreamRefusals(of: request.replica)
        if !refused.isEmpty {
            response.refusedUpstream = refused.map { ChangeResult(dot: $0.dot.description, status: .rejected, code: $0.code, reason: "Head office refused it after this branch took it: \($0.reason)") }
        }
        return response
    }

    /// One page of what was purged here, for a branch that starts below the purge: records'
    /// bases, then purged writes. A laptop starts again from a copy instead.
    public func purged(_ request: PurgedRequest, device: AuthenticatedDevice) async throws -> PurgedResponse {
        guard device.isBranch else {
            throw WireError(.forbidden, message: "Only a branch server takes what was purged; a laptop below the purge starts again from the server's copy (`outpost sync` does it).")
        }
        try await requireOwnership(request.replica, device)
        let page: (states: [PurgedBase], writes: [(dot: Dot, digest: String)], next: String?, generation: Int64)
        do {
            page = try await storage.purgedPage(after: request.after, limit: 200)
        } catch let error as StoreError where error.code == .invalidInput {
            throw WireError(.malformedRequest, message: error.description)
        }
        // A branch receives what its scope (its reps' scopes) admits, as a pull would send it.
        let policy = try await ScopePolicy.make(for: device, storage: storage)
        let subjects = try await storage.scopeSubjects(page.states.map { ($0.collection, $0.id) })
        let states = page.states.filter { subjects[$0.collection + "\u{1F}" + $0.id].map(policy.receives) == true }
        return PurgedResponse(states: states.map { PurgedState(collection: $0.collection, id: $0.id, state: $0.state.json, creator: $0.creator) },
                              writes: page.writes.map { PurgedWrite(dot: $0.dot.description, digest: $0.digest) }, next: page.next,
                              generation: page.generation)
    }

    /// A child branch's directory exchange: takes in the devices enrolled beneath it and the
    /// replicas that synced with it (it relays their writes from now on), and answers with every
    /// user and every device known here from elsewhere.
    public func directory(_ request: DirectoryRequest, device: AuthenticatedDevice) async throws -> DirectoryResponse {
        guard device.isBranch else {
            throw WireError(.forbidden, message: "Only a branch server exchanges directories; this device belongs to a \(device.role).")
        }
        try await requireOwnership(request.replica, device)
        try await storage.importDirectory(users: nil, devices: request.devices, visiting: request.visiting ?? [], from: request.replica,
                                    neighbourDevice: device.id)
        // Every device, the branch's own included: revocations and replica ids taken here
        // (a rep of the branch who failed over and healed a copy here) reach it too.
        return DirectoryResponse(users: try await storage.users(), devices: try await storage.directoryDevices(notFrom: nil),
                                 version: try await storage.directoryVersion())
    }

    /// The schema in force, for a replica whose hello showed an older version.
    public func schemaFile() -> SchemaMessage {
        SchemaMessage(version: storage.schema.version, schema: storage.schema.fileJSON)
    }

    /// Applies a page of the replica's changes; returns one result per change.
    public func push(_ request: PushRequest, device: AuthenticatedDevice) async throws -> PushResponse {
        try await requireOwnership(request.replica, device)
        guard request.changes.count <= WireLimits.pageChanges else {
            throw WireError(.pageTooLarge, message: "A push page holds at most \(WireLimits.pageChanges) changes; this one has \(request.changes.count).")
        }
        var changes: [Change] = []
        for (i, json) in request.changes.enumerated() {
            do { changes.append(try Change(json: json)) } catch {
                throw WireError(.malformedChange, message: "Change \(i) of the page is malformed: \(error). Nothing was applied.", details: ["index \(i)"])
            }
        }
        let sender = request.replica
        try await refuseWritesACopyAlreadySent(changes, sender: sender)
        let declared = try await storage.declaredCounter(replica: sender)
        let relayable = device.isBranch ? try await storage.relayable(device: device.id) : []
        var known: [String: UInt64] = [:]
        let schema = storage.schema
        let isBranch = storage.role == .branch
        let policy = try await ScopePolicy.make(for: device, storage: storage)
        let owners = device.isBranch ? try await storage.replicaUsers() : [:]
        let report: PushReport
        do {
            report = try await storage.applyPush(changes, sender: sender, declared: declared, relayable: relayable) { change, view -> PushScreening? in
                for state in Array(change.fields.values) + [change.presence] {
                    for (replica, counter) in state.context.counters {
                        if replica == change.dot.replica, counter > change.dot.counter {
                            return .reject(code: "forged-dot", reason: "The change claims to have seen \(replica):\(counter), a later write of its own replica; no real write can.")
                        }
                        let limit: UInt64
                        if replica.rawValue == sender {
                            limit = declared
                        } else if replica == change.dot.replica {
                            // A relayed write naming its own replica's earlier writes: they came
                            // first, since each replica's writes are taken in counter order.
                            continue
                        } else {
                            if known[replica.rawValue] == nil { known[replica.rawValue] = (try? view.seenCounter(of: replica.rawValue)) ?? 0 }
                            limit = known[replica.rawValue] ?? 0
                        }
                        // A context naming a write this server does not hold would hide that
                        // write when it arrives. Deferred, not refused: after a server restore,
                        // or when the writer's own push is still on its way, it arrives later.
                        if counter > limit {
                            return .deferral(code: "unseen-context", reason: "The change says it has seen write \(replica):\(counter), which this server does not hold yet; it is sent again at the next sync.")
                        }
                    }
                }
                if (try? schema.collection(change.collection)) == nil {
                    // A branch may be behind head office's schema (its link down while a rep
                    // that failed over took the newer one): it waits for the schema rather than
                    // refuse a write head office takes, which its pulls would then skip.
                    if isBranch {
                        return .deferral(code: "schema-behind", reason: "This branch does not know collection '\(change.collection)' yet; the write is sent again once head office's newer schema has reached the branch.")
                    }
                    return .reject(code: "unknown-collection", reason: "This server has no collection '\(change.collection)'.")
                }
                return try policy.screen(change, writer: policy.writer(of: change, device: device, sender: sender, owners: owners), view: view)
            }
        } catch let error as StoreError where error.code == .replicaForked {
            throw WireError(.replicaForked, message: "\(error.description) Nothing of this page was applied; the client takes a new replica id and sends what the server lacks.")
        }
        let results = zip(changes, report.outcomes).map { change, outcome -> ChangeResult in
            let dot = change.dot.description
            return switch outcome {
            case .applied: ChangeResult(dot: dot, status: .applied)
            case .duplicate: ChangeResult(dot: dot, status: .duplicate)
            case .rejected(let code, let reason): ChangeResult(dot: dot, status: .rejected, code: code, reason: reason)
            case .deferred(let code, let reason): ChangeResult(dot: dot, status: .deferred, code: code, reason: reason)
            }
        }
        if report.outcomes.contains(.applied) {
            // A child written offline under a record an admin merged away moves to the record
            // it was merged into, by a write of this server that travels like any other.
            _ = try await storage.repairMerged()
            changesArrived()
        }
        return PushResponse(results: results, acknowledged: report.acknowledged,
                            relayAcknowledged: report.relayAcknowledged.isEmpty ? nil : report.relayAcknowledged)
    }

    /// The next page after the cursor, without what the pulling replica said at hello it has
    /// seen (its own writes, and what it relayed or got elsewhere), bounded in count and bytes.
    public func pull(_ request: PullRequest, device: AuthenticatedDevice) async throws -> PullPage {
        try await requireOwnership(request.replica, device)
        // The purge went on without it: walking the feed from its old position would miss the
        // deletes whose history was purged, so it starts again from the server's copy.
        if request.cursor < (try await storage.purgedThrough()) {
            guard device.isBranch else {
                throw WireError(.replicaExpired, message: "This device stands before what the server has purged (it was silent longer than the admin allows, or comes from a copy or another server): deletes it never saw are no longer in the feed, so it must start again from the server's copy, after sending what it holds. `outpost sync` does both.")
            }
            // A branch walks past the purge only with every purged base in hand, taken whole
            // while no purge ran.
            let generation = try await storage.purgeGeneration()
            guard generation % 2 == 0, request.purgedTaken == generation else {
                throw WireError(.replicaExpired, message: "This branch stands before what the server has purged and has not taken it (or a purge ran since it did): it takes `POST /v1/sync/purged` again at its next round, then pulls. A branch of an older version must be upgraded first.")
            }
        }
        let seen = try await storage.seen(of: request.replica)
        let policy = try await ScopePolicy.make(for: device, storage: storage)
        var older: [OlderRecord] = []
        // A scoped puller's `seen` has holes (writes out of its scope were never sent), so it
        // does not say what it lacks: only what it wrote, or (a branch) what it pushed here
        // itself, is held back from it. Its reps' writes that reached this server another way
        // (a rep failing over here) are sent.
        let limit = max(1, min(request.limit, WireLimits.pageChanges))
        let page = try await storage.feedPage(after: request.cursor, limit: limit)
        // A scoped puller: every record of the page judged in one read, and which existed before it.
        var subjects: [String: ScopeSubject] = [:]
        var existed = Set<String>()
        if !policy.receivesAll {
            let keys = page.map { ($0.collection, $0.recordID) }
            subjects = try await storage.scopeSubjects(keys)
            existed = try await storage.existedBefore(keys, seq: request.cursor)
        }
        var changes: [[UInt8]] = []
        var bytes = 0
        var cursor = request.cursor
        var stoppedForSize = false
        for entry in page {
            // Nothing goes back where it came from. A copy of a folder that took a new id has
            // seen the original's writes only up to where it kept the old name, so it still
            // receives what the original wrote after.
            let writer = entry.dot.replica.rawValue
            let held = policy.receivesAll ? entry.dot.counter <= seen[writer] ?? 0 : entry.origin == request.replica
            if writer == request.replica || held {
                cursor = entry.seq
                continue
            }
            var root: String?
            if !policy.receivesAll {
                let key = entry.collection + "\u{1F}" + entry.recordID
                let subject: ScopeSubject
                if let known = subjects[key] { subject = known } else { subject = try await storage.scopeSubject(entry.collection, entry.recordID) }
                // Out of the puller's scope now: not sent (it is evicted there if held).
                guard policy.receives(subject) else {
                    cursor = entry.seq
                    continue
                }
                if case .root(let id, _) = subject { root = id }
            }
            let text = try texts.text(of: entry)
            // The bytes it will take in the page (and the comma before it).
            let size = text.count + 1
            if !changes.isEmpty && bytes + size > WireLimits.pageBytes {
                stoppedForSize = true
                break
            }
            if !policy.receivesAll, existed.contains(entry.collection + "\u{1F}" + entry.recordID) {
                older.append(OlderRecord(index: changes.count, root: root))
            }
            changes.append(text)
            bytes += size
            cursor = entry.seq
        }
        let more = stoppedForSize || page.count == limit
        // The feed's sequence numbers are dense, so the last one minus the cursor is the backlog
        // (counting this replica's own changes, which are skipped): cheap, and enough for progress.
        return PullPage(changes: changes, cursor: cursor, more: more, remaining: more ? try await storage.feedCount(after: cursor) : 0,
                        older: older.isEmpty ? nil : older)
    }

    /// Most scope-log entries an incremental scope answer covers; beyond, the answer is full.
    static let scopeLogLimit = 10_000

    /// What of the puller's holdings left or entered its scope since its last scope call here
    /// (`protocol/scopes.md`, Eviction).
    public func scope(_ request: ScopeRequest, device: AuthenticatedDevice) async throws -> ScopeResponse {
        try await requireOwnership(request.replica, device)
        let policy = try await ScopePolicy.make(for: device, storage: storage)
        let end = try await storage.scopeLogEnd()
        if let since = request.since, request.token == policy.token, since <= end {
            let log = try await storage.scopeLog(after: since, limit: Self.scopeLogLimit + 1)
            if log.count <= Self.scopeLogLimit {
                var entered: [RecordRef] = [], left: [RecordRef] = []
                var judged = Set<String>()
                for entry in log where judged.insert(entry.collection + "\u{1F}" + entry.id).inserted {
                    let ref = RecordRef(collection: entry.collection, id: entry.id)
                    if policy.receives(try await storage.scopeSubject(entry.collection, entry.id)) { entered.append(ref) } else { left.append(ref) }
                }
                return ScopeResponse(through: end, token: policy.token, full: false, entered: entered, left: left)
            }
        }
        guard let held = request.held else { return ScopeResponse(through: end, token: policy.token, full: true, sendHeld: true) }
        guard held.count <= Self.relayingLimit * 10 else {
            throw WireError(.malformedRequest, message: "\"held\" names \(held.count) records; at most \(Self.relayingLimit * 10) are allowed.")
        }
        guard let root = storage.schema.scopeRoot?.name else { return ScopeResponse(through: end, token: policy.token, full: true) }
        let holding = Set(held)
        var entered: [RecordRef] = [], left: [RecordRef] = []
        var known = Set<String>()
        for (id, values) in try await storage.scopeRoots() {
            known.insert(id)
            let admitted = policy.receives(.root(id: id, values: values))
            if admitted && !holding.contains(id) { entered.append(RecordRef(collection: root, id: id)) }
            if !admitted && holding.contains(id) { left.append(RecordRef(collection: root, id: id)) }
        }
        // A root this server evicted itself left its scope, and so the client's.
        for id in try await storage.evicted(root, among: held.filter { !known.contains($0) }) { left.append(RecordRef(collection: root, id: id)) }
        // Judged in one read, not one trip to the storage threads each.
        let loose = Array((request.heldLoose ?? []).prefix(Self.relayingLimit))
        let looseSubjects = try await storage.scopeSubjects(loose.map { ($0.collection, $0.id) })
        for ref in loose {
            guard let subject = looseSubjects[ref.collection + "\u{1F}" + ref.id] else { continue }
            // Only a child this server holds is judged; one it lacks is kept like a root it lacks.
            if case .unrooted(creator: nil) = subject { continue }
            if !policy.receives(subject) { left.append(ref) }
        }
        // A root this server does not hold is not judged: the client keeps it (its own refused
        // write, or a record of another server's that this one has not received).
        return ScopeResponse(through: end, token: policy.token, full: true, entered: entered, left: left)
    }

    /// Compares what a device holds with what this server holds for it (its scope's live
    /// records), bucket by bucket, then record by record within the buckets that differ; keeps
    /// the outcome for the admin (`outpost-admin stats`).
    public func digest(_ request: DigestRequest, device: AuthenticatedDevice) async throws -> DigestResponse {
        try await requireOwnership(request.replica, device)
        for (collection, buckets) in request.buckets {
            guard storage.schema.collections.contains(where: { $0.name == collection }) else {
                throw WireError(.malformedRequest, message: "\"buckets\" names the collection \(collection), which the schema in force does not have.")
            }
            guard buckets.count == RecordDigest.bucketCount else {
                throw WireError(.malformedRequest, message: "\"buckets.\(collection)\" has \(buckets.count) digests; a collection has \(RecordDigest.bucketCount).")
            }
        }
        let named = request.records?.values.reduce(0) { $0 + $1.count } ?? 0
        guard named <= DigestRequest.recordLimit else {
            throw WireError(.malformedRequest, message: "\"records\" names \(named) records; at most \(DigestRequest.recordLimit) in one comparison.")
        }
        let policy = try await ScopePolicy.make(for: device, storage: storage)
        var differingBuckets: [String: [Int]] = [:]
        var differing: [String: [String]] = [:]
        for collection in request.buckets.keys.sorted() {
            var held = try await storage.recordFingerprints(collection)
            if !policy.receivesAll {
                let subjects = try await storage.scopeSubjects(held.map { (collection, $0.id) })
                held = held.filter { subjects[collection + "\u{1F}" + $0.id].map(policy.receives) == true }
            }
            let mine = RecordDigest.bucketDigests(held)
            let apart = (0..<RecordDigest.bucketCount).filter { mine[$0] != request.buckets[collection]![$0] }
            guard !apart.isEmpty else { continue }
            differingBuckets[collection] = apart
            guard let theirs = request.records?[collection] else { continue }
            let buckets = Set(apart)
            var ours: [String: String] = [:]
            for record in held where buckets.contains(RecordDigest.bucket(of: record.id)) { ours[record.id] = RecordDigest.hex(record.fingerprint) }
            let ids = Set(ours.keys).union(theirs.keys).filter { ours[$0] != theirs[$0] }
            if !ids.isEmpty { differing[collection] = ids.sorted() }
        }
        let count = request.records == nil ? differingBuckets.values.reduce(0) { $0 + $1.count } : differing.values.reduce(0) { $0 + $1.count }
        try await storage.noteVerification(replica: request.replica, differing: count)
        return DigestResponse(differingBuckets: differingBuckets, differing: request.records == nil ? nil : differing)
    }

    /// The history, up to `through`, of records that entered the puller's scope; records out of
    /// its scope are left out.
    public func records(_ request: RecordsRequest, device: AuthenticatedDevice) async throws -> RecordsResponse {
        try await requireOwnership(request.replica, device)
        guard request.records.count <= RecordsRequest.limit else {
            throw WireError(.malformedRequest, message: "A records request names at most \(RecordsRequest.limit) records; this one names \(request.records.count).")
        }
        let policy = try await ScopePolicy.make(for: device, storage: storage)
        var allowed: [RecordRef] = []
        let subjects = try await storage.scopeSubjects(request.records.map { ($0.collection, $0.id) })
        for ref in request.records where subjects[ref.collection + "\u{1F}" + ref.id].map(policy.receives) == true { allowed.append(ref) }
        // Bounded like a pull page: the client asks again from `next`.
        let page = try await storage.history(of: allowed.map { ($0.collection, $0.id) }, after: request.after ?? 0, through: request.through,
                                       limit: WireLimits.pageChanges + 1)
        let more = page.count > WireLimits.pageChanges
        let sent = page.prefix(WireLimits.pageChanges)
        var response = RecordsResponse(changes: sent.map(\.change.json), next: more ? sent.last?.seq : nil)
        // On the first page, and on any that starts below the purge (a purge may have run
        // between pages): a join, so sending a base twice changes nothing.
        if (request.after ?? 0) < (try await storage.purgedThrough()) || request.after == nil {
            let purged = try await storage.purgedStates(allowed.map { ($0.collection, $0.id) })
            if !purged.isEmpty { response.states = purged.map { PurgedState(collection: $0.collection, id: $0.id, state: $0.state.json, creator: $0.creator) } }
        }
        return response
    }

    /// Gives a copied or restored folder a new replica id for the same device, and says which
    /// of its writes the server holds identically (they keep their names), which ones another
    /// copy of the folder already sent under its new id (they take that copy's names), and
    /// where to pull again.
    ///
    /// The folder sends the digests of its writes after the counter it knows acknowledged. The
    /// server walks them in order: first against the writes stored under the old id (the
    /// original's, or the folder's own whose answer was lost), then against the renamed writes
    /// of each earlier copy whose own id starts where the walk stands, read back under their
    /// old names. Everything after the walk takes the new id.
    public func fork(_ request: ForkRequest, device: AuthenticatedDevice) async throws -> ForkResponse {
        try await requireOwnership(request.replica, device)
        guard SyncToken.isValid(request.syncToken) else {
            throw WireError(.malformedRequest, message: "\"syncToken\" is not a sync token (EPOCH.16-hex-digits).")
        }
        let old: ReplicaID
        do { old = try ReplicaID(request.replica) } catch { throw WireError(.malformedRequest, message: "\(error)") }
        // The same call again (its answer was lost): the same id and the same renaming.
        if let earlier = try await storage.unusedFork(of: request.replica, device: device.id, syncToken: request.syncToken) {
            return ForkResponse(replica: earlier.id, keptThrough: earlier.kept, adopted: earlier.adopted,
                                cursor: try await rewind(old, after: earlier.kept))
        }
        // Writes up to the folder's own acknowledgement are here by its meaning, unless this
        // server was restored from an older backup: then another copy may have sent other writes
        // under those names since, and only digests can tell. Ask for them from where this
        // server's own acknowledgement ends.
        let from = request.from ?? request.acknowledged
        guard from <= request.acknowledged else {
            throw WireError(.malformedRequest, message: "\"from\" (\(from)) must not be above \"acknowledged\" (\(request.acknowledged)).")
        }
        let stored = try await storage.acknowledged(of: request.replica)
        guard from <= stored else {
            throw WireError(.digestsNeeded, message: "This server holds fewer of replica \(request.replica)'s writes than the folder was told (it was restored from a backup): send the digests of its writes after \(stored).",
                            details: [String(stored)])
        }
        var position = from
        var index = 0
        // A write whose feed entry a purge removed is still known by its digest.
        while index < request.digests.count, let digest = try await storage.storedDigest(Dot(old, position + 1)),
              digest == request.digests[index] {
            position += 1
            index += 1
        }
        let kept = position
        var adopted: [ForkSegment] = []
        let relatives = index < request.digests.count ? try await relatives(of: old) : []
        while index < request.digests.count {
            var best: (id: String, length: Int) = ("", 0)
            for relative in relatives where relative.start == position {
                var length = 0
                while index + length < request.digests.count,
                      let change = try await storage.storedChange(Dot(relative.id, UInt64(length) + 1)),
                      let original = try? relative.underRequestNames(change),
                      ChangeDigest.of(original) == request.digests[index + length] {
                    length += 1
                }
                if length > best.length { best = (relative.id.rawValue, length) }
            }
            guard best.length > 0 else { break }
            adopted.append(ForkSegment(replica: best.id, after: position, through: position + UInt64(best.length)))
            position += UInt64(best.length)
            index += best.length
        }
        let id = try await storage.createFork(device: device.id, from: request.replica, syncToken: request.syncToken,
                                        map: StoredFork(old: request.replica, kept: kept, adopted: adopted, ownAfter: position))
        return ForkResponse(replica: id, keptThrough: kept, adopted: adopted, cursor: try await rewind(old, after: kept))
    }

    /// Where a healed folder pulls again: before the first write under its old name after
    /// `kept` (another copy's, which the folder lacks). One a purge removed cannot be pulled
    /// again: the folder starts before the purge, hence again from the server's copy.
    private func rewind(_ old: ReplicaID, after kept: UInt64) async throws -> Int64? {
        if try await storage.lastPurgedWrite(of: old) > kept { return 0 }
        return try await storage.firstFeedSeq(of: old.rawValue, after: kept).map { $0 - 1 }
    }

    /// Another id that may hold, under its own names, writes that `replica` names too: a copy of
    /// it (its writes after `start` were `replica`'s), or, when `replica` is itself a copy, a
    /// sibling copy of the same folder.
    struct Relative {
        /// The other id.
        let id: ReplicaID
        /// Its first write is `replica`'s write `start + 1`.
        let start: UInt64
        /// One of its writes as `replica` names it.
        let underRequestNames: (Change) throws -> Change
    }

    /// The copies of `replica`, and its sibling copies if it is one itself.
    func relatives(of replica: ReplicaID) async throws -> [Relative] {
        var relatives = try await storage.forks(of: replica.rawValue).map { fork in
            let rename = try fork.rename()
            return Relative(id: rename.new, start: fork.ownAfter, underRequestNames: { try rename.restore($0) })
        }
        if let mine = try await storage.forkMap(of: replica.rawValue) {
            let myRename = try mine.rename()
            for sibling in try await storage.forks(of: mine.old) where sibling.id != replica.rawValue && sibling.ownAfter >= mine.ownAfter {
                let rename = try sibling.rename()
                relatives.append(Relative(id: rename.new, start: sibling.ownAfter - mine.ownAfter,
                                          underRequestNames: { try myRename.rename(try rename.restore($0)) }))
            }
        }
        return relatives
    }

    /// A folder pushing a write that a copy of it (or a sibling copy) already sent under the id
    /// the copy took (the folder's sync was cut before it pushed the write, and the copy healed
    /// in between): applying it would store one write twice. The folder is told it is a copy
    /// too, and its heal adopts the copy's names for the writes they share.
    private func refuseWritesACopyAlreadySent(_ changes: [Change], sender: String) async throws {
        let senderID: ReplicaID
        do { senderID = try ReplicaID(sender) } catch { return }
        let relatives = try await relatives(of: senderID)
        guard !relatives.isEmpty else { return }
        for change in changes where change.dot.replica == senderID {
            if try await storage.storedChange(change.dot) != nil { continue }
            for relative in relatives where change.dot.counter > relative.start {
                let named = Dot(relative.id, change.dot.counter - relative.start)
                guard let stored = try await storage.storedChange(named), try relative.underRequestNames(stored) == change else { continue }
                throw WireError(.replicaForked, message: "Another copy of replica \(sender)'s folder already sent \(change.dot) as \(named): this folder shares writes with a copy. Nothing of this page was applied; the client takes a new replica id and keeps the copy's names for the writes they share.")
            }
        }
    }

    private func requireOwnership(_ replica: String, _ device: AuthenticatedDevice) async throws {
        guard try await storage.ownsReplica(device: device.id, replica: replica) else {
            throw WireError(.wrongReplica, message: "This device does not write as replica \(replica); sync from the folder it was enrolled with.")
        }
    }
}
