import Foundation
import Testing

/// Scopes with the real processes: a rep's laptop holds only the rep's customers, a refused
/// edit stays on the laptop with its reason, and a reassigned customer leaves the laptop
/// without losing the rep's last edit.
@Suite(.serialized)
struct ScopeEndToEndTests {
    let programs = EndToEndTests()

    func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func ids(_ cli: CLI, _ collection: String) throws -> Set<String> {
        let rows = json(try cli.ok(["list", collection, "--json"])) as? [[String: Any]] ?? []
        return Set(rows.compactMap { $0["id"] as? String })
    }

    func rejected(_ cli: CLI) throws -> [[String: Any]] {
        (json(try cli.ok(["status", "--json"])) as? [String: Any])?["rejected"] as? [[String: Any]] ?? []
    }

    @Test func aRepHoldsOnlyTheirCustomersAndKeepsWhatWasRefused() throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["bolor"])
        defer { if office.server.isRunning { office.server.terminate() } }
        func admin(_ args: [String]) throws -> CLI.Result {
            try programs.run("outpost-admin", args, environment: office.admin)
        }
        let badScope = try admin(["users", "add", "aigerim", "--role", "rep", "--scope", "owner = me and"])
        #expect(badScope.status != 0 && badScope.stderr.contains("column 15"), "\(badScope.stderr)")
        #expect(try admin(["users", "add", "aigerim", "--role", "rep", "--scope", "owner = me"]).status == 0)
        #expect(try admin(["users", "add", "dana", "--role", "manager", "--scope", "all"]).status == 0)
        for user in ["aigerim", "dana"] {
            let code = try admin(["devices", "enroll", user]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try scratch.cli(user).ok(["enroll", "--server", office.url, "--code", code, "--device", "\(user)-laptop"])
        }
        let a = scratch.cli("aigerim"), b = scratch.cli("bolor"), d = scratch.cli("dana")

        let hers = try b.ok(["add", "accounts", "name=ТОО «Алтын-Ай»", "owner=aigerim"])
        let theirs = try b.ok(["add", "accounts", "name=Тумэн ХХК", "owner=bolor"])
        let herContact = try b.ok(["add", "contacts", "account_id=\(hers)", "name=Айгуль Серикова"])
        _ = try b.ok(["add", "contacts", "account_id=\(theirs)", "name=Батболд"])
        _ = try b.ok(["sync"])
        _ = try a.ok(["sync"])
        #expect(try ids(a, "accounts") == [hers], "aigerim's laptop holds only her customer")
        #expect(try ids(a, "contacts") == [herContact])

        // Offline: a customer she may not own, and a reassignment she may not make.
        let foreign = try a.ok(["add", "accounts", "name=Someone Else LLC", "owner=bolor"])
        _ = try a.ok(["edit", "accounts", hers, "owner=bolor"])
        _ = try a.ok(["sync"])
        let refused = try rejected(a)
        #expect(Set(refused.compactMap { $0["code"] as? String }) == ["out-of-scope", "forbidden-field"], "\(refused)")
        #expect(refused.contains { $0["record"] as? String == foreign && ($0["reason"] as? String)?.contains("out of aigerim's scope") == true })
        _ = try a.ok(["sync"])
        #expect(try rejected(a).count == 2, "a refused change stays until the rep acts")
        #expect(try a.ok(["status"]).contains("outpost rejected retry"))
        #expect(try b.run(["show", "accounts", foreign]).status != 0, "nothing refused reached anyone")
        _ = try a.ok(["rejected", "discard", try #require(refused.first { $0["code"] as? String == "forbidden-field" }?["dot"] as? String)])
        let shown = json(try a.ok(["show", "accounts", hers, "--json"])) as? [String: Any]
        #expect((shown?["values"] as? [String: Any])?["owner"] as? String == "aigerim", "discarding puts the record back as the server has it")

        // dana reassigns the customer to bolor while aigerim edits it offline: her edit goes up
        // first (refused: no longer hers) and is kept; then the customer leaves her laptop.
        _ = try d.ok(["sync"])
        _ = try d.ok(["edit", "accounts", hers, "owner=bolor"])
        _ = try d.ok(["sync"])
        _ = try a.ok(["edit", "accounts", hers, "city=Алматы"])
        _ = try a.ok(["sync"])
        #expect(try ids(a, "accounts") == [foreign], "the reassigned customer and its contact left aigerim's laptop (her refused one stays)")
        #expect(try ids(a, "contacts").isEmpty)
        #expect(try rejected(a).contains { $0["record"] as? String == hers && $0["code"] as? String == "out-of-scope" }, "her last edit is kept")
        _ = try b.ok(["sync"])
        #expect(try ids(b, "accounts").contains(hers), "nothing was deleted anywhere")

        // Reassigned back: it returns whole.
        _ = try d.ok(["edit", "accounts", hers, "owner=aigerim"])
        _ = try d.ok(["sync"])
        _ = try a.ok(["sync"])
        #expect(try ids(a, "accounts") == [hers, foreign])
        #expect(try ids(a, "contacts") == [herContact], "its contact comes back with it")
        let back = json(try a.ok(["show", "accounts", hers, "--json"])) as? [String: Any]
        #expect((back?["values"] as? [String: Any])?["name"] as? String == "ТОО «Алтын-Ай»")
        // Hers again: the edit refused while it was not is sent again with what she wrote.
        let kept = json(try a.ok(["rejected", "list", "--json"])) as? [[String: Any]] ?? []
        let cityEdit = try #require(kept.first { ($0["fields"] as? [String: Any])?["city"] as? String == "Алматы" })
        _ = try a.ok(["rejected", "retry", try #require(cityEdit["dot"] as? String)])
        _ = try a.ok(["sync"])
        _ = try b.ok(["sync"])
        let atBolor = json(try b.ok(["show", "accounts", hers, "--json"])) as? [String: Any]
        #expect((atBolor?["values"] as? [String: Any])?["city"] as? String == "Алматы", "her retried edit reached everyone")

        // A ready base for her new laptop holds her customers only, and no trace of the others.
        let file = scratch.path("aigerim.outpost")
        let made = try admin(["snapshot", "aigerim", "--out", file])
        #expect(made.status == 0, "\(made.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(bytes.range(of: Data("Тумэн ХХК".utf8)) == nil && bytes.range(of: Data("Батболд".utf8)) == nil, "nothing of bolor's customer is in the file")
        let fresh = scratch.cli("aigerim-new")
        _ = try fresh.ok(["init", "--from-snapshot", file])
        #expect(try ids(fresh, "accounts") == [hers])
        #expect(try ids(fresh, "contacts") == [herContact])
    }
}
