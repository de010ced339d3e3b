import Foundation
import GRDB
import OutpostCore
import OutpostSchema
import OutpostStore
import Testing

struct ReplicaLocalWriteTests {
    @Test func insertUpdateDeleteShowInThePlainTable() throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let id = try replica.insert("accounts", ["name": s("ТОО Алтын-Ай"), "city": s("Алматы"), "tags": .makeSet(["vip"])])
        try replica.update("accounts", id: id, [.set("phone", s("+7 701 555 1234")), .add("tags", "export")])

        let raw = try DatabaseQueue(path: replica.path)
        let row = try raw.read { try Row.fetchOne($0, sql: "SELECT name, city, phone, tags FROM accounts WHERE id = ?", arguments: [id]) }
        #expect(row?["name"] == "ТОО Алтын-Ай")
        #expect(row?["city"] == "Алматы")
        #expect(row?["phone"] == "+7 701 555 1234")
        #expect(row?["tags"] == #"["export","vip"]"#)
        #expect(try replica.get("accounts", id: id)?.values["tags"] == .makeSet(["export", "vip"]))

        try replica.delete("accounts", id: id)
        #expect(try replica.get("accounts", id: id) == nil)
        #expect(try raw.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM accounts") } == 0)
        #expect(try replica.resolved("accounts", id: id)?.exists == false)
    }

    @Test func idsAreUUIDv7AndDotsCountUpAcrossReopen() throws {
        let folder = TempFolder()
        let path: String
        do {
            let replica = try makeReplica(folder, "laptop")
            path = replica.path
            let id = try replica.insert("accounts", ["name": s("A")])
            #expect(FieldValue.isValidUUID(id))
            #expect(Array(id)[14] == "7")
            try replica.update("accounts", id: id, [.set("city", s("B"))])
        }
        let reopened = try Replica.open(at: path)
        let id = try reopened.insert("accounts", ["name": s("C")])
        #expect(try reopened.history("accounts", id: id).map(\.dot.counter) == [3])
        #expect(reopened.replicaID.rawValue == "laptop")
    }

    @Test func badInputNamesTheProblemAndChangesNothing() throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let id = try replica.insert("deals", ["title": s("Fleet"), "account_id": .reference("0190a000-0000-7000-8000-000000000001")])
        let before = try replica.feed(after: 0)

        func refused(_ text: String, _ body: () throws -> Void) {
            #expect { try body() } throws: { error in
                guard let e = error as? StoreError else { return false }
                return e.description.contains(text)
            }
        }
        refused("no collection 'dealz'") { try replica.insert("dealz", ["title": s("x")]) }
        refused("has no field 'titel'") { try replica.update("deals", id: id, [.set("titel", s("x"))]) }
        refused("of type integer, not string") { try replica.update("deals", id: id, [.set("probability", s("high"))]) }
        refused("cannot be 'maybe'") { try replica.update("deals", id: id, [.set("stage", s("maybe"))]) }
        refused("deals.title is required") { try replica.insert("deals", ["account_id": .reference("0190a000-0000-7000-8000-000000000001")]) }
        refused("cannot be emptied") { try replica.update("deals", id: id, [.set("title", .null)]) }
        refused("no deals record with id") { try replica.update("deals", id: "0190a000-0000-7000-8000-00000000dead", [.set("title", s("x"))]) }
        refused("not a set") { try replica.update("deals", id: id, [.add("title", "x")]) }
        refused("reference data") { try replica.insert("products", ["name": s("Drill")]) }
        #expect(try replica.feed(after: 0) == before)
    }

    @Test func otherConnectionsCannotWriteThePlainTables() throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let id = try replica.insert("accounts", ["name": s("Acme")])
        let raw = try DatabaseQueue(path: replica.path)
        #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "UPDATE accounts SET name = 'Hacked' WHERE id = ?", arguments: [id]) }
        }
        #expect(try replica.get("accounts", id: id)?.values["name"] == s("Acme"))
    }

    @Test func dueTasksWorkOffline() throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let tasks = try Schema.crm.collection("tasks")
        let overdue = try replica.insert("tasks", ["title": s("Call Bolor"), "due_at": try tasks.parse("2026-11-20 10:00", for: "due_at")])
        let today = try replica.insert("tasks", ["title": s("Send proposal"), "due_at": try tasks.parse("2026-11-24 09:00", for: "due_at"), "status": s("open")])
        _ = try replica.insert("tasks", ["title": s("Done already"), "due_at": try tasks.parse("2026-11-19 10:00", for: "due_at"), "status": s("done")])
        _ = try replica.insert("tasks", ["title": s("Next week"), "due_at": try tasks.parse("2026-12-01 10:00", for: "due_at")])
        let due = try replica.dueTasks(atOrBefore: CivilTime.parseMillis("2026-11-24T12:00Z")!)
        #expect(due.map(\.id) == [overdue, today])
    }

    @Test func queriesFilterAndOrder() throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let a = try replica.insert("accounts", ["name": s("B-corp"), "city": s("Almaty"), "tags": .makeSet(["vip"])])
        let b = try replica.insert("accounts", ["name": s("A-corp"), "city": s("Almaty")])
        _ = try replica.insert("accounts", ["name": s("C-corp"), "city": s("Darkhan"), "tags": .makeSet(["vip"])])
        #expect(try replica.query("accounts", where: [("city", s("Almaty"))], orderBy: "name").map(\.id) == [b, a])
        #expect(try replica.query("accounts", where: [("city", s("Almaty")), ("tags", .set(["vip"]))]).map(\.id) == [a])
        #expect(try replica.query("accounts", orderBy: "name", descending: true, limit: 1).first?.values["name"] == s("C-corp"))
    }

    @Test func historyListsEachWriteFieldByField() throws {
        let folder = TempFolder()
        let clock = TestClock()
        let replica = try makeReplica(folder, "laptop", clock: clock)
        let id = try replica.insert("deals", ["title": s("Fleet"), "account_id": .reference("0190a000-0000-7000-8000-000000000001"),
                                              "amount": .decimal(try DecimalNumber("100")), "currency": s("USD")])
        clock.advance()
        try replica.update("deals", id: id, [.set("amount", .decimal(try DecimalNumber("120")))])
        clock.advance()
        try replica.delete("deals", id: id)
        let history = try replica.history("deals", id: id)
        #expect(history.count == 3)
        #expect(history[0].fields["title"] == s("Fleet"))
        #expect(history[1].fields == ["amount": .decimal(try DecimalNumber("120")), "currency": s("USD")])
        #expect(history[1].author == Author(user: "user-laptop", device: "laptop-laptop"))
        #expect(history[1].hlc.wallMillis == 1_764_000_001_000)
        #expect(history[2].isDelete)
        #expect(history.allSatisfy { $0.origin == "local" && $0.dot.replica.rawValue == "laptop" })
    }

    @Test func observersSeeCommittedChanges() async throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let (stream, continuation) = AsyncStream.makeStream(of: [FeedEntry].self)
        let observation = replica.observeFeed(after: 0) { continuation.yield($0) }
        let id = try replica.insert("accounts", ["name": s("Observed")])
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.map(\.recordID) == [id])
        observation.cancel()
    }
}
