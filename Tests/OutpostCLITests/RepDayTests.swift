import Foundation
import Testing

/// The rep's day: times in the rep's zone, search from the command line, short ids.
struct RepDayTests {
    func value(_ json: String, _ key: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let values = object["values"] as? [String: Any] else { return nil }
        return values[key] as? String
    }

    @Test(arguments: [("Asia/Almaty", "2026-11-25T05:00:00.000Z", "2026-11-25T10:00:00.000+05:00"),
                      ("Asia/Ho_Chi_Minh", "2026-11-25T03:00:00.000Z", "2026-11-25T10:00:00.000+07:00")])
    func aDueTimeTypedInTheRepsZoneIsDueThenAndShownAsTyped(zone: String, instant: String, local: String) throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        let env = ["TZ": zone]
        _ = try cli.ok(["init", "--user", "aigerim"])
        let typed = try cli.run(["add", "tasks", "title=Позвонить в Тумэн", "due_at=2026-11-25 10:00"], environment: env)
        #expect(typed.status == 0, "\(typed.stderr)")
        let id = typed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Stored as the instant: the plain table holds UTC, which any SQL reader compares.
        #expect(try shell(scratch.path("replica/replica.sqlite"), "SELECT due_at FROM tasks") == instant)
        #expect(try cli.run(["show", "tasks", id], environment: env).stdout.contains("due_at      2026-11-25 10:00\n"))
        #expect(value(try cli.run(["show", "tasks", id, "--json"], environment: env).stdout, "due_at") == local)
        // In UTC the same task shows the instant's UTC wall clock.
        #expect(try cli.ok(["show", "tasks", id]).contains("due_at      2026-11-25 \(instant.dropFirst(11).prefix(5))\n"))
        // The rep's local day decides: due today at 09:00 there, overdue the next morning.
        let morning = try cli.run(["tasks", "--at", "2026-11-25 09:00"], environment: env).stdout
        #expect(morning.contains("today    2026-11-25 10:00  Позвонить в Тумэн"), "\(morning)")
        let next = try cli.run(["tasks", "--at", "2026-11-26 00:30"], environment: env).stdout
        #expect(next.contains("OVERDUE  2026-11-25 10:00"), "\(next)")
        let dayBefore = try cli.run(["tasks", "--at", "2026-11-24 23:30"], environment: env).stdout
        #expect(dayBefore.contains("Nothing due today."), "\(dayBefore)")
        // --tz overrides the laptop's zone; a zone named in the text overrides both.
        #expect(try cli.run(["--tz", "UTC", "show", "tasks", id], environment: env).stdout.contains("2026-11-25 \(instant.dropFirst(11).prefix(5))"))
        _ = try cli.run(["edit", "tasks", id, "due_at=2026-11-25T10:00Z"], environment: env)
        #expect(try shell(scratch.path("replica/replica.sqlite"), "SELECT due_at FROM tasks") == "2026-11-25T10:00:00.000Z")
        // Dates stay the day typed, whatever the zone.
        let account = try cli.ok(["add", "accounts", "name=Тумэн ХХК"])
        let deal = try cli.run(["add", "deals", "account_id=\(account)", "title=Поставка", "expected_close=2026-12-01"], environment: ["TZ": "Pacific/Kiritimati"])
        #expect(deal.status == 0, "\(deal.stderr)")
        #expect(try shell(scratch.path("replica/replica.sqlite"), "SELECT expected_close FROM deals") == "2026-12-01")
        let wrong = try cli.run(["--tz", "Asia/Nowhere", "list", "tasks"])
        #expect(wrong.status != 0 && wrong.stderr.contains("There is no time zone 'Asia/Nowhere'"))
    }

    @Test func searchFindsACustomerHoweverTheNameIsTyped() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        let tumen = try cli.ok(["add", "accounts", "name=Тумэн ХХК", "city=Улаанбаатар", "phone=+976 9911 2233"])
        let thanh = try cli.ok(["add", "accounts", "name=Công ty TNHH Nguyễn Văn Thành", "city=Hà Nội"])
        _ = try cli.ok(["add", "accounts", "name=ТОО Алтын-Ай", "city=Алматы"])
        for query in ["тумэн", "tumen", "ТУМЭН", "9911 22"] {
            let found = try cli.ok(["search", query])
            #expect(found.contains(tumen) && found.contains("Тумэн ХХК") && !found.contains("Алтын"), "\(query): \(found)")
        }
        #expect(try cli.ok(["search", "nguyen van thanh"]).contains(thanh))
        #expect(try cli.ok(["search", "thanh", "--json"]).contains("\"id\":\"\(thanh)\""))
        #expect(try cli.ok(["search", "zzqxw"]).contains("Nothing found"))
        let empty = try cli.run(["search", "«»"])
        #expect(empty.status != 0 && empty.stderr.contains("at least one letter or digit"))
    }
}

/// Runs one query through the sqlite3 shell and returns its output, trimmed.
func shell(_ file: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [file, sql]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// `list --where` beyond equality: contains, and comparisons of numbers, dates and times.
struct ListConditionTests {
    @Test func containsAndComparisonsFilterAsTyped() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        let account = try cli.ok(["add", "accounts", "name=Тумэн ХХК"])
        let big = try cli.ok(["add", "deals", "account_id=\(account)", "title=Большая поставка", "amount=2500000"])
        let small = try cli.ok(["add", "deals", "account_id=\(account)", "title=Малая поставка", "amount=999999.99"])
        let edge = try cli.ok(["add", "deals", "account_id=\(account)", "title=Ровно", "amount=1000000"])
        func ids(_ arguments: [String], env: [String: String] = [:]) throws -> Set<String> {
            let result = try cli.run(["list"] + arguments + ["--json"], environment: env)
            #expect(result.status == 0, "\(result.stderr)")
            let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
            return Set(rows.compactMap { $0["id"] as? String })
        }
        #expect(try ids(["deals", "--where", "amount>1000000"]) == [big])
        #expect(try ids(["deals", "--where", "amount>=1000000"]) == [big, edge])
        #expect(try ids(["deals", "--where", "amount<1000000"]) == [small])
        #expect(try ids(["deals", "--where", "title~ПОСТАВКА", "--where", "amount<=1000000"]) == [small])
        #expect(try ids(["accounts", "--where", "name~tumen"]) == [account])
        // A day against a time is the start of that day on the rep's clock.
        let late = try cli.ok(["add", "tasks", "title=Вечер", "due_at=2026-11-30T23:00Z"])
        let early = try cli.ok(["add", "tasks", "title=Утро", "due_at=2026-11-30T10:00Z"])
        #expect(try ids(["tasks", "--where", "due_at<2026-12-01"]) == [late, early])
        #expect(try ids(["tasks", "--where", "due_at<2026-12-01"], env: ["TZ": "Asia/Almaty"]) == [early])
        // The whole id is shown, so it can be copied.
        #expect(try cli.ok(["list", "deals"]).contains(account))
        let refused = try cli.run(["list", "accounts", "--where", "tags>3"])
        #expect(refused.status != 0 && refused.stderr.contains("cannot be compared"))
        let typo = try cli.run(["list", "deals", "--where", "amount>lots"])
        #expect(typo.status != 0 && typo.stderr.contains("decimal number"))
    }
}

/// A rep types the start of an id, not all 36 characters.
struct ShortIDTests {
    @Test func aUniqueStartOfAnIdWorksInShowEditDeleteAndReferences() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        let tumen = try cli.ok(["add", "accounts", "name=Тумэн ХХК"])
        let altyn = try cli.ok(["add", "accounts", "name=ТОО Алтын-Ай"])
        // Made within the same second: UUIDv7 ids share their first characters.
        var common = 0
        while tumen[tumen.index(tumen.startIndex, offsetBy: common)] == altyn[altyn.index(altyn.startIndex, offsetBy: common)] { common += 1 }
        let short = String(tumen.prefix(max(common + 1, 4)))
        #expect(try cli.ok(["show", "accounts", short]).contains("Тумэн ХХК"))
        _ = try cli.ok(["edit", "accounts", short.uppercased(), "city=Улаанбаатар"])
        #expect(try cli.ok(["show", "accounts", tumen]).contains("Улаанбаатар"))
        let deal = try cli.ok(["add", "deals", "account_id=\(short)", "title=Поставка"])
        #expect(try cli.ok(["show", "deals", deal, "--json"]).contains("\"account_id\":\"\(tumen)\""))
        #expect(try cli.ok(["history", "accounts", short]).contains("city=Улаанбаатар"))
        // The start both ids share (their millisecond clock, at least 8 characters) is
        // refused, naming them; nothing changes.
        #expect(common >= 8)
        let ambiguous = try cli.run(["edit", "accounts", String(tumen.prefix(common)), "city=Алматы"])
        #expect(ambiguous.status != 0 && ambiguous.stderr.contains("type more of the id") && ambiguous.stderr.contains(altyn))
        #expect(try cli.ok(["show", "accounts", altyn]).contains("Алматы") == false)
        let nothing = try cli.run(["show", "accounts", "ffff"])
        #expect(nothing.status != 0 && nothing.stderr.contains("There is no accounts record with id ffff"))
        _ = try cli.ok(["delete", "deals", String(deal.prefix(max(common + 1, 4)))])
        #expect(try cli.ok(["list", "deals", "--json"]) == "[]")
    }
}

/// Messages a rep can act on: where the replica is, and failures in one sentence.
struct RepMessagesTests {
    /// Runs `outpost` with no --replica, as a newcomer does.
    func bare(_ arguments: [String], home: String, extra: [String: String] = [:]) throws -> CLI.Result {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home
        env["TZ"] = "UTC"
        env.removeValue(forKey: "OUTPOST_REPLICA")
        env.removeValue(forKey: "XDG_DATA_HOME")
        for (k, v) in extra { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLI.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func theReplicaLivesInTheUsersDataFolderAndStatusSaysWhere() throws {
        let scratch = Scratch()
        let home = scratch.path("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        #expect(try bare(["init", "--user", "aigerim"], home: home).status == 0)
        let folder = home + "/.local/share/outpost"
        #expect(FileManager.default.fileExists(atPath: folder + "/replica.sqlite"))
        #expect(try bare(["status"], home: home).stdout.contains("in \(folder)"))
        // XDG_DATA_HOME moves it; an earlier ~/.outpost is kept where it is.
        let data = scratch.path("data")
        #expect(try bare(["init", "--user", "bolor"], home: home, extra: ["XDG_DATA_HOME": data]).status == 0)
        #expect(FileManager.default.fileExists(atPath: data + "/outpost/replica.sqlite"))
        let older = scratch.path("older")
        try FileManager.default.createDirectory(atPath: older + "/.outpost", withIntermediateDirectories: true)
        _ = try CLI(replica: older + "/.outpost").ok(["init", "--user", "dilnoza"])
        #expect(try bare(["status"], home: older).stdout.contains("dilnoza"))
    }

    @Test func aDamagedReplicaIsOneSentenceNotALibraryError() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        try Data("this is not a database, but a rep's accident\n".utf8).write(to: URL(fileURLWithPath: scratch.path("replica/replica.sqlite")))
        for path in ["replica/replica.sqlite-wal", "replica/replica.sqlite-shm"] { try? FileManager.default.removeItem(atPath: scratch.path(path)) }
        let result = try cli.run(["list", "accounts"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("is damaged or is not an Outpost replica") && !result.stderr.contains("SQLite error") && !result.stderr.contains("PRAGMA"), "\(result.stderr)")
    }
}

/// The user's zone set at head office reaches the laptop at its next sync.
@Suite(.serialized)
struct UserTimeZoneEndToEndTests {
    let programs = EndToEndTests()

    @Test func aZoneSetAtHeadOfficeAppliesWhereTheLaptopHasNone() throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: [])
        defer { if office.server.isRunning { office.server.terminate() } }
        func admin(_ args: [String]) throws -> CLI.Result { try programs.run("outpost-admin", args, environment: office.admin) }
        let wrong = try admin(["users", "add", "dilnoza", "--role", "rep", "--scope", "all", "--tz", "Asia/Samarkand-City"])
        #expect(wrong.status != 0 && wrong.stderr.contains("There is no time zone 'Asia/Samarkand-City'"))
        #expect(try admin(["users", "add", "dilnoza", "--role", "rep", "--scope", "all", "--tz", "Asia/Tashkent"]).status == 0)
        #expect(try admin(["users", "list"]).stdout.contains("Asia/Tashkent"))
        let code = try admin(["devices", "enroll", "dilnoza"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let cli = scratch.cli("dilnoza")
        _ = try cli.ok(["enroll", "--server", office.url, "--code", code, "--device", "dilnoza-laptop"])
        _ = try cli.ok(["sync"])
        // A laptop without TZ takes the user's zone; TZ on the laptop or --tz still win.
        let noZone = ["TZ": ""]
        let id = try cli.run(["add", "tasks", "title=Qoʻngʻiroq", "due_at=2026-11-25 10:00"], environment: noZone).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try shell(scratch.path("dilnoza/replica.sqlite"), "SELECT due_at FROM tasks") == "2026-11-25T05:00:00.000Z")
        #expect(try cli.run(["show", "tasks", id], environment: noZone).stdout.contains("2026-11-25 10:00"))
        #expect(try cli.ok(["show", "tasks", id]).contains("2026-11-25 05:00"))
        #expect(try cli.run(["--tz", "Asia/Ho_Chi_Minh", "show", "tasks", id], environment: noZone).stdout.contains("2026-11-25 12:00"))
        // Cleared at head office: the laptop's own zone applies after the next sync.
        #expect(try admin(["users", "edit", "dilnoza", "--tz", ""]).status == 0)
        _ = try cli.ok(["sync"])
        #expect(try cli.run(["show", "tasks", id], environment: noZone).stdout.contains("2026-11-25 05:00"))
    }
}
