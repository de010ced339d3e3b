import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import Testing

/// An admin's settlement is a write that has seen every side: it closes the conflict wherever it arrives.
struct ConflictResolutionTests {
    /// Two replicas and head office; a and b clash on `collection`'s record, head office receives both.
    func clash(_ folder: TempFolder, _ clock: TestClock, edit: (Replica, Replica, String) throws -> Void) throws -> (Replica, Replica, Replica, String) {
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock)
        let a = try makeReplica(folder, "a", clock: clock), b = try makeReplica(folder, "b", clock: clock)
        let id = try a.insert("accounts", ["name": .string("Алтын-Ай")])
        try exchange(a, to: b)
        clock.advance()
        try edit(a, b, id)
        try exchange(a, to: hq)
        try exchange(b, to: hq)
        return (hq, a, b, id)
    }

    @Test func takingASideClosesTheConflictEverywhere() throws {
        let folder = TempFolder(), clock = TestClock()
        let (hq, a, b, id) = try clash(folder, clock) { a, b, id in
            try a.update("accounts", id: id, [.set("status", .string("active"))])
            clock.advance()
            try b.update("accounts", id: id, [.set("status", .string("dormant"))])
        }
        let conflict = try #require(try hq.openConflicts().first)
        let aSide = try #require(conflict.sides.first { $0.dot.replica == a.replicaID })
        clock.advance()
        let settled = try hq.resolve(conflict: conflict.id, choice: .side(aSide.dot), author: Author(user: "aigul", device: "head-office"))
        #expect(settled.chosen == .string("active"))
        #expect(try hq.openConflicts().isEmpty)
        for r in [a, b] {
            try exchange(hq, to: r)
            #expect(try r.openConflicts().isEmpty)
            #expect(try r.get("accounts", id: id)?.values["status"] == .string("active"))
            #expect(try r.history("accounts", id: id).last?.author.user == "aigul")
        }
        #expect(throws: StoreError.self) { try hq.resolve(conflict: conflict.id, choice: .side(aSide.dot), author: Author(user: "aigul", device: "x")) }
    }

    /// A delete concurrent with an update: the admin keeps the record (restore) or deletes it.
    @Test(arguments: [true, false])
    func aDeleteVersusUpdateClashIsSettledByKeepingOrDeleting(keep: Bool) throws {
        let folder = TempFolder(), clock = TestClock()
        let (hq, a, b, id) = try clash(folder, clock) { a, b, id in
            try a.delete("accounts", id: id)
            clock.advance()
            try b.update("accounts", id: id, [.set("city", .string("Алматы"))])
        }
        let conflict = try #require(try hq.openConflicts().first { $0.kind == .deleteVersusUpdate })
        let side = try #require(conflict.sides.first { $0.value == .bool(keep) })
        clock.advance()
        _ = try hq.resolve(conflict: conflict.id, choice: .side(side.dot), author: Author(user: "aigul", device: "head-office"))
        for r in [hq, a, b] {
            if r !== hq { try exchange(hq, to: r) }
            #expect(try r.openConflicts().isEmpty)
            #expect((try r.get("accounts", id: id) != nil) == keep)
            if keep { #expect(try r.get("accounts", id: id)?.values["city"] == .string("Алматы"), "the kept record keeps the update") }
        }
    }

    @Test func aValueOfTheAdminsOwnIsCheckedAgainstTheSchema() throws {
        let folder = TempFolder(), clock = TestClock()
        let (hq, _, _, _) = try clash(folder, clock) { a, b, id in
            try a.update("accounts", id: id, [.set("status", .string("active"))])
            try b.update("accounts", id: id, [.set("status", .string("closed"))])
        }
        let conflict = try #require(try hq.openConflicts().first)
        #expect(throws: StoreError.self) { try hq.resolve(conflict: conflict.id, choice: .value(.string("sleeping")), author: Author(user: "aigul", device: "x")) }
        _ = try hq.resolve(conflict: conflict.id, choice: .value(.string("dormant")), author: Author(user: "aigul", device: "x"))
        #expect(try hq.openConflicts().isEmpty)
    }
}

/// Merging duplicates, at the store.
struct MergeTests {
    @Test func aFieldClashOnARecordDeletedSinceIsNeitherListedNorSettled() throws {
        let folder = TempFolder(), clock = TestClock()
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock)
        let a = try makeReplica(folder, "a", clock: clock), b = try makeReplica(folder, "b", clock: clock)
        let id = try a.insert("accounts", ["name": .string("Алтын-Ай")])
        try exchange(a, to: b)
        try a.update("accounts", id: id, [.set("status", .string("active"))])
        try b.update("accounts", id: id, [.set("status", .string("closed"))])
        try exchange(a, to: hq)
        try exchange(b, to: hq)
        let conflict = try #require(try hq.openConflicts().first)
        clock.advance()
        try hq.delete("accounts", id: id)
        #expect(try hq.openConflicts().isEmpty)
        #expect(throws: StoreError.self) { try hq.resolve(conflict: conflict.id, choice: .value(.string("active")), author: Author(user: "aigul", device: "x")) }
        #expect(try hq.get("accounts", id: id) == nil, "the deleted record stays deleted")
    }

    @Test func aMergeTakesAFieldGroupWholeAndMovesEveryReference() throws {
        let folder = TempFolder(), clock = TestClock()
        let hq = try makeReplica(folder, "hq", role: .headOffice, clock: clock)
        let schema = try hq.schema.collection("accounts")
        let group = try #require(schema.groups.first)
        let keep = try hq.insert("accounts", ["name": .string("Тумэн ХХК"), "phone": .string("99112233"), "city": .string("Алматы")])
        var values: [String: FieldValue] = ["name": .string("Tumen LLC")]
        for member in group.members { values[member] = .string("other-\(member)") }
        let other = try hq.insert("accounts", values)
        let contact = try hq.insert("contacts", ["account_id": .reference(other), "name": .string("Болормаа")])
        let deal = try hq.insert("deals", ["account_id": .reference(other), "title": .string("Fleet")])
        let report = try hq.merge("accounts", keep: keep, other: other, author: Author(user: "aigul", device: "x"))
        let merged = try #require(try hq.get("accounts", id: keep))
        // keep has part of the postal address: it keeps its own whole, never Astana's street in Almaty.
        #expect(merged.values["city"] == .string("Алматы"))
        #expect(merged.values["address"] == .null, "a group is never mixed from two records")
        _ = group
        #expect(merged.values["name"] == .string("Тумэн ХХК"))
        #expect(report.childrenMoved == 2)
        #expect(try hq.get("contacts", id: contact)?.values["account_id"] == .reference(keep))
        #expect(try hq.get("deals", id: deal)?.values["account_id"] == .reference(keep))
        #expect(try hq.get("accounts", id: other) == nil)
        #expect(throws: StoreError.self) { try hq.merge("accounts", keep: keep, other: other, author: Author(user: "aigul", device: "x")) }
    }
}

/// What a rep typing in a hurry means: schema defaults.
struct DefaultTests {
    @Test func newRecordsTakeTheSchemasDefaults() throws {
        let folder = TempFolder(), clock = TestClock()
        let rep = try makeReplica(folder, "rep", clock: clock)
        let account = try rep.insert("accounts", ["name": .string("Тумэн ХХК")])
        #expect(try rep.get("accounts", id: account)?.values["status"] == .string("active"))
        let task = try rep.insert("tasks", ["title": .string("Call back")])
        #expect(try rep.get("tasks", id: task)?.values["status"] == .string("open"))
        let call = try rep.insert("activities", ["account_id": .reference(account), "kind": .string("call")])
        #expect(try rep.get("activities", id: call)?.values["at"] == .timestamp(Int64(clock.read())))
        let given = try rep.insert("tasks", ["title": .string("Done already"), "status": .string("done")])
        #expect(try rep.get("tasks", id: given)?.values["status"] == .string("done"), "a given value wins")
    }

    @Test func aDefaultThatIsNotAValueOfItsFieldIsRefused() {
        let bad = Schema.crmJSON.replacingOccurrences(of: #""default": "open""#, with: #""default": "someday""#)
        #expect(throws: SchemaError.self) { try Schema(json: Data(bad.utf8)) }
    }
}
