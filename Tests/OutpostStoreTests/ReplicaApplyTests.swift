import Foundation
import GRDB
import OutpostCore
import OutpostSchema
import OutpostStore
import Testing

struct ReplicaApplyTests {
    let account = "0190a000-0000-7000-8000-00000000acc1"

    @Test func exchangedChangesGiveIdenticalReplicasAndAreIdempotent() throws {
        let folder = TempFolder()
        let clock = TestClock()
        let a = try makeReplica(folder, "a", clock: clock), b = try makeReplica(folder, "b", clock: clock)
        let acc = try a.insert("accounts", ["name": s("Acme"), "tags": .makeSet(["vip"])])
        try exchange(a, to: b)
        clock.advance()
        try a.update("accounts", id: acc, [.set("city", s("Darkhan"))])
        try b.update("accounts", id: acc, [.set("phone", s("+976 9911 2233")), .add("tags", "export")])
        let first = try exchange(a, to: b)
        #expect(first.applied == 1 && first.alreadyApplied == 1)
        try exchange(b, to: a)
        #expect(try a.state("accounts", id: acc).canonicalText == b.state("accounts", id: acc).canonicalText)
        #expect(try a.get("accounts", id: acc) == b.get("accounts", id: acc))
        #expect(try a.get("accounts", id: acc)?.values["tags"] == .makeSet(["vip", "export"]))

        let again = try exchange(b, to: a)
        #expect(again.applied == 0)
        #expect(again.alreadyApplied == 3)
    }

    @Test func orderOfArrivalDoesNotMatter() throws {
        let folder = TempFolder()
        let clock = TestClock()
        let a = try makeReplica(folder, "a", clock: clock)
        let id = try a.insert("deals", ["title": s("T"), "account_id": .reference(account)])
        for n in 1...5 {
            clock.advance()
            try a.update("deals", id: id, [.set("probability", .integer(Int64(n * 10)))])
        }
        let changes = try a.changes(after: 0, limit: 100).map(\.change)
        let forward = try makeReplica(folder, "f"), backward = try makeReplica(folder, "r")
        try forward.apply(changes, from: "a")
        for c in changes.reversed() { try backward.apply([c], from: "a") }
        #expect(try forward.state("deals", id: id) == backward.state("deals", id: id))
        #expect(try backward.get("deals", id: id)?.values["probability"] == .integer(50))
    }

    @Test func concurrentStagesBecomeAConflictAndKeepBothValues() throws {
        let folder = TempFolder()
        let clock = TestClock()
        let a = try makeReplica(folder, "a", clock: clock), b = try makeReplica(folder, "b", clock: clock)
        let id = try a.insert("deals", ["title": s("Fleet"), "account_id": .reference(account), "stage": s("proposal")])
        try exchange(a, to: b)
        clock.advance()
        try a.update("deals", id: id, [.set("stage", s("won"))])
        clock.advance()
        try b.update("deals", id: id, [.set("stage", s("lost"))])
        try exchange(a, to: b)
        try exchange(b, to: a)
        for r in [a, b] {
            let conflicts = try r.conflicts()
            #expect(conflicts.count == 1)
            guard case .object(let c) = conflicts[0], case .array(let sides)? = c["sides"] else { Issue.record("no sides"); continue }
            #expect(sides.count == 2)
            #expect(c["key"] == .string("stage"))
            #expect(try r.get("deals", id: id)?.values["stage"] == s("lost"))
        }
    }

    @Test func deleteAgainstOfflineEditKeepsTheRecordAndReportsIt() throws {
        let folder = TempFolder()
        let clock = TestClock()
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock), rep = try makeReplica(folder, "rep", clock: clock)
        let id = try rep.insert("accounts", ["name": s("Acme")])
        try exchange(rep, to: hq)
        clock.advance()
        try hq.delete("accounts", id: id)
        try rep.update("accounts", id: id, [.set("phone", s("555"))])
        try exchange(hq, to: rep)
        try exchange(rep, to: hq)
        #expect(try hq.get("accounts", id: id)?.values["phone"] == s("555"))
        #expect(try hq.conflicts().count == 1)
    }

    @Test func childOfADeletedParentIsAnOrphanNotLost() throws {
        let folder = TempFolder()
        let clock = TestClock()
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock), rep = try makeReplica(folder, "rep", clock: clock)
        let acc = try hq.insert("products", ["name": s("Drill")])
        let price = try hq.insert("price_list", ["product_id": .reference(acc), "price": .decimal(try DecimalNumber("9.99")), "currency": s("USD")])
        try exchange(hq, to: rep)
        #expect(try rep.orphans().isEmpty)
        try hq.delete("products", id: acc)
        try exchange(hq, to: rep)
        #expect(try rep.orphans() == [Orphan(collection: "price_list", recordID: price, parentCollection: "products", parentID: acc)])
        #expect(try rep.get("price_list", id: price) != nil)

        // A contact that arrives before its account is an orphan until the account arrives.
        let account = try hq.insert("accounts", ["name": s("Acme")])
        let contact = try hq.insert("contacts", ["account_id": .reference(account), "name": s("Bolor")])
        let all = try hq.changes(after: 0, limit: 100).map(\.change)
        let late = try makeReplica(folder, "late")
        try late.apply(all.filter { $0.collection == "contacts" }, from: "hq")
        #expect(try late.orphans().map(\.recordID) == [contact])
        try late.apply(all, from: "hq")
        #expect(try late.orphans().map(\.recordID) == [price])
    }

    @Test func wrongTypesAndFutureClocksAreRejectedAndKept() throws {
        let folder = TempFolder()
        let laptop = try makeReplica(folder, "laptop")
        let receiver = try makeReplica(folder, "receiver")
        let rules = CollectionRules(collection: "deals", fields: ["probability": .lww])
        let stamp = WriteStamp(dot: Dot(try ReplicaID("forger"), 1), hlc: HLCTimestamp(wallMillis: 1_764_000_000_000), author: Author(user: "x", device: "y"))
        let wrongType = try RecordState().write([.set("probability", s("very high"))], stamp: stamp, rules: rules, recordID: account)
        let future = WriteStamp(dot: Dot(try ReplicaID("forger"), 2), hlc: HLCTimestamp(wallMillis: 1_764_000_000_000 + 86_400_000), author: Author(user: "x", device: "y"))
        let tooLate = try RecordState().write([.set("title", s("From tomorrow"))], stamp: future, rules: rules, recordID: account)
        _ = laptop
        let report = try receiver.apply([wrongType, tooLate], from: "forger")
        #expect(report.applied == 0)
        #expect(report.rejected.map(\.code) == ["wrong-type", "clock-skew"])
        #expect(try receiver.rejections().map(\.dot.counter) == [1, 2])
        #expect(try receiver.get("deals", id: account) == nil)
        #expect(try receiver.feed(after: 0).isEmpty)
    }

    @Test func unknownCollectionsAndFieldsAreKeptRelayedAndLaterShown() throws {
        let folder = TempFolder()
        let newer = try Schema(json: Data(Schema.crmJSON.replacingOccurrences(
            of: #"{"name": "status", "type": "string", "values": ["active", "dormant", "closed"], "rule": "manual", "default": "active"}"#,
            with: #"{"name": "status", "type": "string", "values": ["active", "dormant", "closed"], "rule": "manual", "default": "active"}, {"name": "loyalty_tier", "type": "string"}"#).utf8))
        #expect(try newer.collection("accounts").field("loyalty_tier") != nil)
        let hq = try makeReplica(folder, "hq", role: .headOffice, schema: newer)
        let old = try makeReplica(folder, "old"), relayTarget = try makeReplica(folder, "far")
        let id = try hq.insert("accounts", ["name": s("Acme"), "loyalty_tier": s("gold")])
        let visit = try RecordState().write([.set("note", s("custom collection"))],
                                            stamp: WriteStamp(dot: Dot(try ReplicaID("hq"), 99), hlc: HLCTimestamp(wallMillis: 1_764_000_000_000), author: Author(user: "u", device: "d")),
                                            rules: CollectionRules(collection: "site_visits", fields: ["note": .lww]), recordID: account)
        try exchange(hq, to: old)
        try old.apply([visit], from: "hq")
        #expect(try old.resolved("accounts", id: id)?.unknownFields == ["loyalty_tier": s("gold")])
        try old.update("accounts", id: id, [.set("name", s("Acme LLC"))])
        try exchange(old, to: relayTarget)
        #expect(try relayTarget.resolved("accounts", id: id)?.unknownFields == ["loyalty_tier": s("gold")])
        #expect(try relayTarget.state("site_visits", id: account) == visit.state)

        // Upgrading the schema shows the field in its new column, with the value it already had.
        let path = old.path
        let upgraded = try Replica.open(at: path, schema: newer)
        #expect(try upgraded.get("accounts", id: id)?.values["loyalty_tier"] == s("gold"))
        #expect(try upgraded.get("accounts", id: id)?.values["name"] == s("Acme LLC"))
        let raw = try DatabaseQueue(path: path)
        #expect(try raw.read { try String.fetchOne($0, sql: "SELECT loyalty_tier FROM accounts") } == "gold")
    }

    @Test func valuesTheRowCannotShowExactlyStayInTheState() throws {
        let folder = TempFolder()
        let sender = try makeReplica(folder, "sender"), receiver = try makeReplica(folder, "receiver")
        let rules = try Schema.crm.collection("tasks").rules
        let deals = try Schema.crm.collection("deals").rules
        let stamp = { (n: UInt64) in WriteStamp(dot: Dot(try! ReplicaID("sender"), n), hlc: HLCTimestamp(wallMillis: 1_764_000_000_000 + n), author: Author(user: "u", device: "d")) }
        // A year-12000 due date has no four-digit ISO form; an integer amount in a decimal field reads back as a decimal.
        let far = try RecordState().write([.set("title", s("Far")), .set("due_at", .timestamp(317_000_000_000_000))], stamp: stamp(1), rules: rules, recordID: account)
        let deal = try RecordState().write([.set("title", s("D")), .set("account_id", .reference(account)), .set("amount", .integer(5)), .set("currency", s("USD"))],
                                           stamp: stamp(2), rules: deals, recordID: "0190a000-0000-7000-8000-00000000dea1")
        _ = sender
        try receiver.apply([far, deal], from: "sender")
        #expect(try receiver.state("tasks", id: account) == far.state)
        #expect(try receiver.state("deals", id: "0190a000-0000-7000-8000-00000000dea1") == deal.state)
    }

    @Test func removingAFieldFromTheSchemaKeepsItsData() throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let id = try replica.insert("contacts", ["account_id": .reference(account), "name": s("Bolor"), "position": s("CFO")])
        let path = replica.path
        let without = try Schema(json: Data(Schema.crmJSON.replacingOccurrences(of: #"{"name": "position", "type": "string"},"#, with: "").utf8))
        let reopened = try Replica.open(at: path, schema: without)
        #expect(try reopened.resolved("contacts", id: id)?.unknownFields == ["position": s("CFO")])
        let raw = try DatabaseQueue(path: path)
        #expect(try raw.read { try String.fetchOne($0, sql: "SELECT position FROM contacts") } == "CFO")
        // And adding it back brings it back.
        let back = try Replica.open(at: path, schema: .crm)
        #expect(try back.get("contacts", id: id)?.values["position"] == s("CFO"))
    }

    @Test func changingAFieldTypeIsRefused() throws {
        let folder = TempFolder()
        let replica = try makeReplica(folder, "laptop")
        let changed = try Schema(json: Data(Schema.crmJSON.replacingOccurrences(of: #"{"name": "probability", "type": "integer"}"#, with: #"{"name": "probability", "type": "decimal"}"#).utf8))
        #expect { _ = try Replica.open(at: replica.path, schema: changed) } throws: { error in
            (error as? StoreError)?.code == .incompatibleSchema
        }
    }
}
