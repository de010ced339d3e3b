import Foundation
import Testing

/// The admin settles reps' disagreements from a terminal, against real processes.
@Suite(.serialized)
struct ConflictEndToEndTests {
    let programs = EndToEndTests()

    func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func stage(_ cli: CLI, _ deal: String) throws -> String? {
        let shown = json(try cli.ok(["show", "deals", deal, "--json"])) as? [String: Any]
        return (shown?["values"] as? [String: Any])?["stage"] as? String
    }

    /// `outpost-admin` as the admin `name` (a token of theirs): its environment, and a runner
    /// that expects success and returns stdout.
    func admin(_ name: String, _ scratch: Scratch, _ url: String) throws -> (env: [String: String], run: ([String]) throws -> String) {
        let token = try programs.run("outpost-server", ["token", "--data", scratch.path("hq"), "--name", name]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let env = ["OUTPOST_SERVER": url, "OUTPOST_TOKEN": token]
        let programs = self.programs
        return (env, { args in
            let r = try programs.run("outpost-admin", args, environment: env)
            #expect(r.status == 0, "outpost-admin \(args.joined(separator: " ")): \(r.stderr)")
            return r.stdout
        })
    }

    @Test func twoRepsDisagreeTheAdminSettlesItEverywhere() throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["aigerim", "bolor"])
        defer { if office.server.isRunning { office.server.terminate() } }
        let (adminEnv, adminRun) = try admin("aigul", scratch, office.url)
        let a = scratch.cli("aigerim"), b = scratch.cli("bolor")
        let account = try a.ok(["add", "accounts", "name=ТОО «Алтын-Ай»"])
        var deals: [String] = []
        for n in 0..<5 { deals.append(try a.ok(["add", "deals", "account_id=\(account)", "title=Fleet \(n)", "stage=lead"])) }
        _ = try a.ok(["sync"])
        _ = try b.ok(["sync"])

        // Offline: they disagree on deal 0, agree on deal 1, and disagree on deals 2-4.
        _ = try a.ok(["edit", "deals", deals[0], "stage=won"])
        _ = try b.ok(["edit", "deals", deals[0], "stage=lost"])
        _ = try a.ok(["edit", "deals", deals[1], "stage=proposal"])
        _ = try b.ok(["edit", "deals", deals[1], "stage=proposal"])
        for d in deals[2...] {
            _ = try a.ok(["edit", "deals", d, "stage=negotiation"])
            _ = try b.ok(["edit", "deals", d, "stage=lost"])
        }
        for cli in [a, b, a] { _ = try cli.ok(["sync"]) }

        let stats = json(try adminRun(["stats", "--json"])) as? [String: Any]
        #expect(stats?["openConflicts"] as? Int == 4)
        #expect((stats?["replicas"] as? [Any])?.count == 2)
        #expect(((stats?["changesPerDay"] as? [String: Int])?.values.reduce(0, +) ?? 0) >= 12)
        #expect((stats?["storageBytes"] as? Int ?? 0) > 0)
        let listed = json(try adminRun(["conflicts", "list", "--collection", "deals", "--json"])) as? [[String: Any]] ?? []
        #expect(listed.count == 4, "deal 1's agreement is not a conflict")
        #expect(!listed.contains { $0["record"] as? String == deals[1] })
        let first = try #require(listed.first { $0["record"] as? String == deals[0] })
        let id = try #require(first["id"] as? String)
        let shown = json(try adminRun(["conflicts", "show", id, "--json"])) as? [String: Any]
        let sides = shown?["sides"] as? [[String: Any]] ?? []
        #expect(Set(sides.compactMap { $0["user"] as? String }) == ["aigerim", "bolor"])
        #expect(Set(sides.compactMap { $0["text"] as? String }) == ["won", "lost"])
        #expect((shown?["recordValues"] as? [String: Any])?["title"] as? String == "Fleet 0")
        #expect(try adminRun(["conflicts", "show", id]).contains("by aigerim on aigerim-laptop"))

        let before = json(try b.ok(["status", "--json"])) as? [String: Any]
        #expect((before?["my_conflicts"] as? [Any])?.count == 4, "bolor hears about the clashes with his edits")
        #expect(try b.ok(["status"]).contains("your edit of deals.stage"))
        _ = try adminRun(["conflicts", "resolve", id, "--take", "aigerim"])
        let bulk = json(try adminRun(["conflicts", "resolve", "--collection", "deals", "--field", "stage", "--take", "newest", "--json"])) as? [[String: Any]] ?? []
        #expect(bulk.count == 3)
        #expect(json(try adminRun(["conflicts", "list", "--json"])) as? [Any] != nil)
        #expect((json(try adminRun(["conflicts", "list", "--json"])) as? [Any])?.isEmpty == true)

        for cli in [a, b] { _ = try cli.ok(["sync"]) }
        for cli in [a, b] {
            #expect(try stage(cli, deals[0]) == "won")
            #expect(try stage(cli, deals[1]) == "proposal")
            for d in deals[2...] { #expect(try stage(cli, d) == "lost", "newest was bolor's, written last") }
            let status = json(try cli.ok(["status", "--json"])) as? [String: Any]
            #expect(status?["conflicts"] as? Int == 0, "the conflicts are closed on every laptop")
        }
        #expect(try a.ok(["history", "deals", deals[0]]).contains("aigul@outpost-admin"), "the record's history shows the admin's resolution")
        #expect(try b.ok(["show", "deals", deals[0]]).contains("settled by aigul"), "and so does the record")
        let devices = json(try adminRun(["devices", "list", "--json"])) as? [[String: Any]] ?? []
        #expect(devices.count == 2 && devices.allSatisfy { ($0["appVersion"] as? String)?.hasPrefix("outpost ") == true })
        #expect(devices.allSatisfy { $0["pendingUp"] as? Int == 0 })
        #expect(devices.allSatisfy { $0["pendingDown"] is Int }, "counted from each device's last hello")
        let after = json(try b.ok(["status", "--json"])) as? [String: Any]
        #expect((after?["my_conflicts"] as? [Any])?.isEmpty == true)
        #expect((after?["settled"] as? [[String: Any]])?.count == 4, "bolor hears who settled his edits")
        #expect(try b.ok(["status"]).contains("Settled by aigul"))

        let audit = json(try adminRun(["audit", "--json"])) as? [[String: Any]] ?? []
        #expect(audit.count == 4)
        #expect(audit.allSatisfy { $0["who"] as? String == "aigul" && $0["action"] as? String == "conflict-resolved" })
        #expect(audit.first?["chosen"] as? String == "won")
        #expect((audit.first?["before"] as? [String])?.count == 2)
        let refused = try programs.run("outpost-admin", ["conflicts", "resolve", id, "--take", "1"], environment: adminEnv)
        #expect(refused.status != 0 && refused.stderr.contains("no open conflict"), "\(refused.stderr)")
    }

    /// A contact added offline under an account deleted elsewhere is an orphan conflict; the
    /// admin restores the account. A clash a rep closed by editing again shows as closed by them.
    @Test func anOrphanIsRestoredAndClosedConflictsSayHowAndByWhom() throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["aigerim", "bolor"])
        defer { if office.server.isRunning { office.server.terminate() } }
        let adminRun = try admin("aigul", scratch, office.url).run
        let a = scratch.cli("aigerim"), b = scratch.cli("bolor")
        let doomed = try a.ok(["add", "accounts", "name=Тумэн Трейд ХХК", "city=Улаанбаатар"])
        let keeper = try a.ok(["add", "accounts", "name=Алтын-Ай"])
        let deal = try a.ok(["add", "deals", "account_id=\(keeper)", "title=Fleet", "stage=lead"])
        _ = try a.ok(["sync"])
        _ = try b.ok(["sync"])

        _ = try a.ok(["delete", "accounts", doomed])
        let contact = try b.ok(["add", "contacts", "account_id=\(doomed)", "name=Батболд"])
        _ = try a.ok(["edit", "deals", deal, "stage=won"])
        _ = try b.ok(["edit", "deals", deal, "stage=lost"])
        for cli in [a, b, a] { _ = try cli.ok(["sync"]) }
        // aigerim has seen both stages; her next edit closes the clash (merge.md section 8).
        _ = try a.ok(["edit", "deals", deal, "stage=negotiation"])
        _ = try a.ok(["sync"])

        let open = json(try adminRun(["conflicts", "list", "--json"])) as? [[String: Any]] ?? []
        #expect(open.count == 1)
        let orphan = try #require(open.first)
        #expect(orphan["kind"] as? String == "orphan" && orphan["record"] as? String == contact && orphan["key"] as? String == "account_id")
        #expect((json(try adminRun(["conflicts", "list", "--branch", "head-office", "--json"])) as? [Any])?.count == 1)
        #expect((json(try adminRun(["conflicts", "list", "--branch", "almaty", "--json"])) as? [Any])?.isEmpty == true)
        let id = try #require(orphan["id"] as? String)
        let shown = try adminRun(["conflicts", "show", id])
        #expect(shown.contains("parent was deleted") && shown.contains("restore its parent \(doomed)"), "\(shown)")
        _ = try adminRun(["conflicts", "resolve", id, "--take", "restore"])

        let closed = json(try adminRun(["conflicts", "list", "--resolved", "--json"])) as? [[String: Any]] ?? []
        #expect(closed.count == 2)
        let settled = closed.first { $0["id"] as? String == id }?["closed"] as? [String: Any]
        #expect(settled?["how"] as? String == "settled" && settled?["user"] as? String == "aigul")
        let edited = closed.first { $0["record"] as? String == deal }?["closed"] as? [String: Any]
        #expect(edited?["how"] as? String == "later-edit" && edited?["user"] as? String == "aigerim" && edited?["outcome"] as? String == "negotiation")
        #expect(try adminRun(["conflicts", "list", "--resolved"]).contains("settled by admin"))

        for cli in [a, b] {
            _ = try cli.ok(["sync"])
            let account = json(try cli.ok(["show", "accounts", doomed, "--json"])) as? [String: Any]
            #expect((account?["values"] as? [String: Any])?["city"] as? String == "Улаанбаатар", "the account comes back whole")
            #expect(try cli.ok(["show", "contacts", contact]).contains("Батболд"))
            #expect((json(try cli.ok(["status", "--json"])) as? [String: Any])?["conflicts"] as? Int == 0)
        }
        let audit = json(try adminRun(["audit", "--json"])) as? [[String: Any]] ?? []
        #expect(audit.count == 1 && audit.first?["chosen"] as? String == "restore its parent \(doomed)")
    }
}
