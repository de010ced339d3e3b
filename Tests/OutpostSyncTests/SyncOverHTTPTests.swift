import Foundation
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostServer
import OutpostStore
import OutpostTestSupport
import OutpostWire
import Testing

@Suite(.serialized)
struct SyncOverHTTPTests {
    /// A server and three replicas edit offline and sync in random order until all are identical.
    @Test(arguments: [UInt64(1), 2, 3])
    func randomOfflineWorkConverges(seed: UInt64) async throws {
        var rng = SplitMix64(seed: seed)
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let reps = [try await server.enroll(folder, user: "aigerim"), try await server.enroll(folder, user: "bolor"), try await server.enroll(folder, user: "dilnoza")]
        let hq = server.storage.replica
        var accounts: [String] = []
        for n in 0..<3 { accounts.append(try hq.insert("accounts", ["name": s("Клиент \(n)"), "city": s("Алматы")])) }
        var deals: [String] = []
        for a in accounts { deals.append(try hq.insert("deals", ["account_id": .reference(a), "title": s("Сделка"), "stage": s("lead")])) }
        for r in reps { try await SyncEngine(replica: r).sync() }

        for _ in 0..<40 {
            let r = reps.randomElement(using: &rng)!
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<3:
                let id = deals.randomElement(using: &rng)!
                guard try r.get("deals", id: id) != nil else { continue }
                try r.update("deals", id: id, [.set("stage", s(["qualified", "proposal", "won", "lost"].randomElement(using: &rng)!)),
                                               .set("probability", .integer(Int64.random(in: 0...100, using: &rng)))])
            case 3..<5:
                let id = accounts.randomElement(using: &rng)!
                guard try r.get("accounts", id: id) != nil else { continue }
                try r.update("accounts", id: id, [.add("tags", ["vip", "hot", "экспорт"].randomElement(using: &rng)!),
                                                  .set("phone", s("+7 \(Int.random(in: 100...999, using: &rng))"))])
            case 5:
                accounts.append(try r.insert("accounts", ["name": s("Новый \(Int.random(in: 0...999, using: &rng))"), "city": s("Hà Nội")]))
            case 6:
                _ = try r.insert("activities", ["account_id": .reference(accounts.randomElement(using: &rng)!), "kind": s("call"),
                                                "at": .timestamp(1_795_000_000_000), "summary": s("Gọi điện")])
            default:
                try await SyncEngine(replica: r).sync()
            }
        }
        for _ in 0..<2 { for r in reps { try await SyncEngine(replica: r).sync() } }

        let reference = try snapshot(hq)
        for r in reps {
            #expect(try snapshot(r) == reference, "seed \(seed): \(r.replicaID) differs from head office")
            for a in accounts { #expect(try r.state("accounts", id: a).canonicalText == hq.state("accounts", id: a).canonicalText) }
            #expect(try r.conflicts() == hq.conflicts())
        }
        // Every change exists exactly once at head office.
        let feed = try hq.feed(after: 0, limit: .max)
        #expect(Set(feed.map(\.dot)).count == feed.count)
        try await server.stop()
    }

    /// Connections cut at random points of push and pull; syncing again resumes and finishes.
    @Test(arguments: [UInt64(11), 12])
    func cutConnectionsResume(seed: UInt64) async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let proxy = try await FaultProxy(upstreamPort: server.port, faultPercent: 100, faults: [.cut], seed: seed)
        let viaProxy = "http://127.0.0.1:\(proxy.port)"
        let a = try await server.enroll(folder, user: "aigerim", url: viaProxy)
        let b = try await server.enroll(folder, user: "bolor", url: viaProxy)
        let hq = server.storage.replica
        for n in 0..<300 { _ = try hq.insert("accounts", ["name": s("Head office client \(n) " + String(repeating: "x", count: 50))]) }
        for n in 0..<700 { _ = try a.insert("activities", ["account_id": .reference("0190a000-0000-7000-8000-000000000001"), "kind": s("visit"),
                                                            "at": .timestamp(1_795_000_000_000 + Int64(n)), "summary": s("Визит \(n)")]) }
        for n in 0..<200 { _ = try b.insert("tasks", ["title": s("Задача \(n)")]) }

        var failures = 0
        for r in [a, b, a, b] {
            var engine = try SyncEngine(replica: r)
            engine.attempts = 1  // every cut fails the sync, so the next one must resume
            engine.initialBackoff = .milliseconds(1)
            var done = false
            var tries = 0
            while !done && tries < 200 {
                tries += 1
                do { try await engine.sync(); done = true } catch { failures += 1 }
            }
            #expect(done, "sync never finished through the cutting proxy")
        }
        proxy.setFaultPercent(0)
        for r in [a, b] { try await SyncEngine(replica: r).sync() }
        #expect(proxy.faultCount > 0 && failures > 0, "the proxy never cut a connection (cuts \(proxy.faultCount))")
        let reference = try snapshot(hq)
        #expect(try snapshot(a) == reference)
        #expect(try snapshot(b) == reference)
        #expect(try hq.query("activities").count == 700)
        #expect(try hq.query("tasks").count == 200)
        // Nothing was applied twice anywhere.
        for r in [hq, a, b] {
            let feed = try r.feed(after: 0, limit: .max)
            #expect(Set(feed.map(\.dot)).count == feed.count)
            #expect(feed.count == 1_200)
        }
        try await proxy.stop()
        try await server.stop()
    }

    /// A local change made while a sync runs is neither lost nor sent twice.
    @Test func localChangesDuringSyncAreKept() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let a = try await server.enroll(folder, user: "aigerim")
        for n in 0..<1_500 { _ = try a.insert("tasks", ["title": s("Before \(n)")]) }
        async let syncing: SyncProgress = SyncEngine(replica: a).sync()
        var during: [String] = []
        for n in 0..<50 { during.append(try a.insert("tasks", ["title": s("During \(n)")])) }
        _ = try await syncing
        try await SyncEngine(replica: a).sync()
        let hq = server.storage.replica
        #expect(try hq.query("tasks").count == 1_550)
        for id in during { #expect(try hq.get("tasks", id: id) != nil) }
        let feed = try hq.feed(after: 0, limit: .max)
        #expect(Set(feed.map(\.dot)).count == feed.count)
        try await server.stop()
    }
}
