import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import Testing

/// A child written under a parent that was deleted elsewhere is a conflict for the admin, settled
/// by restoring the parent, deleting the child or moving it; and a conflict that closes shows how.
struct OrphanConflictTests {
    /// a deletes an account while b, offline, adds a contact under it; head office hears both.
    func orphan(_ folder: TempFolder, _ clock: TestClock) throws -> (hq: Replica, a: Replica, b: Replica, account: String, contact: String) {
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock)
        let a = try makeReplica(folder, "a", clock: clock), b = try makeReplica(folder, "b", clock: clock)
        let account = try a.insert("accounts", ["name": .string("Тумэн Трейд ХХК"), "city": .string("Улаанбаатар")])
        try exchange(a, to: b)
        clock.advance()
        try a.delete("accounts", id: account)
        let contact = try b.insert("contacts", ["account_id": .reference(account), "name": .string("Батболд")])
        try exchange(a, to: hq)
        try exchange(b, to: hq)
        return (hq, a, b, account, contact)
    }

    @Test func aChildUnderADeletedParentIsAnOrphanConflictWithBothSides() throws {
        let folder = TempFolder(), clock = TestClock()
        let (hq, a, b, account, contact) = try orphan(folder, clock)
        let conflict = try #require(try hq.openConflicts().first { $0.kind == .orphan })
        #expect(conflict.collection == "contacts" && conflict.recordID == contact && conflict.key == "account_id")
        #expect(conflict.sides.count == 2)
        #expect(conflict.sides.contains { $0.value == .reference(account) && $0.dot.replica == b.replicaID })
        #expect(conflict.sides.contains { $0.value == .bool(false) && $0.dot.replica == a.replicaID })
        #expect(try hq.conflict(id: conflict.id) == conflict, "an orphan is found by its id like any conflict")
    }

    @Test func restoringTheParentBringsItBackWithItsFieldsEverywhere() throws {
        let folder = TempFolder(), clock = TestClock()
        let (hq, a, b, account, contact) = try orphan(folder, clock)
        let conflict = try #require(try hq.openConflicts().first { $0.kind == .orphan })
        let placed = try #require(conflict.sides.first { $0.value != .bool(false) })
        clock.advance()
        let settled = try hq.resolve(conflict: conflict.id, choice: .side(placed.dot), author: Author(user: "aigul", device: Replica.adminDevice))
        #expect(settled.chosen == .reference(account))
        for r in [hq, a, b] {
            if r !== hq { try exchange(hq, to: r) }
            #expect(try r.get("accounts", id: account)?.values["city"] == .string("Улаанбаатар"))
            #expect(try r.get("contacts", id: contact) != nil)
            #expect(try r.openConflicts().isEmpty)
        }
        let closed = try #require(try hq.closedConflicts().first { $0.conflict.id == conflict.id })
        #expect(closed.closedBy == Author(user: "aigul", device: Replica.adminDevice) && closed.closedDot == settled.dot)
    }

    @Test func takingTheDeletionDeletesTheChild() throws {
        let folder = TempFolder(), clock = TestClock()
        let (hq, _, b, account, contact) = try orphan(folder, clock)
        let conflict = try #require(try hq.openConflicts().first { $0.kind == .orphan })
        let deletion = try #require(conflict.sides.first { $0.value == .bool(false) })
        _ = try hq.resolve(conflict: conflict.id, choice: .side(deletion.dot), author: Author(user: "aigul", device: Replica.adminDevice))
        try exchange(hq, to: b)
        for r in [hq, b] {
            #expect(try r.get("contacts", id: contact) == nil)
            #expect(try r.get("accounts", id: account) == nil)
            #expect(try r.openConflicts().isEmpty)
        }
    }

    @Test func movingTheChildNeedsALiveParentAndClosesTheConflict() throws {
        let folder = TempFolder(), clock = TestClock()
        let (hq, _, b, account, contact) = try orphan(folder, clock)
        let conflict = try #require(try hq.openConflicts().first { $0.kind == .orphan })
        let admin = Author(user: "aigul", device: Replica.adminDevice)
        #expect(throws: StoreError.self) { try hq.resolve(conflict: conflict.id, choice: .value(.reference(account)), author: admin) }
        #expect(throws: StoreError.self) { try hq.resolve(conflict: conflict.id, choice: .value(.integer(3)), author: admin) }
        let other = try hq.insert("accounts", ["name": .string("Tumen Trade LLC")])
        _ = try hq.resolve(conflict: conflict.id, choice: .value(.reference(other)), author: admin)
        try exchange(hq, to: b)
        #expect(try b.get("contacts", id: contact)?.values["account_id"] == .reference(other))
        #expect(try b.openConflicts().isEmpty && b.orphans().isEmpty)
    }

    /// merge.md section 8: a rep's edit that has seen both sides closes the conflict; the admin
    /// sees it as closed by that edit, with the value it left.
    @Test func aConflictClosedByALaterEditSaysByWhom() throws {
        let folder = TempFolder(), clock = TestClock()
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock)
        let a = try makeReplica(folder, "a", clock: clock), b = try makeReplica(folder, "b", clock: clock)
        let id = try a.insert("accounts", ["name": .string("Алтын-Ай")])
        try exchange(a, to: b)
        clock.advance()
        try a.update("accounts", id: id, [.set("status", .string("active"))])
        try b.update("accounts", id: id, [.set("status", .string("dormant"))])
        try exchange(a, to: hq)
        try exchange(b, to: hq)
        let conflict = try #require(try hq.openConflicts().first)
        #expect(try hq.closedConflicts().isEmpty)
        try exchange(hq, to: a)
        clock.advance()
        try a.update("accounts", id: id, [.set("status", .string("closed"))])
        try exchange(a, to: hq)
        #expect(try hq.openConflicts().isEmpty)
        let closed = try #require(try hq.closedConflicts().first)
        #expect(closed.conflict == conflict)
        #expect(closed.closedBy == a.author && closed.outcome == .string("closed"))
    }

    /// A new concurrent side makes a bigger conflict; the smaller one did not close.
    @Test func aConflictThatGrowsIsNotClosed() throws {
        let folder = TempFolder(), clock = TestClock()
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock)
        let replicas = try (0..<3).map { try makeReplica(folder, "r\($0)", clock: clock) }
        let id = try replicas[0].insert("accounts", ["name": .string("Алтын-Ай")])
        for r in replicas.dropFirst() { try exchange(replicas[0], to: r) }
        clock.advance()
        for (r, status) in zip(replicas, ["active", "dormant", "closed"]) { try r.update("accounts", id: id, [.set("status", .string(status))]) }
        try exchange(replicas[0], to: hq)
        try exchange(replicas[1], to: hq)
        #expect(try hq.openConflicts().first?.sides.count == 2)
        try exchange(replicas[2], to: hq)
        #expect(try hq.openConflicts().first?.sides.count == 3)
        #expect(try hq.closedConflicts().isEmpty)
    }
}

/// Eviction is not a delete, and what was evicted comes back whole.
struct EvictionTests {
    @Test(arguments: [ReplicaRole.field, .branch])
    func anEvictedRecordComesBackWholeWhenItsHistoryArrivesAgain(role: ReplicaRole) throws {
        let folder = TempFolder(), clock = TestClock()
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock)
        let other = try makeReplica(folder, "other", role: role, clock: clock)
        let account = try hq.insert("accounts", ["name": s("Тумэн ХХК"), "owner": s("bolor")])
        let contact = try hq.insert("contacts", ["account_id": .reference(account), "name": s("Батболд")])
        let gone = try hq.insert("contacts", ["account_id": .reference(account), "name": s("Сарангэрэл")])
        try hq.delete("contacts", id: gone)
        try hq.update("accounts", id: account, [.set("city", s("Улаанбаатар"))])
        try exchange(hq, to: other)
        let removed = try other.evict([("accounts", account)], acknowledged: 0)
        #expect(removed.count == 3, "the account, its contact and its deleted contact")
        #expect(try other.state("contacts", id: gone).presence.isEmpty, "nothing of the deleted contact stays")
        #expect(try other.get("accounts", id: account) == nil && other.get("contacts", id: contact) == nil)
        #expect(try !other.holds("accounts", account))
        let history = try hq.history(of: [("accounts", account)], through: .max)
        #expect(history.count == 5, "the deleted contact's history comes too")
        _ = try other.apply(history, from: "hq")
        #expect(try other.state("accounts", id: account) == hq.state("accounts", id: account))
        #expect(try other.get("contacts", id: contact)?.values["name"] == s("Батболд"))
    }
}
