//! Property: real SQLite replicas that exchange their feeds in random subsets and orders end
//! with byte-identical record states and identical plain tables.
import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostTestSupport
import Testing

let storeSchedules = ProcessInfo.processInfo.environment["OUTPOST_STORE_SCHEDULES"].flatMap(Int.init) ?? 25

struct StoreConvergenceTests {
    @Test(arguments: (0..<UInt64(storeSchedules)).map { $0 * 7919 + 11 })
    func replicasConverge(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let folder = TempFolder()
        let clock = TestClock()
        let replicas = try ["hq", "rep-a", "rep-b"].map { try makeReplica(folder, $0, role: $0 == "hq" ? .headOffice : .field, clock: clock) }
        var accounts: [String] = []
        var deals: [String] = []
        for n in 0..<2 {
            let acc = try replicas[0].insert("accounts", ["name": s("Account \(n)"), "city": s("Алматы")])
            accounts.append(acc)
            deals.append(try replicas[0].insert("deals", ["title": s("Deal \(n)"), "account_id": .reference(acc), "stage": s("lead")]))
        }
        for r in replicas.dropFirst() { try exchange(replicas[0], to: r) }

        for _ in 0..<40 {
            if rng.chance(60) { clock.advance(UInt64.random(in: 0...2, using: &rng) * 500) }
            let r = replicas.randomElement(using: &rng)!
            if rng.chance(65) {
                let useDeal = rng.chance(50)
                let id = (useDeal ? deals : accounts).randomElement(using: &rng)!
                let collection = useDeal ? "deals" : "accounts"
                guard try r.get(collection, id: id) != nil else { continue }
                if rng.chance(5) { try r.delete(collection, id: id); continue }
                let word = ["Дархан", "Hà Nội", "Tashkent", "vip", "hot"].randomElement(using: &rng)!
                let write: FieldWrite = useDeal
                    ? [.set("stage", s(["qualified", "proposal", "won", "lost"].randomElement(using: &rng)!)),
                       .set("amount", .decimal(try DecimalNumber("\(Int.random(in: 1...99, using: &rng))"))),
                       .set("currency", s(["USD", "MNT"].randomElement(using: &rng)!)),
                       .set("probability", .integer(Int64.random(in: 0...100, using: &rng)))].randomElement(using: &rng)!
                    : [.set("city", s(word)), .set("phone", s("+7 \(Int.random(in: 100...999, using: &rng))")),
                       .add("tags", word), .remove("tags", word), .set("status", s(["active", "dormant"].randomElement(using: &rng)!))]
                        .randomElement(using: &rng)!
                try r.update(collection, id: id, [write])
            } else {
                let to = replicas.randomElement(using: &rng)!
                guard to !== r else { continue }
                var batch = try r.changes(after: 0, limit: .max).map(\.change).filter { _ in rng.chance(60) }
                batch.shuffle(using: &rng)
                try to.apply(batch, from: r.replicaID.rawValue)
            }
        }
        for _ in 0..<2 { for a in replicas { for b in replicas where a !== b { try exchange(a, to: b) } } }

        for (collection, ids) in [("accounts", accounts), ("deals", deals)] {
            for id in ids {
                let states = try replicas.map { try $0.state(collection, id: id).canonicalText }
                #expect(Set(states).count == 1, "seed \(seed): \(collection) \(id) differs")
            }
            let rows = try replicas.map { try $0.query(collection) }
            #expect(rows[0] == rows[1] && rows[1] == rows[2], "seed \(seed): \(collection) plain tables differ")
        }
        let conflicts = try replicas.map { try $0.conflicts() }
        #expect(conflicts[0] == conflicts[1] && conflicts[1] == conflicts[2], "seed \(seed): conflicts differ")
    }
}
