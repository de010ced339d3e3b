import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// A change this replica refused to apply; it is kept with its reason, never dropped.
public struct Rejection: Hashable, Sendable {
    /// The change's dot.
    public let dot: Dot
    /// The record it touched.
    public let collection: String, recordID: String
    /// The replica that sent it (a server keeps a refusal with the sender, never under the
    /// replica the change names); `server` for this replica's own changes a server refused.
    public let origin: String
    /// A stable code (`wrong-type`, `clock-skew`).
    public let code: String
    /// A sentence for the user.
    public let reason: String
    /// What the change wrote (a deletion writes nothing), so the rep sees what is kept.
    public var fields: [String: FieldValue] = [:]
    /// Whether it deleted the record.
    public var isDelete = false
}

/// What applying a batch of remote changes did.
public struct ApplyReport: Sendable {
    /// Changes applied now.
    public var applied = 0
    /// Changes already applied before (their dot was in the feed): no-ops.
    public var alreadyApplied = 0
    /// Changes refused, with reasons (also stored in `outpost_rejected`).
    public var rejected: [Rejection] = []
    /// Records whose state changed.
    public var recordsTouched = 0
    /// What happened to each change, by dot.
    public var outcomes: [Dot: Outcome] = [:]

    /// What happened to one change.
    public enum Outcome: Hashable, Sendable {
        case applied, duplicate, rejected(code: String, reason: String)
    }
}

extension Replica {
    /// Applies remote changes in one transaction: all of them or, on a crash, none.
    ///
    /// Idempotent (a change whose dot this replica has applied is skipped) and order-independent
    /// (the merge is a join). Manual-rule clashes and delete-versus-update clashes become
    /// conflicts; children whose parent is missing become orphans; changes with values of the
    /// wrong type or an HLC too far in the future are rejected and kept. Applied changes keep
    /// their original dots in the feed, so they can be relayed.
    ///
    /// `precheck` may refuse a change before it is applied (a server checks the sender's rights
    /// and dots); `settings` are stored in the same transaction (a pull commits its cursor so).
    @discardableResult
    public func apply(_ changes: [Change], from origin: String, settings: [String: String] = [:],
                      precheck: (Change) -> (code: String, reason: String)? = { _ in nil }) throws -> ApplyReport {
        try write { db in
            let report = try self.apply(changes, from: origin, in: db, precheck: precheck)
            for (key, value) in settings { try Self.setSetting(db, key, value) }
            return report
        }
    }

    /// The body of ``apply(_:from:settings:precheck:)`` inside a caller's transaction.
    ///
    /// `refusalOrigin` says under which replica a refused change is kept (the sender, unless a
    /// branch relayed it: then the replica that wrote it).
    func apply(_ changes: [Change], from origin: String, in db: Database,
               refusalOrigin: ((Change) -> String)? = nil,
               precheck: (Change) -> (code: String, reason: String)?) throws -> ApplyReport {
        var report = ApplyReport()
        var clock = HybridLogicalClock(last: try storedHLC(db))
        let wall = wallClock()
        var seen = Set<Dot>()
        // Almost always none: then no record of the batch pays for the eviction checks below.
        let anyEvicted = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outpost_evicted LIMIT 1")) != nil
        // Only a server that purged holds writes no longer in its feed, and only up to each
        // replica's highest purged write: a new write is never looked up.
        var purgedHeads: [String: UInt64] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT replica, counter FROM outpost_purged_heads")) { purgedHeads[row[0]] = row[1] }
        var order: [String] = []
        var byRecord: [String: [Change]] = [:]
        for change in changes {
            guard seen.insert(change.dot).inserted else {
                report.alreadyApplied += 1
                report.outcomes[change.dot] = .duplicate
                continue
            }
            do {
                if let refused = precheck(change) { throw Refusal(code: refused.code, reason: refused.reason) }
                try validate(change)
                try clock.observe(change.hlc, wallMillis: wall)
            } catch let error {
                let (code, reason) = Self.rejectionReason(error)
                try Self.keepRejection(db, change, origin: refusalOrigin?(change) ?? origin, code: code, reason: reason)
                report.rejected.append(Rejection(dot: change.dot, collection: change.collection, recordID: change.recordID,
                                                 origin: origin, code: code, reason: reason))
                report.outcomes[change.dot] = .rejected(code: code, reason: reason)
                continue
            }
            // The feed's unique dot index is the record of what was applied: a dot already there
            // (or purged from it, known by its digest) is a no-op.
            let purged = change.dot.counter <= purgedHeads[change.dot.replica.rawValue] ?? 0 ? try Self.purgedDigest(db, change.dot) : nil
            guard purged == nil, try RecordIO.appendToFeed(db, change, origin: origin) else {
                let differs = try purged.map { $0 != ChangeDigest.of(change) }
                    ?? Self.feedBytes(db, change.dot).map { try BinaryCodec.decodeChange($0) != change } ?? false
                if differs {
                    // Two folders wrote under one replica id and this replica received both
                    // writes (possible only around a server restored from a backup): keep the
                    // second and say so, instead of taking it for the first.
                    let reason = "Another write already arrived here under the name \(change.dot); this one is kept aside. The folder that wrote them was copied or restored; an admin should look at it."
                    try Self.keepRejection(db, change, origin: origin, code: "dot-reused", reason: reason)
                    report.rejected.append(Rejection(dot: change.dot, collection: change.collection, recordID: change.recordID,
                                                     origin: origin, code: "dot-reused", reason: reason))
                    report.outcomes[change.dot] = .rejected(code: "dot-reused", reason: reason)
                    continue
                }
                report.alreadyApplied += 1
                report.outcomes[change.dot] = .duplicate
                // An evicted record's kept history must still rebuild it when it comes back.
                if anyEvicted, try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM outpost_evicted WHERE collection = ? AND record_id = ?"),
                                     arguments: [change.collection, change.recordID]) != nil {
                    let key = change.collection + "\u{1F}" + change.recordID
                    if byRecord[key] == nil { order.append(key) }
                    byRecord[key, default: []].append(change)
                }
                continue
            }
            report.outcomes[change.dot] = .applied
            let key = change.collection + "\u{1F}" + change.recordID
            if byRecord[key] == nil { order.append(key) }
            byRecord[key, default: []].append(change)
            report.applied += 1
        }
        for key in order {
            let batch = byRecord[key]!
            let collection = batch[0].collection, id = batch[0].recordID
            let table = tables[collection]
            let loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
            var base = loaded.state
            if anyEvicted, try Bool.fetchOne(db.cachedStatement(sql: "DELETE FROM outpost_evicted WHERE collection = ? AND record_id = ? RETURNING 1"),
                                 arguments: [collection, id]) != nil {
                // Back after an eviction: what was kept of it (a server's whole feed and purge
                // base, a laptop's own writes) is folded in with what arrived.
                base = try stateFromHistory(db, collection: collection, id: id, from: base)
            }
            let merged = batch.reduce(base) { $0.applying($1) }
            if merged != loaded.state {
                try RecordIO.save(db, table: table, collection: collection, id: id, old: loaded, new: merged,
                                  children: children, tables: tables)
                report.recordsTouched += 1
            }
        }
        try db.cachedStatement(sql: "UPDATE outpost_meta SET value = ? WHERE key = 'hlc'").execute(arguments: [clock.last.description])
        return report
    }

    /// Checks the values of every field this schema knows against its type.
    func validate(_ change: Change) throws {
        try checkSizes(change)
        guard let table = tables[change.collection] else { return }
        let spec = table.spec
        for (key, state) in change.fields {
            if table.fieldIndex[key] == nil, let group = spec.groups.first(where: { $0.name == key }) {
                for e in state.entries.values {
                    guard case .group(let parts) = e.value else {
                        throw StoreError(.invalidInput, "\(spec.name).\(key) is a field group; the change sends \(e.value.typeName).")
                    }
                    for m in group.members {
                        if let v = parts[m] { try typeCheck(spec, m, v) }
                    }
                }
            } else if let i = table.fieldIndex[key] {
                let field = spec.fields[i]
                for e in state.entries.values {
                    switch field.rule {
                    case .set:
                        guard case .string = e.value else {
                            throw StoreError(.invalidInput, "\(spec.name).\(key) is a set of strings; the change sends \(e.value.typeName).")
                        }
                    case .counter:
                        guard case .integer = e.value else {
                            throw StoreError(.invalidInput, "\(spec.name).\(key) is a counter; the change sends \(e.value.typeName).")
                        }
                    default:
                        try typeCheck(spec, key, e.value)
                    }
                }
            }
        }
        for e in change.presence.entries.values {
            guard case .bool = e.value else { throw StoreError(.invalidInput, "The change's presence is not true or false.") }
        }
    }

    private func typeCheck(_ spec: CollectionSpec, _ field: String, _ value: FieldValue) throws {
        // Pick lists are not enforced on remote changes: a newer schema may allow more values.
        do { try spec.check(value, for: field, strict: false) } catch {
            if error.code == .tooLarge { throw Refusal(code: "too-large", reason: error.description) }
            throw StoreError(error)
        }
    }

    /// Bounds every change, known collection or not, so no oversized value is kept or relayed
    /// (``ValueLimits``).
    func checkSizes(_ change: Change) throws {
        let names = [change.collection, change.recordID, change.author.user, change.author.device] + Array(change.fields.keys)
        if let long = names.first(where: { $0.utf8.count > ValueLimits.nameBytes }) {
            throw Refusal(code: "too-large", reason: "A name or id of \(long.utf8.count) bytes; at most \(ValueLimits.nameBytes).")
        }
        let spec = tables[change.collection]?.spec
        for (key, state) in change.fields {
            var type = spec?.field(key)?.type
            if type == nil, let group = spec?.groups.first(where: { $0.name == key }) {
                type = group.members.contains { spec?.field($0)?.type == .text } ? .text : .string
            }
            for entry in state.entries.values {
                if let problem = ValueLimits.problem(entry.value, type: type, field: "\(change.collection).\(key)") {
                    throw Refusal(code: "too-large", reason: problem)
                }
            }
        }
    }

    static func rejectionReason(_ error: any Error) -> (String, String) {
        switch error {
        case let e as Refusal: return (e.code, e.reason)
        case let e as CoreError:
            if case .remoteClockTooFarAhead = e { return ("clock-skew", e.description) }
            return ("invalid", e.description)
        case let e as StoreError: return ("wrong-type", e.description)
        default: return ("invalid", "\(error)")
        }
    }
}

/// A precheck's refusal, carried to the rejection record.
struct Refusal: Error {
    let code: String
    let reason: String
}
