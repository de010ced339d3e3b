import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// The admin's side of conflicts, with no HTTP in it: list, show and settle, one at a time or
/// many at once, each settlement written to the audit trail.
public struct ConflictService: Sendable {
    let storage: any ServerStorage

    /// Creates the service.
    public init(storage: any ServerStorage) { self.storage = storage }

    /// What narrows a listing.
    public struct Filter: Sendable {
        public var collection: String?
        public var field: String?
        /// A side written by this user.
        public var user: String?
        /// A side that came up through this branch (`head-office` for writes made at head office).
        public var branch: String?
        /// Only conflicts whose newest side is at least this many days old.
        public var olderThanDays: Double?
        /// Closed conflicts (settled by an admin or closed by a later edit) instead of open ones.
        public var resolved: Bool

        public init(collection: String? = nil, field: String? = nil, user: String? = nil, branch: String? = nil,
                    olderThanDays: Double? = nil, resolved: Bool = false) {
            self.collection = collection
            self.field = field
            self.user = user
            self.branch = branch
            self.olderThanDays = olderThanDays
            self.resolved = resolved
        }

        func admits(_ c: ConflictInfo, now: Date) -> Bool {
            if let collection, c.collection != collection { return false }
            if let field, c.key != field { return false }
            if let user, !c.sides.contains(where: { $0.user == user }) { return false }
            if let branch, !c.sides.contains(where: { ($0.branch ?? ConflictService.headOffice) == branch }) { return false }
            if let days = olderThanDays {
                let newest = c.sides.compactMap { ISO8601DateFormatter().date(from: $0.at) }.max() ?? .distantPast
                if now.timeIntervalSince(newest) < days * 86_400 { return false }
            }
            return true
        }
    }

    /// How a side written at head office is named in listings and in `--branch`.
    static let headOffice = "head-office"

    /// Open conflicts matching `filter`, oldest clash first; or, with `filter.resolved`, closed
    /// ones, most recently closed first, each saying how and by whom.
    public func list(_ filter: Filter, now: Date = Date()) async throws -> [ConflictInfo] {
        let branches = try await storage.replicaBranches()
        if filter.resolved {
            return try await storage.closedConflicts().map { closed in
                var info = Self.info(closed.conflict, branches: branches)
                info.closed = ConflictClosing(
                    how: closed.closedBy.device == Replica.adminDevice ? "settled" : "later-edit",
                    user: closed.closedBy.user, device: closed.closedBy.device, at: Self.iso(closed.closedAt),
                    dot: closed.closedDot.description, outcome: Self.text(closed.outcome, of: closed.conflict))
                return info
            }.filter { filter.admits($0, now: now) }
        }
        return try await storage.openConflicts()
            .sorted { ($0.sides.map(\.hlc).min() ?? .zero) < ($1.sides.map(\.hlc).min() ?? .zero) }
            .map { Self.info($0, branches: branches) }
            .filter { filter.admits($0, now: now) }
    }

    /// One open conflict with the record around it.
    public func show(_ id: String) async throws -> ConflictInfo {
        guard let conflict = try await storage.openConflicts().first(where: { $0.id == id }) else {
            throw WireError(.notFound, message: "There is no open conflict \(id); `outpost-admin conflicts list` shows the open ones, `outpost-admin audit` the settled ones.")
        }
        let values = try await storage.recordValues(conflict.collection, id: conflict.recordID) ?? [:]
        return Self.info(conflict, branches: try await storage.replicaBranches(), recordValues: values.filter { $0.value != .null }.mapValues(CollectionSpec.format))
    }

    /// Settles one conflict (`request.id`) or every open conflict on a collection's field, by
    /// taking a side or giving a value; returns the audit entries written.
    public func resolve(_ request: ConflictResolveRequest, admin: String) async throws -> [AuditEntry] {
        guard (request.take != nil) != (request.value != nil || request.valueText != nil) else {
            throw WireError(.malformedRequest, message: "Say what to keep: --take SIDE, or --value VALUE (one of them).")
        }
        let targets: [Conflict]
        let all = try await storage.openConflicts()
        if let id = request.id {
            guard let one = all.first(where: { $0.id == id }) else {
                throw WireError(.notFound, message: "There is no open conflict \(id); it may have been settled already (`outpost-admin audit`).")
            }
            targets = [one]
        } else {
            guard let collection = request.collection, let field = request.field else {
                throw WireError(.malformedRequest, message: "Name one conflict (ID), or many with --collection C --field F.")
            }
            guard let spec = try? storage.schema.collection(collection) else {
                throw WireError(.malformedRequest, message: "There is no collection '\(collection)'.")
            }
            guard spec.field(field) != nil || spec.groups.contains(where: { $0.name == field }) || field == RecordState.presenceKey else {
                throw WireError(.malformedRequest, message: "\(collection) has no field '\(field)'.")
            }
            // Orphans are settled in bulk only by restoring or deleting: a time or a value
            // means nothing between a placement and a deletion. Those two words settle only
            // deletions and orphans.
            let restoreOrDelete = request.take == "restore" || request.take == "delete"
            targets = all.filter {
                $0.collection == collection && $0.key == field
                    && (restoreOrDelete ? $0.kind != .concurrentValues : $0.kind != .orphan)
            }
        }
        // Every choice is made before anything is written: a bulk settlement that cannot take
        // its side in one conflict writes nothing at all.
        let choices = try targets.map { try choice(for: $0, request, single: request.id != nil) }
        var entries: [AuditEntry] = []
        for (conflict, choice) in zip(targets, choices) {
            let resolution: ConflictResolution
            do {
                resolution = try await storage.resolve(conflict, choice: choice, author: Author(user: admin, device: Replica.adminDevice))
            } catch let error as StoreError {
                // In bulk, a conflict an earlier settlement of the same run closed (two orphans
                // of one parent, restored once) is skipped, not an error.
                if request.id == nil && error.code == .notFound { continue }
                throw WireError(code: Self.code(error), message: error.description)
            }
            let entry = AuditEntry(at: ISO8601DateFormatter().string(from: Date()), who: admin, action: "conflict-resolved",
                                   collection: conflict.collection, record: conflict.recordID, key: conflict.key, subject: conflict.id,
                                   chosen: Self.text(resolution.chosen, of: conflict),
                                   before: conflict.sides.map { "\(Self.text($0.value, of: conflict)) (\($0.author.user)@\($0.author.device), \($0.dot))" },
                                   dot: resolution.dot.description)
            try await storage.addAudit(entry)
            entries.append(entry)
        }
        return entries
    }

    /// The audit trail.
    public func audit() async throws -> [AuditEntry] { try await storage.audit() }

    /// The wire code of a store error met while settling.
    static func code(_ error: StoreError) -> String {
        switch error.code {
        case .notFound: "not-found"
        case .invalidInput, .readOnly: "malformed-request"
        default: "internal"
        }
    }

    /// What the request keeps of one conflict.
    func choice(for conflict: Conflict, _ request: ConflictResolveRequest, single: Bool) throws -> ConflictChoice {
        if let value = request.value {
            do { return .value(try FieldValue(json: value)) } catch {
                throw WireError(.malformedRequest, message: "The value is not a field value: \(error).")
            }
        }
        if let text = request.valueText {
            do {
                return .value(try storage.schema.collection(conflict.collection).parse(text, for: conflict.key))
            } catch {
                throw WireError(.malformedRequest, message: "\(error)")
            }
        }
        let take = request.take ?? ""
        let sides = conflict.sides
        let picked: FieldEntry? = switch take {
        case "newest": sides.max(by: FieldEntry.lwwPrecedes)
        case "oldest": sides.min(by: FieldEntry.lwwPrecedes)
        case "highest": sides.max { $0.value != $1.value ? $0.value < $1.value : FieldEntry.lwwPrecedes($0, $1) }
        // A delete-versus-update clash or an orphan: keep (restore) the record or its parent, or delete.
        case "restore" where conflict.kind != .concurrentValues: sides.first { $0.value != .bool(false) }
        case "delete" where conflict.kind != .concurrentValues: sides.first { $0.value == .bool(false) }
        default:
            if let n = Int(take), single, (1...sides.count).contains(n) {
                sides[n - 1]
            } else {
                sides.first { $0.dot.description == take } ?? sides.filter({ $0.author.user == take }).max(by: FieldEntry.lwwPrecedes)
            }
        }
        guard let picked else {
            throw WireError(.malformedRequest, message: "Conflict \(conflict.id) has no side '\(take)': take a side's number (1-\(sides.count)), its dot, a writer's name, or newest, oldest, highest\(conflict.kind == .concurrentValues ? "" : ", restore, delete").")
        }
        return .side(picked.dot)
    }

    static func info(_ c: Conflict, branches: [String: String], recordValues: [String: String]? = nil) -> ConflictInfo {
        ConflictInfo(id: c.id, collection: c.collection, record: c.recordID, key: c.key, kind: c.kind.rawValue, rule: c.rule,
                     sides: c.sides.map {
                         ConflictSide(dot: $0.dot.description, value: $0.value.json, text: text($0.value, of: c), user: $0.author.user,
                                      device: $0.author.device, at: iso(Int64($0.hlc.wallMillis)), branch: branches[$0.dot.replica.rawValue])
                     },
                     winner: c.provisionalWinner.description, recordValues: recordValues)
    }

    static func iso(_ millis: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// A side's value as people read it: `kept` / `deleted` for a delete-versus-update clash;
    /// for an orphan, what taking it does.
    static func text(_ value: FieldValue, of conflict: Conflict) -> String {
        switch conflict.kind {
        case .deleteVersusUpdate:
            return value == .bool(true) ? "kept" : "deleted"
        case .orphan:
            let parent = conflict.sides.first { $0.value != .bool(false) }?.value
            if value == .bool(false) { return "delete it with its parent" }
            if value == parent, case .reference(let id) = value { return "restore its parent \(id)" }
            return "move it under \(CollectionSpec.format(value))"
        case .concurrentValues:
            return CollectionSpec.format(value)
        }
    }
}
