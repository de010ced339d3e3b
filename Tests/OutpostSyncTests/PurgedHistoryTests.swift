import Foundation
import NIOHTTP1
import OutpostBranch
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import Testing

/// What a purge removed must still reach every replica that lacks it (`protocol/sync.md`,
/// "Retention"): a branch enrolled after the purge, the reps beneath it, a copied folder's
/// heal, a record's older history folded into its base.
@Suite(.serialized)
struct PurgedHistoryTests {
    /// A branch enrolled after head office purged cannot start from a copy (it relays its feed):
    /// it takes the purged records' bases first, so a late edit of a purged deleted record is
    /// the same conflict at the branch as at head office, and a rep enrolled at the branch
    /// starts from the branch's copy with the tombstones in it.
    @Test func aBranchEnrolledAfterThePurgeHoldsWhatWasPurged() async throws {
        let folder = TempFolder()
        let hq = try await TestServer.start(folder)
        let aigerim = try await hq.enroll(folder, user: "aigerim")
        let bolat = try await hq.enroll(folder, user: "bolat")
        let office = hq.storage.replica
        let doomed = try office.insert("accounts", ["name": s("Тумэн ХХК"), "phone": s("+976 11 000"), "city": s("Улаанбаатар")])
        let busy = try office.insert("accounts", ["name": s("Qazaq Foods")])
        for city in ["Алматы", "Астана", "Шымкент"] { try office.update("accounts", id: busy, [.set("city", s(city))]) }
        for r in [aigerim, bolat] { try await SyncEngine(replica: r).sync() }
        try bolat.update("accounts", id: doomed, [.set("phone", s("+976 99 999"))])
        try aigerim.delete("accounts", id: doomed)
        _ = try aigerim.insert("tasks", ["title": s("Позвонить в Qazaq Foods")])
        for _ in 0..<2 { try await SyncEngine(replica: aigerim).sync() }
        try await silence(bolat, at: folder)
        let figures = try await hq.storage.retention(purge: true, expireAfterDays: nil)
        #expect(figures.purgedTombstones == 1 && figures.purgedRecords == 1, "\(figures)")
        #expect(try office.history("accounts", id: busy).isEmpty, "the account's four changes were folded into its base")

        try hq.storage.store.addUser(UserInfo(name: "almaty-branch", role: "branch", scope: "all"))
        try hq.storage.store.addUser(UserInfo(name: "dana", role: "rep", scope: "all"))
        let code = try hq.storage.store.createEnrollmentCode(user: "almaty-branch")
        let branch = try await TestServer.start(folder, directory: "almaty", upstream: (hq.url, code))
        let almaty = branch.storage.replica
        // A branch that has not taken what was purged (an older build) may not walk past it.
        let refused = try await rawPull(hq.url, as: almaty, cursor: "0")
        #expect(refused.status == .conflict && refused.body.contains("replica-expired"), "\(refused)")
        try await branch.link!.runRound()
        #expect(try almaty.state("accounts", id: doomed).canonicalText == office.state("accounts", id: doomed).canonicalText, "the tombstone came")
        #expect(try almaty.get("accounts", id: busy)?.values == office.get("accounts", id: busy)?.values)

        // Bolat comes back at head office: his edit of the deleted account is a conflict there,
        // and the branch, which never saw the account's history, merges it the same way.
        let back = try await SyncEngine(replica: bolat).sync()
        #expect(back.fromSnapshot)
        try await branch.link!.runRound()
        #expect(try office.get("accounts", id: doomed)?.values["name"] == s("Тумэн ХХК"))
        #expect(try almaty.state("accounts", id: doomed).canonicalText == office.state("accounts", id: doomed).canonicalText)
        #expect(try almaty.openConflicts().contains { $0.recordID == doomed && $0.kind == .deleteVersusUpdate })

        // A rep enrolled at the branch: its feed lacks what the branch took without one, so
        // the rep starts from the branch's copy.
        let dana = try await branch.enroll(folder, user: "dana")
        let first = try await SyncEngine(replica: dana).sync()
        #expect(first.fromSnapshot, "\(first)")
        for r in [dana, almaty] {
            #expect(try snapshot(r) == snapshot(office))
            #expect(try r.state("accounts", id: doomed).canonicalText == office.state("accounts", id: doomed).canonicalText)
        }
        #expect(try dana.search("Qazaq").contains { $0.record.id == busy }, "a record with no feed entry is found by search")

        // Bolat, who started again from head office's copy, fails over to the branch: his `seen`
        // counts the writes he holds only through bases, so he is not sent back to a copy.
        _ = try bolat.insert("tasks", ["title": s("Written at the branch")])
        let failover = try await SyncEngine(replica: bolat, serverURL: branch.url).sync()
        #expect(!failover.fromSnapshot && failover.pushed == 1, "\(failover)")
        try await branch.stop()
        try await hq.stop()
    }

    /// A copied folder heals after head office purged a write both copies hold: the write is
    /// still recognized by its digest, so it keeps its name instead of coming back under a new
    /// one (which would bring the deleted record back).
    @Test func aCopysHealRecognizesAPurgedWrite() async throws {
        let folder = TempFolder()
        let hq = try await TestServer.start(folder)
        let office = hq.storage.replica
        let original = try await hq.enroll(folder, user: "aigerim")
        let account = try office.insert("accounts", ["name": s("Алтын-Ай")])
        try await SyncEngine(replica: original).sync()
        try original.update("accounts", id: account, [.set("phone", s("written-before-the-copy"))])
        let copy = try copyFolder(of: original, to: folder.path("second-laptop"))
        try await SyncEngine(replica: original).sync()
        try office.delete("accounts", id: account)
        _ = try office.insert("tasks", ["title": s("after the delete")])
        for _ in 0..<2 { try await SyncEngine(replica: original).sync() }
        let figures = try await hq.storage.retention(purge: true, expireAfterDays: nil)
        #expect(figures.purgedTombstones == 1, "\(figures)")

        let task = try copy.insert("tasks", ["title": s("written on the copy")])
        let healed = try await SyncEngine(replica: copy).sync()
        #expect(healed.fork?.reissued == 1, "only the copy's own write takes a new name: \(String(describing: healed.fork))")
        for r in [copy, original] { try await SyncEngine(replica: r).sync() }
        #expect(try office.get("accounts", id: account) == nil && office.openConflicts().isEmpty, "the deleted account stays deleted")
        #expect(try office.get("tasks", id: task) != nil)
        for r in [original, copy] {
            #expect(try snapshot(r) == snapshot(office))
            #expect(try r.pendingChangeCount() == 0)
        }
        try await hq.stop()
    }

    /// A task with no account is its creator's (only they receive it and may change it); the
    /// creator was read from its first feed entry, which the purge takes. It is kept: the rep's
    /// new laptop, starting from a copy, still receives the task.
    @Test func aPurgedRecordKeepsItsCreator() async throws {
        let folder = TempFolder()
        let hq = try await TestServer.start(folder)
        try hq.storage.store.addUser(UserInfo(name: "dana", role: "rep", scope: "owner = me"))
        let dana = try await hq.enroll(folder, user: "dana")
        let task = try dana.insert("tasks", ["title": s("Позвонить"), "account_id": .null])
        try dana.update("tasks", id: task, [.set("title", s("Позвонить в Qazaq Foods"))])
        try await SyncEngine(replica: dana).sync()
        _ = try hq.storage.replica.insert("accounts", ["name": s("Qazaq Foods")])
        for _ in 0..<2 { try await SyncEngine(replica: dana).sync() }
        let figures = try await hq.storage.retention(purge: true, expireAfterDays: nil)
        #expect(figures.purgedRecords == 1, "\(figures)")
        #expect(try hq.storage.replica.history("tasks", id: task).isEmpty)

        let code = try hq.storage.store.createEnrollmentCode(user: "dana")
        let (second, _) = try await Enrollment.enrollReplica(at: folder.path("dana-second/replica.sqlite"), serverURL: hq.url, code: code,
                                                             device: "dana-second-laptop", replicaID: "r-dana-second")
        let first = try await SyncEngine(replica: second).sync()
        #expect(first.fromSnapshot)
        #expect(try second.get("tasks", id: task)?.values["title"] == s("Позвонить в Qazaq Foods"), "her task reached her new laptop")
        try await hq.stop()
    }

    /// An account entering a rep's scope arrives with its children; a child whose older
    /// history was purged arrives as its base and the changes after, not as those changes alone.
    @Test func anAccountEnteringAScopeBringsItsPurgedChildrenWhole() async throws {
        let folder = TempFolder()
        let hq = try await TestServer.start(folder)
        let office = hq.storage.replica
        try hq.storage.store.addUser(UserInfo(name: "dana", role: "rep", scope: "owner = me"))
        let dana = try await hq.enroll(folder, user: "dana")
        let account = try office.insert("accounts", ["name": s("Алтын-Ай"), "owner": s("bolat")])
        let contact = try office.insert("contacts", ["account_id": .reference(account), "name": s("Айгуль")])
        try office.update("contacts", id: contact, [.set("phone", s("+7 701 000 00 00"))])
        try office.update("contacts", id: contact, [.set("position", s("бухгалтер"))])
        _ = try office.insert("accounts", ["name": s("Qazaq Foods"), "owner": s("dana")])
        for _ in 0..<2 { try await SyncEngine(replica: dana).sync() }
        #expect(try dana.get("contacts", id: contact) == nil)
        let figures = try await hq.storage.retention(purge: true, expireAfterDays: nil)
        #expect(figures.purgedRecords == 1, "\(figures)")

        try office.update("accounts", id: account, [.set("owner", s("dana"))])
        try await SyncEngine(replica: dana).sync()
        #expect(try dana.get("contacts", id: contact)?.values == office.get("contacts", id: contact)?.values, "the contact came whole")
        #expect(try dana.state("contacts", id: contact).canonicalText == office.state("contacts", id: contact).canonicalText)
        try await hq.stop()
    }

    /// A laptop coming from another server whose `seen` lacks a purged write cannot find it in
    /// the feed: it starts before the purge (and again from the server's copy).
    @Test func aPositionFromSeenCountsPurgedWrites() async throws {
        let folder = TempFolder()
        let hq = try await TestServer.start(folder)
        let office = hq.storage.replica
        let account = try office.insert("accounts", ["name": s("Алтын-Ай")])
        try office.update("accounts", id: account, [.set("city", s("Бишкек"))])
        _ = try office.insert("tasks", ["title": s("last")])
        #expect(try office.purgeHistory(through: office.feedEnd()).records == 1)
        let me = office.replicaID.rawValue
        #expect(try office.firstUnseenFeedPosition(seen: [me: 1]) == 0, "its second write is purged and unseen")
        #expect(try office.firstUnseenFeedPosition(seen: [me: 2]) == office.feedEnd() - 1, "it lacks only the last")
        try await hq.stop()
    }
}
