import Foundation
import OutpostSchema
import Testing

/// Head office and a branch as real `outpost-server` processes, the branch started with
/// `--upstream`, and reps using the real `outpost` program.
@Suite(.serialized)
struct BranchEndToEndTests {
    let programs = EndToEndTests()

    /// Polls `condition` every 200 ms for up to `seconds`.
    func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return try condition()
    }

    func stats(_ url: String, _ token: String) throws -> [String: Any] {
        let r = try programs.run("outpost-admin", ["stats", "--json"], environment: ["OUTPOST_SERVER": url, "OUTPOST_TOKEN": token])
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    func names(_ cli: CLI) throws -> [String] {
        let listed = try JSONSerialization.jsonObject(with: Data(try cli.ok(["list", "accounts", "--json"]).utf8)) as? [[String: Any]] ?? []
        return listed.compactMap { ($0["values"] as? [String: Any])?["name"] as? String }
    }

    /// Head office stops; the branch keeps serving its rep; head office comes back on the same
    /// address, and without anyone restarting the branch the rep's work reaches head office and
    /// head office's edit reaches the rep.
    @Test func theBranchServesItsRepsWhileHeadOfficeIsDown() throws {
        let scratch = Scratch()
        var office = try programs.headOffice(scratch, reps: ["olzhas"])
        defer { if office.server.isRunning { office.server.terminate() } }
        let hqListen = String(office.url.dropFirst("http://".count))
        _ = try programs.run("outpost-admin", ["users", "add", "almaty-branch", "--role", "branch", "--scope", "all"], environment: office.admin)
        _ = try programs.run("outpost-admin", ["users", "add", "aigerim", "--role", "rep", "--scope", "all"], environment: office.admin)
        let code = try programs.run("outpost-admin", ["devices", "enroll", "almaty-branch"], environment: office.admin).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let (branch, branchURL) = try programs.startServer(scratch.path("almaty"), extra: ["--upstream", office.url, "--enroll-code", code, "--upstream-interval", "0.5"])
        defer { if branch.isRunning { branch.terminate() } }
        let tokenRun = try programs.run("outpost-server", ["token", "--data", scratch.path("almaty")])
        #expect(tokenRun.status == 0, "a token is made while the branch runs: \(tokenRun.stderr)")
        let branchToken = tokenRun.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let branchAdmin = ["OUTPOST_SERVER": branchURL, "OUTPOST_TOKEN": branchToken]

        // aigerim was added at head office; the branch's own admin enrolls her laptop once she has arrived there.
        var repCode = ""
        var lastError = ""
        let arrivedAtBranch = try eventually(60) {
            let r = try programs.run("outpost-admin", ["devices", "enroll", "aigerim"], environment: branchAdmin)
            repCode = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            lastError = r.stderr
            return r.status == 0
        }
        let linkNow = try stats(branchURL, branchToken)
        #expect(arrivedAtBranch, "the user made at head office never reached the branch: \(lastError) \(linkNow)")
        let aigerim = scratch.cli("aigerim"), olzhas = scratch.cli("olzhas")
        _ = try aigerim.ok(["enroll", "--server", branchURL, "--code", repCode, "--device", "aigerim-laptop"])
        _ = try aigerim.ok(["add", "accounts", "name=Before the outage"])
        _ = try aigerim.ok(["sync"])

        office.server.terminate()
        office.server.waitUntilExit()
        _ = try aigerim.ok(["add", "accounts", "name=During the outage", "city=Алматы"])
        let during = try aigerim.run(["sync", "--json"])
        #expect(during.status == 0, "the branch must keep serving while head office is down: \(during.stderr)")
        #expect(try eventually(15) {
            let upstream = try stats(branchURL, branchToken)["upstream"] as? [String: Any]
            return upstream?["state"] as? String == "unreachable" && upstream?["lastError"] is String && (upstream?["pendingUp"] as? Int ?? 0) >= 1
        }, "the branch's status shows the link down and the change waiting")

        let (restarted, _) = try programs.startServer(scratch.path("hq"), listen: hqListen)
        office.server = restarted
        _ = try olzhas.ok(["add", "accounts", "name=From head office"])
        _ = try olzhas.ok(["sync"])
        let arrived = try eventually(40) {
            _ = try olzhas.ok(["sync"])
            return try names(olzhas).contains("During the outage")
        }
        let link = try stats(branchURL, branchToken)
        #expect(arrived, "the rep's work written during the outage never reached head office: \(link)")
        #expect(try eventually(40) {
            _ = try aigerim.ok(["sync"])
            return try names(aigerim).contains("From head office")
        }, "head office's edit never reached the branch's rep")
        let upstream = try stats(branchURL, branchToken)["upstream"] as? [String: Any]
        #expect(upstream?["state"] as? String == "connected")
        #expect(try Set(names(aigerim)) == Set(names(olzhas)))

        // Head office adds a custom field; the branch's rep can use it after a sync, and its
        // values come back up.
        var schema = try JSONSerialization.jsonObject(with: Data(Schema.crm.fileJSON.utf8)) as! [String: Any]
        var collections = schema["collections"] as! [[String: Any]]
        let i = collections.firstIndex { $0["name"] as? String == "accounts" }!
        collections[i]["fields"] = (collections[i]["fields"] as! [[String: Any]]) + [["name": "loyalty_card", "type": "string"]]
        schema["collections"] = collections
        schema["version"] = Schema.crm.version + 1
        try JSONSerialization.data(withJSONObject: schema).write(to: URL(fileURLWithPath: scratch.path("loyalty.json")))
        let set = try programs.run("outpost-admin", ["schema", "set", scratch.path("loyalty.json")], environment: ["OUTPOST_SERVER": office.url, "OUTPOST_TOKEN": office.admin["OUTPOST_TOKEN"]!])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(try programs.run("outpost-admin", ["schema", "set", scratch.path("loyalty.json")], environment: branchAdmin).status != 0,
                "a branch refuses to change the schema")
        #expect(try eventually(20) {
            _ = try aigerim.ok(["sync"])
            return try aigerim.run(["add", "accounts", "name=Qazaq Foods", "loyalty_card=LC-0042"]).status == 0
        }, "the custom field never reached the branch's rep")
        _ = try aigerim.ok(["sync"])
        #expect(try eventually(20) {
            _ = try olzhas.ok(["sync"])
            return try olzhas.ok(["list", "accounts", "--json"]).contains("LC-0042")
        }, "the custom field's value never reached head office's rep")
    }
}
