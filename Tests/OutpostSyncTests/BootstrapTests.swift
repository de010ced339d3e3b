import Foundation
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostTestSupport
import OutpostWire
import Testing

/// A new laptop facing a large head office starts from a snapshot of its records instead of
/// replaying the feed; it must end up exactly where the replay would have.
struct BootstrapTests {
    func sync(_ replica: Replica, _ url: String, threshold: Int = 0) async throws -> SyncProgress {
        var engine = try SyncEngine(replica: replica, serverURL: url)
        engine.bootstrapThreshold = threshold
        return try await engine.sync()
    }

    @Test func aBootstrappedReplicaIsTheReplayedOne() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        // History from colleagues, and two reps who disagree on a deal's stage (a conflict).
        let colleagues = try CRMWorkload(count: 600, replica: "colleagues")
        for start in stride(from: 0, to: colleagues.changes.count, by: 200) {
            _ = try server.storage.replica.apply(Array(colleagues.changes[start..<min(start + 200, colleagues.changes.count)]), from: "colleagues")
        }
        let a = try await server.enroll(folder, user: "aigerim"), b = try await server.enroll(folder, user: "bolor")
        let account = try a.insert("accounts", ["name": s("Тумэн ХХК"), "city": s("Улаанбаатар")])
        let deal = try a.insert("deals", ["account_id": .reference(account), "title": s("Fleet"), "stage": s("lead")])
        _ = try await sync(a, server.url)
        _ = try await sync(b, server.url)
        try a.update("deals", id: deal, [.set("stage", s("won"))])
        try b.update("deals", id: deal, [.set("stage", s("lost"))])
        try b.update("accounts", id: account, [.set("city", s("Дархан"))])
        try b.delete("deals", id: try b.insert("deals", ["account_id": .reference(account), "title": s("Gone")]))
        _ = try await sync(a, server.url)
        _ = try await sync(b, server.url)
        _ = try await sync(a, server.url)
        #expect(try !server.storage.replica.openConflicts().isEmpty, "the workload holds a conflict")

        let fresh = try await server.enroll(folder, user: "dana"), replayed = try await server.enroll(folder, user: "timur")
        let took = try await sync(fresh, server.url, threshold: 1)
        let replay = try await sync(replayed, server.url)
        #expect(took.fromSnapshot && !replay.fromSnapshot)
        #expect(try snapshot(fresh) == snapshot(replayed), "same records, same values")
        #expect(try fresh.openConflicts().map(\.id).sorted() == replayed.openConflicts().map(\.id).sorted(), "same conflicts")
        for (collection, id) in [("deals", deal), ("accounts", account)] + colleagues.states.keys.prefix(20).map(Self.split) {
            // The same answers; feed positions are each replica's own.
            #expect(try Self.answers(fresh.history(collection, id: id)) == Self.answers(replayed.history(collection, id: id)),
                    "same history of \(collection) \(id)")
        }

        // Both go on from there: a later write reaches both, and the bootstrapped one's own writes go up.
        try a.update("accounts", id: account, [.set("city", s("Эрдэнэт"))])
        _ = try await sync(a, server.url)
        let next = try await sync(fresh, server.url, threshold: 1)
        _ = try await sync(replayed, server.url)
        #expect(!next.fromSnapshot && next.pulled == 1, "only what came after the snapshot")
        #expect(try snapshot(fresh) == snapshot(replayed))
        let hers = try fresh.insert("accounts", ["name": s("Алтын-Ай")])
        _ = try await sync(fresh, server.url)
        #expect(try server.storage.replica.get("accounts", id: hers) != nil)
        try await server.stop()
    }

    static func answers(_ history: [HistoryEntry]) -> [String] {
        history.map { "\($0.dot) \($0.hlc) \($0.author.user)@\($0.author.device) via \($0.origin) \($0.isDelete) \($0.fields.sorted { $0.key < $1.key })" }
    }

    static func split(_ key: String) -> (String, String) {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        return (parts[0], parts.count > 1 ? parts[1] : "")
    }

    @Test func aScopedRepPullsItsScopeInstead() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        try server.storage.store.addUser(UserInfo(name: "aigerim", role: "rep", scope: "owner = me"))
        let hers = try server.storage.replica.insert("accounts", ["name": s("Алтын-Ай"), "owner": s("aigerim")])
        _ = try server.storage.replica.insert("accounts", ["name": s("Тумэн ХХК"), "owner": s("bolor")])
        let rep = try await server.enroll(folder, user: "aigerim")
        let summary = try await sync(rep, server.url, threshold: 1)
        #expect(!summary.fromSnapshot)
        #expect(try rep.query("accounts").map(\.id) == [hers])
        try await server.stop()
    }

    @Test func aReplicaHoldingAnythingNeverTakesASnapshot() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        _ = try server.storage.replica.insert("accounts", ["name": s("Алтын-Ай")])
        let rep = try await server.enroll(folder, user: "aigerim")
        let mine = try rep.insert("accounts", ["name": s("Тумэн ХХК")])
        let summary = try await sync(rep, server.url, threshold: 1)
        #expect(!summary.fromSnapshot, "a write of its own would be lost under a snapshot")
        #expect(try rep.get("accounts", id: mine) != nil && rep.query("accounts").count == 2)
        #expect(throws: StoreError.self) { _ = try rep.adoptSnapshot(at: folder.path("none.sqlite")) }
        try await server.stop()
    }
}

/// What a snapshot must not carry out of the server.
struct SnapshotSecretsTests {
    @Test func aServersOwnSettingsDoNotTravelInASnapshot() throws {
        let folder = TempFolder()
        let storage = try SQLiteServerStorage(directory: folder.path("branch"))
        // A branch keeps its token at its parent among its settings.
        let secret = "opd_" + String(repeating: "7f3a", count: 16)
        try storage.replica.setSettings(["server.token": secret, "server.url": "https://hq.example"])
        try storage.store.addUser(UserInfo(name: "aigerim", role: "rep", scope: "all"))
        for n in 0..<50 { _ = try storage.replica.insert("accounts", ["name": s("Клиент \(n)")]) }
        _ = try storage.store.writeSnapshot(to: folder.path("laptop.sqlite"), user: "aigerim")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder.path("laptop.sqlite")))
        // Deleted, and overwritten where it lay (Debian's SQLite does that by default; the
        // snapshot asks for it on every platform).
        #expect(bytes.range(of: Data(secret.utf8)) == nil, "the branch's token is in the laptop's file")
        #expect(bytes.range(of: Data("Клиент 42".utf8)) != nil)
    }
}
