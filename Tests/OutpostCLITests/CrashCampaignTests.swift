import Foundation
import GRDB
import OutpostTestSupport
import Testing

/// The crash campaign: head office and a branch as real `outpost-server` processes, a rep at
/// each, imports and syncs running, and SIGKILL sent at random moments to a rep's import, a
/// rep's sync, the branch (while it serves and relays) or head office. After the last kill
/// everything restarts and syncs to the end; then every write a rep was told succeeded is on
/// every replica exactly once, a killed import is everywhere whole or nowhere, and every
/// SQLite file passes `PRAGMA integrity_check`. Reps also update earlier batches (a second
/// change per record), and head office purges every 0.3 s, so kills land in purges too; at the
/// end an admin's purge folds what every replica has pulled, and everything still agrees.
///
/// `OUTPOST_CRASH_KILLS` sets how many kills land (24 by default, the CI campaign; the soak in
/// `docs/reliability.md` runs 200), `OUTPOST_CRASH_SEED` replays a campaign.
@Suite(.serialized)
struct CrashCampaignTests {
    let programs = EndToEndTests()

    /// Where a kill lands.
    enum Victim: CaseIterable { case repImport, repSync, branch, headOffice }

    /// A server process and how to start it again on the same address.
    final class Server {
        let data: String, listen: String, extra: [String]
        var process: Process
        init(data: String, listen: String, extra: [String], process: Process) {
            self.data = data; self.listen = listen; self.extra = extra; self.process = process
        }
    }

    /// What the campaign did, for the report and the checks.
    struct Tally: CustomStringConvertible {
        var kills: [Victim: Int] = [:]
        var acknowledgedWrites = 0
        var killedImports = 0
        var description: String {
            "kills \(kills.values.reduce(0, +)) (rep import \(kills[.repImport] ?? 0), rep sync \(kills[.repSync] ?? 0), branch \(kills[.branch] ?? 0), head office \(kills[.headOffice] ?? 0)), acknowledged writes \(acknowledgedWrites), killed imports \(killedImports)"
        }
    }

    @Test func killsAtRandomMomentsLoseAndDuplicateNothing() async throws {
        try await offThePool { checks in try self.campaign(checks) }
    }

    func campaign(_ checks: Checks) throws {
        let environment = ProcessInfo.processInfo.environment
        let target = Int(environment["OUTPOST_CRASH_KILLS"] ?? "") ?? 24
        let seed = UInt64(environment["OUTPOST_CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("crash campaign: seed \(seed) (OUTPOST_CRASH_SEED=\(seed) replays it), \(target) kills")
        var rng = SplitMix64(seed: seed)

        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["bolat"])
        let hq = Server(data: scratch.path("hq"), listen: String(office.url.dropFirst("http://".count)), extra: ["--purge-interval", "0.3"],
                        process: office.server)
        // Head office purges on its own from here.
        office.server.terminate()
        office.server.waitUntilExit()
        hq.process = try programs.startServer(hq.data, listen: hq.listen, extra: hq.extra).0
        _ = try programs.run("outpost-admin", ["users", "add", "almaty-branch", "--role", "branch", "--scope", "all"], environment: office.admin)
        _ = try programs.run("outpost-admin", ["users", "add", "aigerim", "--role", "rep", "--scope", "all"], environment: office.admin)
        let code = try programs.run("outpost-admin", ["devices", "enroll", "almaty-branch"], environment: office.admin).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let link = ["--upstream", office.url, "--upstream-interval", "0.3"]
        let (branchProcess, branchURL) = try programs.startServer(scratch.path("almaty"), extra: link + ["--enroll-code", code])
        let branch = Server(data: scratch.path("almaty"), listen: String(branchURL.dropFirst("http://".count)), extra: link, process: branchProcess)
        defer {
            for server in [hq, branch] where server.process.isRunning { server.process.terminate(); server.process.waitUntilExit() }
        }
        let branchToken = try programs.run("outpost-server", ["token", "--data", branch.data]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var repCode = ""
        let deadline = Date().addingTimeInterval(60)
        while repCode.isEmpty, Date() < deadline {
            let r = try programs.run("outpost-admin", ["devices", "enroll", "aigerim"], environment: ["OUTPOST_SERVER": branchURL, "OUTPOST_TOKEN": branchToken])
            if r.status == 0 { repCode = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) } else { Thread.sleep(forTimeInterval: 0.2) }
        }
        guard !repCode.isEmpty else { throw EndToEndTests.CLIFailure("the rep added at head office never reached the branch") }
        _ = try checks.ok(scratch.cli("aigerim"), ["enroll", "--server", branchURL, "--code", repCode, "--device", "aigerim-laptop"])
        let reps = ["aigerim", "bolat"]

        var tally = Tally()
        /// Every import a rep was told succeeded (name prefix, rows), and the ones killed midway.
        var acknowledged: [(prefix: String, rows: Int)] = []
        var uncertain: [(prefix: String, rows: Int, rep: String)] = []
        /// Each acknowledged batch's writer and record ids, and the phone each record was last
        /// given by an acknowledged update.
        var batches: [(prefix: String, writer: String, ids: [String])] = []
        var phones: [String: String] = [:]
        var updates = 0
        var round = 0
        while tally.kills.values.reduce(0, +) < target, round < target * 4 {
            round += 1
            // Ordinary work between kills: a rep imports a small batch and is told it succeeded.
            let writer = reps[Int(rng.next() % 2)]
            let prefix = "r\(round)-\(writer)-"
            let ids = (0..<150).map { _ in UUID().uuidString.lowercased() }
            let imported = try scratch.cli(writer).run(["import", "accounts", try csv(scratch, prefix: prefix, rows: 150, ids: ids)])
            checks.expect(imported.status == 0, "import: \(imported.stderr)")
            if imported.status == 0 {
                acknowledged.append((prefix, 150)); tally.acknowledgedWrites += 150
                batches.append((prefix, writer, ids))
            }
            // And every other round an update of an earlier batch of the same rep: a second
            // change of each of its records, which head office's purges then fold.
            if round % 2 == 0, let earlier = batches.filter({ $0.writer == writer && $0.prefix != prefix }).randomElement(using: &rng) {
                let phone = "+7 702 \(round) "
                let updated = try scratch.cli(writer).run(["import", "accounts", try csv(scratch, prefix: earlier.prefix, rows: 150, ids: earlier.ids, phone: phone)])
                checks.expect(updated.status == 0, "update: \(updated.stderr)")
                if updated.status == 0 {
                    updates += 150
                    for n in 0..<150 { phones[earlier.prefix + String(n)] = phone + String(n) }
                }
            }

            let victim = Victim.allCases[Int(rng.next() % 4)]
            // Within how long the victim's work takes here (an import of 600 rows about 0.2 s
            // in a debug build, a sync of a few hundred changes 0.1-0.4 s), so kills land inside it.
            let window: UInt64 = victim == .repImport ? 200 : victim == .repSync ? 300 : 400
            let delay = Double(rng.next() % window) / 1000
            switch victim {
            case .repImport:
                let rep = reps[Int(rng.next() % 2)]
                let big = "k\(round)-\(rep)-"
                let process = try start("outpost", ["--replica", scratch.path(rep), "import", "accounts", try csv(scratch, prefix: big, rows: 600)])
                if try kill(process, after: delay) {
                    tally.kills[.repImport, default: 0] += 1
                    tally.killedImports += 1
                    uncertain.append((big, 600, rep))
                } else if process.terminationStatus == 0 {
                    acknowledged.append((big, 600)); tally.acknowledgedWrites += 600
                }
            case .repSync:
                let rep = reps[Int(rng.next() % 2)]
                let other = try start("outpost", ["--replica", scratch.path(reps.first { $0 != rep }!), "sync"])
                let process = try start("outpost", ["--replica", scratch.path(rep), "sync"])
                if try kill(process, after: delay) { tally.kills[.repSync, default: 0] += 1 }
                other.waitUntilExit()
            case .branch, .headOffice:
                let server = victim == .branch ? branch : hq
                let syncs = try reps.map { try start("outpost", ["--replica", scratch.path($0), "sync"]) }
                if try kill(server.process, after: delay) { tally.kills[victim, default: 0] += 1 }
                server.process.waitUntilExit()
                for sync in syncs { sync.waitUntilExit() }
                server.process = try programs.startServer(server.data, listen: server.listen, extra: server.extra).0
            }
        }
        print("crash campaign: \(tally) in \(round) rounds")
        checks.expect(tally.kills.values.reduce(0, +) >= target, "kills landed: \(tally)")

        // A killed import committed whole or not at all, on the laptop that ran it.
        var expected: [String: Int] = [:]
        for batch in acknowledged { expected[batch.prefix] = batch.rows }
        for batch in uncertain {
            let present = try count(scratch.path("\(batch.rep)/replica.sqlite"), prefix: batch.prefix)
            checks.expect(present == 0 || present == batch.rows, "a killed import of \(batch.rows) left \(present) rows at \(batch.rep)")
            if present == batch.rows { expected[batch.prefix] = batch.rows }
        }

        // Then everything syncs to the end, and every replica holds every write exactly once.
        let files = ["aigerim/replica.sqlite", "bolat/replica.sqlite", "almaty/replica.sqlite", "hq/replica.sqlite"].map { scratch.path($0) }
        // Every replica agrees on names and on every updated phone.
        func agree(_ file: String) throws -> Bool {
            guard try names(file) == expected else { return false }
            let book = try phoneBook(file)
            return phones.allSatisfy { book[$0.key] == $0.value }
        }
        func settle() throws {
            var settled = false
            let end = Date().addingTimeInterval(120)
            while !settled, Date() < end {
                for rep in reps { _ = try scratch.cli(rep).run(["sync"]) }
                settled = try files.allSatisfy(agree)
                if !settled { Thread.sleep(forTimeInterval: 0.3) }
            }
        }
        try settle()
        // An admin's purge of what every replica has pulled (on top of the periodic ones), then
        // more syncs: nothing moves.
        let purge = try programs.run("outpost-admin", ["retention", "--purge"], environment: office.admin)
        checks.expect(purge.status == 0, "retention --purge: \(purge.stderr)")
        try settle()
        let folded = try DatabaseQueue(path: scratch.path("hq/replica.sqlite")).read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_purged") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM outpost_purged_writes") ?? 0)
        }
        checks.expect(updates == 0 || folded.0 > 0, "head office purged nothing though \(updates) updates were made")
        var lost = 0, duplicated = 0, phonesDiffering = 0
        for file in files {
            let book = try phoneBook(file)
            let wrong = phones.filter { book[$0.key] != $0.value }
            phonesDiffering += wrong.count
            checks.expect(wrong.isEmpty, "\(file): \(wrong.count) updated phones differ, e.g. \(wrong.first.map { "\($0.key): \(book[$0.key] ?? "none") instead of \($0.value)" } ?? "") (seed \(seed))")
            let found = try names(file)
            let differing = Set(expected.keys).union(found.keys).filter { found[$0] != expected[$0] }
            lost += differing.reduce(0) { $0 + max(0, (expected[$1] ?? 0) - (found[$1] ?? 0)) }
            let twice = try duplicates(file)
            duplicated += twice
            checks.expect(differing.isEmpty, "\(file): \(differing.sorted().prefix(10).map { "\($0) \(found[$0] ?? 0)/\(expected[$0] ?? 0)" }) differ (seed \(seed))")
            checks.expect(twice == 0, "\(file) holds \(twice) writes twice (seed \(seed))")
        }
        for server in [hq, branch] { server.process.terminate(); server.process.waitUntilExit() }
        for file in files + [scratch.path("hq/server.sqlite"), scratch.path("almaty/server.sqlite")] {
            let db = try DatabaseQueue(path: file)
            checks.expect(try db.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") } == ["ok"], "\(file)")
            try db.close()
        }
        print("crash campaign: \(tally); writes checked \(expected.values.reduce(0, +)) and updates \(updates) on each of \(files.count) replicas, lost \(lost), duplicated \(duplicated), updated phones differing \(phonesDiffering); head office folded \(folded.0) records (\(folded.1) writes) (seed \(seed))")
    }

    /// A CSV of `rows` accounts named `prefix` + n.
    /// A batch of accounts; with `ids`, rows that name their records (an import of the same
    /// ids again updates them).
    func csv(_ scratch: Scratch, prefix: String, rows: Int, ids: [String]? = nil, phone: String = "+7 701 ") throws -> String {
        var text = ids == nil ? "name,city,phone\n" : "id,name,city,phone\n"
        for n in 0..<rows { text += (ids.map { $0[n] + "," } ?? "") + "\(prefix)\(n),Алматы,\(phone)\(n)\n" }
        let path = scratch.path("\(prefix)\(ids == nil ? "" : phone.filter(\.isNumber))csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func start(_ program: String, _ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = EndToEndTests.binary(program)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Sends SIGKILL after `delay` seconds; true if the process was still running then.
    func kill(_ process: Process, after delay: Double) throws -> Bool {
        Thread.sleep(forTimeInterval: delay)
        guard process.isRunning else { process.waitUntilExit(); return false }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal
    }

    /// How many accounts each batch prefix has in a replica file.
    func names(_ file: String) throws -> [String: Int] {
        let db = try DatabaseQueue(path: file)
        defer { try? db.close() }
        let rows = try db.read { try Row.fetchAll($0, sql: "SELECT name FROM accounts") }
        var byPrefix: [String: Int] = [:]
        for row in rows {
            let name: String = row[0]
            guard let dash = name.lastIndex(of: "-") else { continue }
            byPrefix[String(name[...dash]), default: 0] += 1
        }
        return byPrefix.filter { $0.value > 0 }
    }

    func count(_ file: String, prefix: String) throws -> Int {
        try names(file)[prefix] ?? 0
    }

    /// Each account's phone by name.
    func phoneBook(_ file: String) throws -> [String: String] {
        let db = try DatabaseQueue(path: file)
        defer { try? db.close() }
        return try db.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT name, phone FROM accounts").map { ($0[0] as String, ($0[1] as String?) ?? "") }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Names held by more than one account (a write applied twice under two ids).
    func duplicates(_ file: String) throws -> Int {
        let db = try DatabaseQueue(path: file)
        defer { try? db.close() }
        return try db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM (SELECT name FROM accounts GROUP BY name HAVING count(*) > 1)") } ?? 0
    }
}
