import Foundation
import Testing

/// Two reps create one customer in two scripts; the admin merges them from a terminal.
@Suite(.serialized)
struct DuplicateEndToEndTests {
    let programs = EndToEndTests()

    func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func rows(_ cli: CLI, _ collection: String) throws -> [[String: Any]] {
        (json(try cli.ok(["list", collection, "--json"])) as? [[String: Any]] ?? []).compactMap { $0 }
    }

    @Test func oneCustomerInTwoScriptsIsMergedWithEveryChild() throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["aigerim", "bolor"])
        defer { if office.server.isRunning { office.server.terminate() } }
        func admin(_ args: [String]) throws -> String {
            let r = try programs.run("outpost-admin", args, environment: office.admin)
            #expect(r.status == 0, "outpost-admin \(args.joined(separator: " ")): \(r.stderr)")
            return r.stdout
        }
        let a = scratch.cli("aigerim"), b = scratch.cli("bolor")
        let keep = try a.ok(["add", "accounts", "name=Тошкент Савдо", "phone=+998 90 123 45 67", "city=Тошкент"])
        _ = try a.ok(["add", "contacts", "account_id=\(keep)", "name=Дилноза Юсупова"])
        let other = try b.ok(["add", "accounts", "name=Toshkent Savdo MChJ", "phone=90 123-45-67", "email=info@savdo.uz"])
        _ = try b.ok(["add", "activities", "account_id=\(other)", "kind=call", "at=2026-11-20T10:00:00Z", "summary=Narxlar haqida"])
        let unrelated = try b.ok(["add", "accounts", "name=Самарқанд Савдо", "phone=+998 66 233 00 11"])
        for cli in [a, b, a] { _ = try cli.ok(["sync"]) }

        let pairs = json(try admin(["duplicates", "list", "--json"])) as? [[String: Any]] ?? []
        #expect(pairs.count == 1, "\(pairs)")
        let pair = try #require(pairs.first)
        #expect(Set([pair["a"] as? String, pair["b"] as? String]) == [keep, other])
        let reasons = (pair["reasons"] as? [String] ?? []).joined(separator: "; ")
        #expect(reasons.contains("phone") && reasons.contains("name"), "\(reasons)")
        #expect(!(try admin(["duplicates", "list"])).contains(unrelated))

        // bolor writes a task under his record before the merge reaches his laptop.
        let task = try b.ok(["add", "tasks", "title=Send the price list", "account_id=\(other)"])
        _ = try admin(["duplicates", "merge", keep, other])
        for cli in [b, a, b] { _ = try cli.ok(["sync"]) }

        for cli in [a, b] {
            let accounts = try rows(cli, "accounts").map { $0["id"] as? String }
            #expect(Set(accounts) == [keep, unrelated], "one customer left, the other one untouched")
            let merged = (json(try cli.ok(["show", "accounts", keep, "--json"])) as? [String: Any])?["values"] as? [String: Any]
            #expect(merged?["email"] as? String == "info@savdo.uz", "an empty field of the kept record took the other's value")
            #expect(merged?["name"] as? String == "Тошкент Савдо")
            for collection in ["contacts", "activities", "tasks"] {
                let children = try rows(cli, collection)
                #expect(children.count == 1, "\(collection)")
                #expect(children.allSatisfy { ($0["values"] as? [String: Any])?["account_id"] as? String == keep }, "\(collection) moved to the kept record")
            }
            #expect(try rows(cli, "tasks").first?["id"] as? String == task, "the task written offline under the retired record was moved, not lost")
        }

        let told = (json(try b.ok(["status", "--json"])) as? [String: Any])?["settled"] as? [[String: Any]] ?? []
        #expect(told.contains { $0["record"] as? String == other && $0["deleted"] as? Bool == true }, "bolor hears his customer was merged away")

        // A pair the admin says is two customers stays apart.
        let twin = try a.ok(["add", "accounts", "name=Самарканд Савдо", "phone=+998 66 233 00 11"])
        _ = try a.ok(["sync"])
        #expect((json(try admin(["duplicates", "list", "--json"])) as? [Any])?.count == 1)
        _ = try admin(["duplicates", "dismiss", unrelated, twin])
        #expect((json(try admin(["duplicates", "list", "--json"])) as? [Any])?.isEmpty == true)

        let audit = json(try admin(["audit", "--json"])) as? [[String: Any]] ?? []
        #expect(audit.map { $0["action"] as? String } == ["duplicates-merged", "duplicates-dismissed"])
    }
}
