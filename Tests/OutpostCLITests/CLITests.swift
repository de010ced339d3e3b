import Foundation
import OutpostCLI
import Testing

struct CLITests {
    @Test func addEditShowListHistoryRoundTrip() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "bolor", "--device", "bolor-laptop"])
        let account = try cli.ok(["add", "accounts", "name=Тумэн ХХК", "city=Улаанбаатар", "kind=customer", "tags=vip"])
        let deal = try cli.ok(["add", "deals", "account_id=\(account)", "title=Fleet", "amount=1250000.50", "currency=MNT", "stage=lead"])
        _ = try cli.ok(["edit", "deals", deal, "stage=proposal", "probability=40"])
        _ = try cli.ok(["edit", "accounts", account, "tags+=export", "tags-=vip"])

        let shown = try JSONSerialization.jsonObject(with: Data(try cli.ok(["show", "deals", deal, "--json"]).utf8)) as! [String: Any]
        let values = shown["values"] as! [String: Any]
        #expect(values["stage"] as? String == "proposal")
        #expect(values["amount"] as? String == "1250000.5")
        #expect(values["currency"] as? String == "MNT")

        let list = try JSONSerialization.jsonObject(with: Data(try cli.ok(["list", "accounts", "--where", "tags=export", "--json"]).utf8)) as! [[String: Any]]
        #expect(list.map { $0["id"] as? String } == [account])
        #expect(try cli.ok(["list", "accounts", "--where", "tags=vip", "--json"]) == "[]")

        let history = try JSONSerialization.jsonObject(with: Data(try cli.ok(["history", "deals", deal, "--json"]).utf8)) as! [[String: Any]]
        #expect(history.count == 2)
        #expect(history[1]["user"] as? String == "bolor")
        #expect((history[1]["fields"] as? [String: Any])?["stage"] as? String == "proposal")

        _ = try cli.ok(["delete", "deals", deal])
        #expect(try cli.run(["show", "deals", deal]).status != 0)
    }

    @Test func sqliteShellReadsThePlainTables() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "u"])
        _ = try cli.ok(["add", "accounts", "name=Acme", "city=Almaty"])
        _ = try cli.ok(["add", "accounts", "name=Công ty Hà Nội", "city=Hà Nội"])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [scratch.path("replica/replica.sqlite"), "SELECT name, city FROM accounts ORDER BY name"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(text == "Acme|Almaty\nCông ty Hà Nội|Hà Nội\n")
    }

    @Test(arguments: [
        (["add", "dealz", "title=x"], "no collection 'dealz'"),
        (["add", "deals", "title=x"], "deals.account_id is required"),
        (["add", "accounts", "name=A", "nme=x"], "has no field 'nme'"),
        (["add", "accounts", "name=A", "kind=friend"], "cannot be 'friend'"),
        (["add", "deals", "account_id=not-a-uuid", "title=x"], "is a record id (UUID)"),
        (["add", "deals", "account_id=0190a000-0000-7000-8000-000000000001", "title=x", "amount=ten"], "is a decimal number"),
        (["add", "accounts", "name"], "is not field=value"),
        (["edit", "accounts", "0190a000-0000-7000-8000-000000000001", "name=B"], "no accounts record with id"),
        (["add", "products", "name=Drill"], "reference data"),
    ])
    func badInputIsNamedAndChangesNothing(arguments: [String], message: String) throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "u"])
        let before = try cli.ok(["status", "--json"])
        let result = try cli.run(arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(try cli.ok(["status", "--json"]) == before)
    }

    @Test func missingReplicaSaysHowToCreateOne() throws {
        let scratch = Scratch()
        let result = try scratch.cli("nowhere").run(["list", "accounts"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("outpost init"))
    }

    @Test func dueTasksOffline() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "u"])
        _ = try cli.ok(["add", "tasks", "title=Call Aigerim", "due_at=2026-11-20 09:00"])
        _ = try cli.ok(["add", "tasks", "title=Later", "due_at=2026-12-20 09:00"])
        let text = try cli.ok(["tasks", "--due", "--at", "2026-11-24T12:00Z"])
        #expect(text.contains("OVERDUE  2026-11-20 09:00  Call Aigerim"))
        #expect(!text.contains("Later"))
    }

    @Test(arguments: ["init", "add", "edit", "delete", "list", "show", "history", "tasks", "import", "export", "status", "schema", "enroll", "sync", "demo", "search", "rejected"])
    func everyCommandHasHelpWithExamples(command: String) throws {
        let root = try Scratch().cli().run(["--help"])
        #expect(root.stdout.contains("  \(command) "), "outpost --help does not list \(command)")
        let result = try Scratch().cli().run([command, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"), "\(command) --help has no example")
    }
}
