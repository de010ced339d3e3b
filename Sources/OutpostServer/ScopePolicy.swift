import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// What one device may receive and what a writer may write (`protocol/scopes.md`), judged on
/// records as this server holds them now.
struct ScopePolicy {
    /// One writer: a user with a role and a scope.
    struct Writer {
        let user: String
        let role: String
        let scope: Scope?

        var isAdmin: Bool { role == "admin" }
        /// Whether no scope check applies (an admin, or a scope of `all`).
        var seesAll: Bool { isAdmin || scope?.isAll == true }
    }

    /// What the device receives.
    let reader: ScopeUnion
    /// The users whose scopes make it up (a child without a parent goes to its writer).
    let readerUsers: Set<String>
    /// Changes when what the device receives may have changed without a logged write (a
    /// user's scope or role edited, a rep enrolled beneath a branch).
    let token: String
    let schema: Schema
    /// Every user by name, for judging relayed writers.
    let users: [String: UserInfo]

    /// Whether the device receives everything (no filtering, no scope calls).
    var receivesAll: Bool { reader.isAll }

    /// The policy for a device: an admin receives everything; a rep or manager their scope; a
    /// branch the union of its own scope and those of the users whose devices were enrolled
    /// beneath it (a head-office rep visiting it does not widen it).
    static func make(for device: AuthenticatedDevice, storage: any ServerStorage) async throws -> ScopePolicy {
        make(for: device, schema: storage.schema, users: try await storage.users(),
             beneath: device.isBranch ? try await storage.usersEnrolledBeneath(device: device.id) : [])
    }

    /// The same from the users held here and, for a branch, the users enrolled beneath it.
    static func make(for device: AuthenticatedDevice, schema: Schema, users list: [UserInfo], beneath: Set<String>) -> ScopePolicy {
        let users = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var members: [UserInfo] = users[device.user].map { [$0] } ?? []
        if device.isBranch {
            for name in beneath.sorted() where name != device.user {
                if let user = users[name] { members.append(user) }
            }
        }
        var scopes: [(scope: Scope, user: String)] = []
        for member in members {
            if member.role == "admin" { scopes.append((.all, member.name)); continue }
            // A stored scope that does not parse admits nothing (users add/edit refuse one).
            if let scope = try? schema.scope(member.scope) { scopes.append((scope, member.name)) }
        }
        let token = Secrets.hash(([device.role] + members.map { "\($0.name)|\($0.role)|\($0.scope)" }).joined(separator: "\n"))
        return ScopePolicy(reader: Scope.union(scopes), readerUsers: Set(members.map(\.name)), token: String(token.prefix(16)),
                           schema: schema, users: users)
    }

    /// Whether the device receives a record whose scope is decided on `subject`.
    func receives(_ subject: ScopeSubject) -> Bool {
        switch subject {
        case .everyone: true
        case .unjudged: reader.isAll
        case .root(_, let values): values.map(reader.admits) ?? reader.isAll
        case .unrooted(let creator): reader.isAll || creator.map(readerUsers.contains) == true
        }
    }

    /// The writer of a pushed change: the device's user, or for a branch relaying another
    /// replica's write, that replica's user.
    func writer(of change: Change, device: AuthenticatedDevice, sender: String, owners: [String: String]) -> Writer? {
        let name = change.dot.replica.rawValue == sender ? device.user : owners[change.dot.replica.rawValue]
        guard let name, let user = users[name] else { return nil }
        return Writer(user: user.name, role: user.role, scope: try? schema.scope(user.scope))
    }

    /// Checks one pushed change against its writer's rights; nil admits it.
    func screen(_ change: Change, writer: Writer?, view: PushView) throws -> PushScreening? {
        if Replica.reservedDevices.contains(change.author.device) {
            return .reject(code: "wrong-author", reason: "The change is stamped as written on \(change.author.device), a name kept for head office's own writes.")
        }
        guard let writer else {
            return .reject(code: "wrong-author", reason: "The replica that wrote this change belongs to no user this server knows.")
        }
        guard change.author.user == writer.user else {
            return .reject(code: "wrong-author", reason: "The change names \(change.author.user) as its author, but it was written on a device of \(writer.user).")
        }
        guard let spec = try? schema.collection(change.collection) else { return nil }
        if spec.isReferenceData && !writer.isAdmin {
            return .reject(code: "read-only", reason: "\(change.collection) is reference data: only head office's admins write it.")
        }
        guard let root = schema.scopeRoot else { return nil }
        if spec.name == root.name {
            // One who sees everything is only held to the rep's rule on scope fields: a change
            // that writes none needs no state read.
            let touchesScope = change.fields.keys.contains { root.scopeFields.contains($0) }
            if writer.seesAll && !(writer.role == "rep" && touchesScope) { return nil }
            let before = try view.record(root.name, change.recordID)
            guard let after = try view.recordAfter(change) else { return nil }
            let beforeValues = before.map { Replica.scopeText($0.values, fields: root.scopeFields) }
            let afterValues = Replica.scopeText(after.values, fields: root.scopeFields)
            if writer.role == "rep", let beforeValues, beforeValues != afterValues {
                let fields = root.scopeFields.filter { beforeValues[$0] != afterValues[$0] }.joined(separator: ", ")
                return .reject(code: "forbidden-field", reason: "A rep may not change \(fields) of an existing \(root.name) record (a manager or admin reassigns it).")
            }
            guard !writer.seesAll, let scope = writer.scope else { return writer.seesAll ? nil : Self.noScope(writer) }
            if let beforeValues, !scope.admits(beforeValues, user: writer.user) {
                return .reject(code: "out-of-scope", reason: "\(root.name) \(change.recordID) is outside \(writer.user)'s scope (\(scope)).")
            }
            if !scope.admits(afterValues, user: writer.user) {
                return .reject(code: "out-of-scope", reason: "The change would move \(root.name) \(change.recordID) out of \(writer.user)'s scope (\(scope)).")
            }
            return nil
        }
        guard let parentField = spec.parentField, spec.field(parentField)?.references == root.name, !writer.seesAll else { return nil }
        var parents: [String] = []
        let before = try view.record(spec.name, change.recordID)
        if before == nil, change.fields[parentField] == nil {
            // An edit of a child this server never received (its creation was refused, or went
            // elsewhere): it would stand here without its account, judged by no one.
            return .reject(code: "out-of-scope", reason: "\(spec.name) \(change.recordID) is not on this server (its creation was refused, or never reached it); the edit is kept with the rest.")
        }
        if let before, (before.values[parentField] ?? .null) == .null,
           let creator = try view.creator(spec.name, change.recordID), creator != writer.user {
            // A child without an account is its first writer's: no one else may write or adopt it.
            return .reject(code: "out-of-scope", reason: "\(spec.name) \(change.recordID) has no \(root.name) and is \(creator)'s; only they can change it.")
        }
        if case .reference(let p)? = before?.values[parentField] { parents.append(p) }
        if case .reference(let p)? = try view.recordAfter(change)?.values[parentField], !parents.contains(p) { parents.append(p) }
        for parent in parents {
            // A scoped writer's child under an account this server does not hold (refused, or
            // never sent here) could be judged by no one: refused, and kept by its writer. (One
            // who sees everything writes an orphan, as before scopes.)
            guard let record = try view.record(root.name, parent) else {
                return .reject(code: "out-of-scope", reason: "\(spec.name) \(change.recordID) belongs to \(root.name) \(parent), which this server does not hold (it was refused, or never reached it).")
            }
            guard let scope = writer.scope else { return Self.noScope(writer) }
            if !scope.admits(Replica.scopeText(record.values, fields: root.scopeFields), user: writer.user) {
                return .reject(code: "out-of-scope", reason: "\(spec.name) \(change.recordID) belongs to \(root.name) \(parent), which is outside \(writer.user)'s scope (\(scope)).")
            }
        }
        return nil
    }

    static func noScope(_ writer: Writer) -> PushScreening {
        .reject(code: "out-of-scope", reason: "\(writer.user)'s scope cannot be read; an admin sets it again with `outpost-admin users edit \(writer.user) --scope …`.")
    }
}
