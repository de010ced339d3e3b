import Foundation
import GRDB
import OutpostCore

/// What a parent did with one change a child pushed.
public enum PushOutcome: Hashable, Sendable {
    /// Applied now.
    case applied
    /// The same write was applied or refused here before: a no-op.
    case duplicate
    /// Refused for its content or its sender's rights; kept here under the sender, with the reason.
    case rejected(code: String, reason: String)
    /// Not looked at (named beyond the counter the sender declared, or after a gap): not
    /// acknowledged, so the sender sends it again in a later session.
    case deferred(code: String, reason: String)
}

/// What a parent's own checks make of a pushed change before it is applied.
public enum PushScreening: Hashable, Sendable {
    /// Refuse it for its content or the sender's rights (kept, acknowledged).
    case reject(code: String, reason: String)
    /// Do not look at it now (not acknowledged): it may be fine in a later session.
    case deferral(code: String, reason: String)
}

/// What applying a child's push page did.
public struct PushReport: Sendable {
    /// One outcome per pushed change, in order.
    public var outcomes: [PushOutcome]
    /// Every change of the sender with a counter up to here was applied or refused for its content.
    public var acknowledged: UInt64
    /// The same for each other replica whose writes the page relayed.
    public var relayAcknowledged: [String: UInt64] = [:]
}

extension Replica {
    /// How many changes named after other replicas a parent keeps per sender.
    static let foreignRefusalsKept = 1_000

    /// The checkpoint key of a child's acknowledgement.
    static func acknowledgedKey(_ child: ReplicaID) -> String { "child.\(child.rawValue).acknowledged" }

    /// Every change of `child` with a counter up to this one has been applied or refused for
    /// its content here (0 when none).
    public func acknowledged(of child: ReplicaID) throws -> UInt64 {
        try read { db in try Self.acknowledged(db, child) }
    }

    static func acknowledged(_ db: Database, _ child: ReplicaID) throws -> UInt64 {
        if let stored = try String.fetchOne(db, sql: "SELECT detail FROM outpost_checkpoints WHERE peer = ?", arguments: [acknowledgedKey(child)]) {
            // Writes of the child that arrived by another path (relayed by a branch, or pulled
            // from head office by a branch the child fails over to) are held here too.
            var acknowledged = UInt64(stored) ?? 0
            // Writes a purge removed from the feed are held too.
            for counter in try UInt64.fetchAll(db.cachedStatement(sql: """
                SELECT counter FROM outpost_feed WHERE replica = ?1 AND counter > ?2
                UNION SELECT counter FROM outpost_purged_writes WHERE replica = ?1 AND counter > ?2 ORDER BY counter LIMIT 1000
                """), arguments: [child.rawValue, acknowledged]) {
                guard counter == acknowledged + 1 else { break }
                acknowledged = counter
            }
            return acknowledged
        }
        // Stores written before acknowledgements were kept: the child's applied counters up to
        // the first gap. Not the highest: such stores may have counted a forged refusal as
        // processed and skipped real writes, which the child then sends again.
        var contiguous: UInt64 = 0
        for counter in try UInt64.fetchAll(db, sql: "SELECT counter FROM outpost_feed WHERE replica = ? ORDER BY counter", arguments: [child.rawValue]) {
            guard counter == contiguous + 1 else { break }
            contiguous = counter
        }
        return contiguous
    }

    /// Applies a page pushed by the child replica `sender`, in one transaction with its new acknowledgement.
    ///
    /// - A change named after another replica is refused (`foreign-origin`) and kept under the
    ///   sender: it changes nothing about the replica it names.
    /// - A change named beyond `declared` (the counter of the sender's hello), or after a counter
    ///   the sender has not pushed yet, is deferred: neither applied nor acknowledged.
    /// - A change whose dot is already here (applied, or refused from this sender) is a
    ///   duplicate if it is the same change; if it differs, two folders wrote under one replica
    ///   id, and the whole page is refused with ``StoreError/Code/replicaForked`` (nothing of it is applied).
    /// - A change stamped further ahead of this clock than the allowed drift is deferred
    ///   (`clock-ahead`): in a later session this clock will have caught up.
    /// - `screen` may refuse or defer a change (the server's checks of rights and contexts).
    /// - Everything else goes through ``apply(_:from:settings:precheck:)``.
    ///
    /// The acknowledgement moves over contiguous counters only, so it means exactly "every
    /// change up to here was applied or refused for its content".
    ///
    /// A branch relays the writes of the replicas beneath it (`relayable`): each such replica's
    /// writes must come in its own counter order and have their own acknowledgement; a relayed
    /// write stored here with other content is refused (`dot-reused`, kept under the sender)
    /// rather than failing the page, since the branch cannot heal a folder beneath it.
    public func applyPush(_ changes: [Change], sender: ReplicaID, declared: UInt64,
                          relayable: (ReplicaID) -> Bool = { _ in false },
                          screen: (Change, PushView) throws -> PushScreening?) throws -> PushReport {
        try write { db in
            let view = PushView(db: db, tables: tables)
            var acknowledged = try Self.acknowledged(db, sender)
            var relayed: [ReplicaID: UInt64] = [:]
            let clock = HybridLogicalClock(last: try storedHLC(db))
            let wall = wallClock()
            var refusals: [Dot: (code: String, reason: String)] = [:]
            var foreignKept: Int?
            var outcomes = [PushOutcome?](repeating: nil, count: changes.count)
            var admitted: [Change] = []
            var admittedIndex: [Int] = []
            for (i, change) in changes.enumerated() {
                let counter = change.dot.counter, origin = change.dot.replica
                let relaying = origin != sender
                if relaying && !relayable(origin) {
                    let reason = "A device may only send changes made on its own replica; this one is named after \(origin)."
                    // Kept as evidence, up to a bound: a hostile device must not fill the disk.
                    if foreignKept == nil {
                        foreignKept = try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_rejected WHERE origin = ? AND replica <> ?",
                                                       arguments: [sender.rawValue, sender.rawValue]) ?? 0
                    }
                    if let kept = foreignKept, kept < Self.foreignRefusalsKept {
                        try Self.keepRejection(db, change, origin: sender.rawValue, code: "foreign-origin", reason: reason)
                        foreignKept = kept + 1
                    }
                    outcomes[i] = .rejected(code: "foreign-origin", reason: reason)
                    continue
                }
                // The declared counter is the sender's own; a relayed replica declared its own
                // to the branch, which checked it.
                if !relaying && counter > declared {
                    outcomes[i] = .deferred(code: "beyond-declared-counter",
                                            reason: "The change is named \(change.dot), beyond the counter \(declared) declared at hello; send it again in the next session.")
                    continue
                }
                if relaying && relayed[origin] == nil { relayed[origin] = try Self.acknowledged(db, origin) }
                let done = relaying ? relayed[origin] ?? 0 : acknowledged
                if counter > done + 1 {
                    outcomes[i] = .deferred(code: "out-of-order",
                                            reason: "The change is named \(change.dot), but the server has acknowledged \(origin) only up to \(done); send the changes in between first.")
                    continue
                }
                var probe = clock
                if case .remoteClockTooFarAhead? = Self.clockError(&probe, change.hlc, wall) {
                    outcomes[i] = .deferred(code: "clock-ahead",
                                            reason: "The change is stamped more than \(clock.maxDriftMillis / 60_000) minutes ahead of the server's clock; it is sent again at every sync and accepted once the server's clock reaches its time. The clock of the laptop that wrote it was ahead.")
                    continue
                }
                if let same = try Self.holdsSame(db, change, sender: origin) {
                    if same {
                        outcomes[i] = .duplicate
                    } else if relaying {
                        // The branch cannot heal a folder beneath it: both writes are kept.
                        let reason = "This server holds another write named \(change.dot): two folders wrote under replica \(origin) (one was copied or restored) and met on different servers. Both are kept; an admin compares them."
                        try Self.keepRejection(db, change, origin: sender.rawValue, code: "dot-reused", reason: reason)
                        outcomes[i] = .rejected(code: "dot-reused", reason: reason)
                    } else {
                        throw StoreError(.replicaForked, "Replica \(sender) sent \(change.dot) with other content than the change stored under that name: its folder was copied or restored.")
                    }
                } else {
                    switch try screen(change, view) {
                    case .deferral(let code, let reason)?:
                        outcomes[i] = .deferred(code: code, reason: reason)
                        continue
                    case .reject(let code, let reason)?:
                        refusals[change.dot] = (code, reason)
                    case nil:
                        try view.admit(change)
                    }
                    admitted.append(change)
                    admittedIndex.append(i)
                }
                if relaying { relayed[origin] = max(done, counter) } else { acknowledged = max(acknowledged, counter) }
            }
            // A relayed write refused here is kept under the replica that wrote it, like one it
            // pushed itself, so the same write arriving by either path is a duplicate.
            let report = try apply(admitted, from: sender.rawValue, in: db, refusalOrigin: { $0.dot.replica == sender ? sender.rawValue : $0.dot.replica.rawValue }) { refusals[$0.dot] }
            for (change, i) in zip(admitted, admittedIndex) {
                switch report.outcomes[change.dot] {
                case .applied?: outcomes[i] = .applied
                case .rejected(let code, let reason)?: outcomes[i] = .rejected(code: code, reason: reason)
                case .duplicate?, nil: outcomes[i] = .duplicate
                }
            }
            try Self.setSetting(db, Self.acknowledgedKey(sender), String(acknowledged))
            for (origin, counter) in relayed { try Self.setSetting(db, Self.acknowledgedKey(origin), String(counter)) }
            return PushReport(outcomes: outcomes.map { $0 ?? .duplicate }, acknowledged: acknowledged,
                              relayAcknowledged: Dictionary(uniqueKeysWithValues: relayed.map { ($0.key.rawValue, $0.value) }))
        }
    }

    private static func clockError(_ clock: inout HybridLogicalClock, _ remote: HLCTimestamp, _ wall: UInt64) -> CoreError? {
        do { _ = try clock.observe(remote, wallMillis: wall) } catch { return error }
        return nil
    }

    /// The bytes of the applied change named `dot`, if any.
    static func feedBytes(_ db: Database, _ dot: Dot) throws -> [UInt8]? {
        try Data.fetchOne(db.cachedStatement(sql: "SELECT change FROM outpost_feed WHERE replica = ? AND counter = ?"),
                          arguments: [dot.replica.rawValue, dot.counter]).map { [UInt8]($0) }
    }

    /// The bytes stored under `dot`: the applied change, or the sender's own refused one.
    static func storedBytes(_ db: Database, _ dot: Dot, sender: ReplicaID) throws -> [UInt8]? {
        if let applied = try feedBytes(db, dot) { return applied }
        return try Data.fetchOne(db.cachedStatement(sql: "SELECT change FROM outpost_rejected WHERE origin = ? AND replica = ? AND counter = ?"),
                                 arguments: [sender.rawValue, dot.replica.rawValue, dot.counter]).map { [UInt8]($0) }
    }

    /// Whether the change stored under the dot of `change` (applied, refused from `sender`, or
    /// purged from the feed and known by its digest) is the same one; nil when none is.
    static func holdsSame(_ db: Database, _ change: Change, sender: ReplicaID) throws -> Bool? {
        if let stored = try storedBytes(db, change.dot, sender: sender) {
            // Compared as values, not bytes: an older build may have encoded the same change
            // with its strings in another order.
            return try BinaryCodec.decodeChange(stored) == change
        }
        return try purgedDigest(db, change.dot).map { $0 == ChangeDigest.of(change) }
    }

    static func keepRejection(_ db: Database, _ change: Change, origin: String, code: String, reason: String) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO outpost_rejected (origin, replica, counter, code, reason, change) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [origin, change.dot.replica.rawValue, change.dot.counter, code, reason, Data(BinaryCodec.encode(change))])
    }
}
