import Foundation
import Testing

/// A new laptop starts from a snapshot file and its first sync pulls only what came after.
@Suite(.serialized)
struct SnapshotEndToEndTests {
    let programs = EndToEndTests()

    @Test func aLaptopStartedFromASnapshotPullsOnlyWhatIsNew() throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["olzhas"])
        defer { if office.server.isRunning { office.server.terminate() } }
        let olzhas = scratch.cli("olzhas")
        for n in 0..<20 { _ = try olzhas.ok(["add", "accounts", "name=Клиент \(n)"]) }
        _ = try olzhas.ok(["sync"])
        #expect(try programs.run("outpost-admin", ["users", "add", "aigerim", "--role", "rep", "--scope", "all"], environment: office.admin).status == 0)
        let file = scratch.path("aigerim.outpost")
        let made = try programs.run("outpost-admin", ["snapshot", "aigerim", "--out", file], environment: office.admin)
        #expect(made.status == 0, "\(made.stderr)")
        for n in 0..<3 { _ = try olzhas.ok(["add", "accounts", "name=After the snapshot \(n)"]) }
        _ = try olzhas.ok(["sync"])

        let aigerim = scratch.cli("aigerim")
        _ = try aigerim.ok(["init", "--from-snapshot", file])
        let code = try programs.run("outpost-admin", ["devices", "enroll", "aigerim"], environment: office.admin).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try aigerim.ok(["enroll", "--server", office.url, "--code", code, "--device", "aigerim-laptop"])
        let summary = try JSONSerialization.jsonObject(with: Data(try aigerim.ok(["sync", "--json"]).utf8)) as? [String: Any]
        #expect(summary?["pulled"] as? Int == 3, "only the three accounts written after the snapshot: \(summary ?? [:])")
        #expect(summary?["pushed"] as? Int == 0)
        let listed = try JSONSerialization.jsonObject(with: Data(try aigerim.ok(["list", "accounts", "--json"]).utf8)) as? [Any]
        #expect(listed?.count == 23)
        // The laptop writes as itself.
        _ = try aigerim.ok(["add", "accounts", "name=Aigerim's own"])
        #expect((try JSONSerialization.jsonObject(with: Data(try aigerim.ok(["sync", "--json"]).utf8)) as? [String: Any])?["pushed"] as? Int == 1)
        _ = try olzhas.ok(["sync"])
        #expect((try JSONSerialization.jsonObject(with: Data(try olzhas.ok(["list", "accounts", "--json"]).utf8)) as? [Any])?.count == 24)
        let again = try programs.run("outpost-admin", ["snapshot", "nobody", "--out", scratch.path("x.outpost")], environment: office.admin)
        #expect(again.status != 0 && again.stderr.contains("no user named nobody"))
    }
}
