import Foundation
import GRDB
import Testing

/// Anti-entropy end to end: a laptop's replica is damaged behind Outpost's back (a row edited,
/// a row deleted, a row inserted, straight in SQLite); `outpost status --verify` names exactly
/// those records, the admin sees the failed verification, and `--repair` fetches only them again.
@Suite(.serialized)
struct DigestTests {
    let programs = EndToEndTests()

    @Test func verifyNamesWhatWasDamagedAndRepairFixesIt() async throws {
        try await offThePool { checks in try self.damageVerifyRepair(checks) }
    }

    func damageVerifyRepair(_ checks: Checks) throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["aigerim", "bolat"])
        defer { office.server.terminate(); office.server.waitUntilExit() }
        let aigerim = scratch.cli("aigerim"), bolat = scratch.cli("bolat")
        var csv = "name,city,phone\n"
        for n in 0..<300 { csv += "Клиент \(n),Алматы,+7 701 \(n)\n" }
        try csv.write(toFile: scratch.path("accounts.csv"), atomically: true, encoding: .utf8)
        _ = try checks.ok(bolat, ["import", "accounts", scratch.path("accounts.csv")])
        _ = try checks.ok(bolat, ["sync"])
        let clean = try aigerim.run(["status", "--verify"])
        checks.expect(clean.status == 0 && clean.stdout.contains("all 300 records agree"), "\(clean.stdout) \(clean.stderr)")

        // Damage behind Outpost's back (its guard on the plain tables is bypassed on purpose).
        let file = scratch.path("aigerim/replica.sqlite")
        var config = Configuration()
        config.prepareDatabase { db in db.add(function: DatabaseFunction("outpost_writer", argumentCount: 0, pure: false) { _ in 1 }) }
        let db = try DatabaseQueue(path: file, configuration: config)
        let ids = try db.read { try String.fetchAll($0, sql: "SELECT id FROM accounts ORDER BY id LIMIT 2") }
        let (edited, deleted, ghost) = (ids[0], ids[1], "01a20000-0000-7000-8000-00000000dead")
        try db.write { db in
            try db.execute(sql: "UPDATE accounts SET phone = '+7 000 000 00 00' WHERE id = ?", arguments: [edited])
            try db.execute(sql: "DELETE FROM accounts WHERE id = ?", arguments: [deleted])
            try db.execute(sql: "INSERT INTO accounts (id, name) VALUES (?, 'Призрак')", arguments: [ghost])
        }
        try db.close()

        let found = try aigerim.run(["status", "--verify", "--json"])
        checks.expect(found.status == 1)
        let report = (try JSONSerialization.jsonObject(with: Data(found.stdout.utf8)) as? [String: Any])?["verify"] as? [String: Any] ?? [:]
        let named = Set((report["differing"] as? [[String: String]] ?? []).compactMap { $0["id"] })
        checks.expect(named == [edited, deleted, ghost], "named \(named)")
        let stats = try programs.run("outpost-admin", ["stats"], environment: office.admin).stdout
        checks.expect(stats.contains("last verification found records that differ"), "\(stats)")

        let repaired = try aigerim.run(["status", "--verify", "--repair"])
        checks.expect(repaired.status == 0, "\(repaired.stdout) \(repaired.stderr)")
        checks.expect(repaired.stdout.contains("3 of 300 records differ") && repaired.stdout.contains("they now agree"), "\(repaired.stdout)")
        let after = try DatabaseQueue(path: file)
        checks.expect(try after.read { try String.fetchOne($0, sql: "SELECT phone FROM accounts WHERE id = ?", arguments: [edited]) } != "+7 000 000 00 00")
        checks.expect(try after.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM accounts WHERE id IN (?, ?)", arguments: [deleted, ghost]) } == 1)
        checks.expect(try after.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM accounts") } == 300)
        try after.close()
        checks.expect(try aigerim.run(["status", "--verify"]).stdout.contains("all 300 records agree"))
        let healed = try programs.run("outpost-admin", ["stats"], environment: office.admin).stdout
        checks.expect(!healed.contains("last verification found records that differ"), "\(healed)")
    }
}
