import Foundation
import NIOHTTP1
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import Testing

/// Retention by low-water mark (`protocol/sync.md`, "Retention"): a deleted record's history is
/// purged only once every active device has seen the delete; a device silent past the expiry
/// no longer holds the purge back, and when it returns it sends what it holds, starts again from
/// the server's copy, and loses nothing: its edit of the record deleted meanwhile comes back as a
/// conflict for the admin.
@Suite(.serialized)
struct RetentionTests {
    @Test func purgeWaitsForActiveDevicesAndAnExpiredOneLosesNothing() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let aigerim = try await server.enroll(folder, user: "aigerim")
        let bolat = try await server.enroll(folder, user: "bolat")
        let hq = server.storage.replica
        let doomed = try hq.insert("accounts", ["name": s("Тумэн ХХК"), "phone": s("+976 11 000")])
        let kept = try hq.insert("accounts", ["name": s("Qazaq Foods")])
        for r in [aigerim, bolat] { try await SyncEngine(replica: r).sync() }

        // Bolat goes away; offline he edits the account and writes a new one.
        try bolat.update("accounts", id: doomed, [.set("phone", s("+976 99 999"))])
        let written = try bolat.insert("accounts", ["name": s("Written while away")])
        // Aigerim deletes it, and syncs again later (her hello stands past the delete).
        try aigerim.delete("accounts", id: doomed)
        _ = try aigerim.insert("tasks", ["title": s("Позвонить в Qazaq Foods")])
        for _ in 0..<2 { try await SyncEngine(replica: aigerim).sync() }

        // Bolat, silent but not yet expired, holds the purge back.
        var figures = try await server.storage.retention(purge: true, expireAfterDays: nil)
        #expect(figures.purgedTombstones == 0 && figures.keptTombstones == 1)
        #expect(figures.holdingBack.map(\.user) == ["bolat"], "\(figures.holdingBack)")
        #expect(try hq.history("accounts", id: doomed).count == 2)

        // A hundred days of silence (his last sync moved back), with the default 90-day expiry.
        try await silence(bolat, at: folder)
        figures = try await server.storage.retention(purge: true, expireAfterDays: nil)
        #expect(figures.expired.map(\.user) == ["bolat"] && figures.holdingBack.map(\.user) == ["aigerim"])
        #expect(figures.purgedTombstones == 1 && figures.purgedFeedEntries == 2, "\(figures)")
        #expect(try hq.history("accounts", id: doomed).isEmpty && hq.get("accounts", id: kept) != nil)

        // An old client walking the feed from where it stood would miss the delete: refused.
        let position = try bolat.setting(ClientSettings.cursor)
        let refused = try await rawPull(server.url, as: bolat, cursor: position ?? "0")
        #expect(refused.status == .conflict && refused.body.contains("replica-expired"), "\(refused)")
        // Bolat comes back: his work goes up, then his laptop starts again from the server's copy.
        let back = try await SyncEngine(replica: bolat).sync()
        #expect(back.pushed == 2 && back.fromSnapshot, "\(back)")
        #expect(try bolat.setting(ClientSettings.cursor) != position)
        #expect(try hq.get("accounts", id: written) != nil && bolat.get("accounts", id: written) != nil, "his new account is everywhere")
        // His edit of the deleted account is not lost: it brings the account back (update wins)
        // with a delete-versus-update conflict for an admin, on every replica alike.
        #expect(try hq.get("accounts", id: doomed)?.values["phone"] == s("+976 99 999"))
        let conflict = try hq.openConflicts().first { $0.recordID == doomed }
        #expect(conflict?.kind == .deleteVersusUpdate, "\(String(describing: conflict))")
        try await SyncEngine(replica: aigerim).sync()
        for r in [aigerim, bolat] {
            let (mine, theirs) = (try snapshot(r), try snapshot(hq))
            #expect(mine == theirs, "\(r.replicaID) differs from head office: \(mine.keys.filter { mine[$0] != theirs[$0] }.map { "\($0): \(mine[$0]!) vs \(theirs[$0]!)" })")
            #expect(try r.openConflicts().contains { $0.recordID == doomed && $0.kind == .deleteVersusUpdate })
        }
        figures = try await server.storage.retention(purge: false, expireAfterDays: nil)
        #expect(figures.expired.isEmpty, "he is active again")

        // A rep whose scope the account enters later takes it whole: its state at the purge and
        // the changes after (its older history is no longer in the feed).
        try server.storage.store.addUser(UserInfo(name: "dana", role: "rep", scope: "owner = me"))
        let dana = try await server.enroll(folder, user: "dana")
        try await SyncEngine(replica: dana).sync()
        #expect(try dana.get("accounts", id: doomed) == nil)
        try hq.update("accounts", id: doomed, [.set("owner", s("dana"))])
        try await SyncEngine(replica: dana).sync()
        #expect(try dana.get("accounts", id: doomed)?.values == hq.get("accounts", id: doomed)?.values, "the account entered whole")
        #expect(try dana.state("accounts", id: doomed).canonicalText == hq.state("accounts", id: doomed).canonicalText)
        // And his next sync is an ordinary one.
        let next = try await SyncEngine(replica: bolat).sync()
        #expect(!next.fromSnapshot)
        try await server.stop()
    }

    /// Feed positions are rowids: a purge that removed the feed's last entry would let the next
    /// write take a position pullers have passed (and never send it). The last entry stays.
    @Test func thePurgeNeverFreesTheLastFeedPosition() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let hq = server.storage.replica
        let id = try hq.insert("accounts", ["name": s("Тумэн ХХК")])
        try hq.delete("accounts", id: id)
        let end = try hq.feedEnd()
        let report = try hq.purgeHistory(through: end)
        #expect(report.tombstones == 0 && report.kept == 1)
        _ = try hq.insert("accounts", ["name": s("Qazaq Foods")])
        #expect(Int64(try hq.feedCount(after: 0)) == end + 1)
        try await server.stop()
    }

    /// A record whose history was purged is rebuilt (by a repair, a re-stamp, a heal) from its
    /// state at the purge, not from the now empty feed: its tombstone survives.
    @Test func aRebuildKeepsWhatThePurgeKept() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let hq = server.storage.replica
        let id = try hq.insert("accounts", ["name": s("Тумэн ХХК"), "phone": s("+976 11 000")])
        try hq.delete("accounts", id: id)
        _ = try hq.insert("accounts", ["name": s("Qazaq Foods")])
        let before = try hq.state("accounts", id: id).canonicalText
        #expect(try hq.purgeHistory(through: hq.feedEnd()).tombstones == 1)
        try hq.rebuild([("accounts", id)])
        #expect(try hq.history("accounts", id: id).isEmpty)
        #expect(try hq.state("accounts", id: id).canonicalText == before)
        #expect(try hq.get("accounts", id: id) == nil)
        try await server.stop()
    }
}
