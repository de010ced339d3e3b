import Foundation
import GRDB
import Testing

/// Whether this machine lets the tests mount a small filesystem: root, with mount(8), and a
/// trial mount works (a container may refuse it even to root).
let canMountSmallDisks: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return false }
    let trial = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-mount-\(UUID().uuidString)").path
    guard (try? FileManager.default.createDirectory(atPath: trial, withIntermediateDirectories: true)) != nil else { return false }
    defer { try? FileManager.default.removeItem(atPath: trial) }
    func run(_ arguments: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: arguments[0])
        p.arguments = Array(arguments.dropFirst())
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
    guard run(["/bin/mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", trial]) else { return false }
    return run(["/bin/umount", trial])
}()

/// A replica or a server whose disk fills during a sync: a real small filesystem (tmpfs) under
/// the folder, real processes. The sync stops with a "disk full" sentence, loses nothing, keeps
/// its position, and finishes from there once the disk is made larger.
///
/// Mounting needs root (CI runs as root); elsewhere these tests are skipped.
@Suite(.serialized, .enabled(if: canMountSmallDisks, "mounting a small filesystem needs root"))
struct FullDiskTests {
    let programs = EndToEndTests()

    /// A tmpfs of `kilobytes` at `path` (created), or a failure saying why.
    func mount(_ path: String, kilobytes: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try sh("/bin/mount", "-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path)
    }

    func grow(_ path: String) throws { try sh("/bin/mount", "-o", "remount,size=64m", path) }

    func unmount(_ path: String) { try? sh("/bin/umount", path) }

    func sh(_ program: String, _ arguments: String...) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw EndToEndTests.CLIFailure("\(program) \(arguments.joined(separator: " ")): \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
    }

    /// A CSV of `rows` accounts.
    func csv(_ scratch: Scratch, rows: Int) throws -> String {
        var text = "name,city,address\n"
        for n in 0..<rows { text += "Клиент \(n),Алматы,\"проспект Абая \(n), офис \(n % 300)\"\n" }
        let path = scratch.path("accounts-\(rows).csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func count(_ file: String, _ sql: String = "SELECT count(*) FROM accounts") throws -> Int {
        let db = try DatabaseQueue(path: file)
        defer { try? db.close() }
        return try db.read { try Int.fetchOne($0, sql: sql) } ?? -1
    }

    func integrity(_ file: String) throws -> [String] {
        let db = try DatabaseQueue(path: file)
        defer { try? db.close() }
        return try db.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") }
    }

    /// The laptop's disk fills while it pulls 4,000 accounts: the rep's own edit went up first,
    /// the pages that fit are kept, and after the disk grows the sync fetches only the rest.
    @Test func aLaptopWhoseDiskFillsKeepsItsPlaceAndFinishes() async throws {
        try await offThePool { checks in try self.laptopDiskFills(checks) }
    }

    func laptopDiskFills(_ checks: Checks) throws {
        let scratch = Scratch()
        let office = try programs.headOffice(scratch, reps: ["bolat"])
        defer { office.server.terminate(); office.server.waitUntilExit() }
        let bolat = scratch.cli("bolat")
        _ = try checks.ok(bolat, ["import", "accounts", try csv(scratch, rows: 4_000)])
        _ = try checks.ok(bolat, ["sync"])

        let folder = scratch.path("aigerim")
        try mount(folder, kilobytes: 1_500)
        defer { unmount(folder) }
        _ = try programs.run("outpost-admin", ["users", "add", "aigerim", "--role", "rep", "--scope", "all"], environment: office.admin)
        let code = try programs.run("outpost-admin", ["devices", "enroll", "aigerim"], environment: office.admin).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let aigerim = scratch.cli("aigerim")
        _ = try checks.ok(aigerim, ["enroll", "--server", office.url, "--code", code, "--device", "aigerim-laptop"])
        _ = try checks.ok(aigerim, ["add", "accounts", "name=Written before the disk filled"])

        let full = try aigerim.run(["sync"])
        checks.expect(full.status != 0)
        checks.expect(full.stderr.contains("The disk is full") && full.stderr.contains("everything before it is kept"), "\(full.stderr)")
        let file = folder + "/replica.sqlite"
        let kept = try count(file) - 1
        checks.expect(kept < 4_000, "the disk never filled (\(kept) accounts arrived)")
        checks.expect(try integrity(file) == ["ok"])
        // The rep's own edit is still there (and went up before the pull filled the disk).
        checks.expect(try count(file, "SELECT count(*) FROM accounts WHERE name = 'Written before the disk filled'") == 1)

        try grow(folder)
        let done = try aigerim.run(["sync", "--json"])
        checks.expect(done.status == 0, "\(done.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [String: Any] ?? [:]
        checks.expect(report["pulled"] as? Int == 4_000 - kept, "only what was not kept is fetched again: \(report)")
        checks.expect(try count(file) == 4_001)
        checks.expect(try integrity(file) == ["ok"])
        _ = try checks.ok(bolat, ["sync"])
        checks.expect(try count(scratch.path("bolat/replica.sqlite"), "SELECT count(*) FROM accounts WHERE name = 'Written before the disk filled'") == 1)
    }

    /// Head office's disk fills while a rep pushes 4,000 accounts: the rep hears that the
    /// server's disk is full, keeps every change, and once the disk grows the next sync brings
    /// them all up exactly once.
    @Test func aServerWhoseDiskFillsKeepsNothingHalfAndTakesItAllLater() async throws {
        try await offThePool { checks in try self.serverDiskFills(checks) }
    }

    func serverDiskFills(_ checks: Checks) throws {
        let scratch = Scratch()
        let data = scratch.path("hq")
        try mount(data, kilobytes: 1_200)
        defer { unmount(data) }
        let office = try programs.headOffice(scratch, reps: ["aigerim"])
        let aigerim = scratch.cli("aigerim")
        _ = try checks.ok(aigerim, ["import", "accounts", try csv(scratch, rows: 4_000)])

        let full = try aigerim.run(["sync"])
        checks.expect(full.status != 0)
        checks.expect(full.stderr.contains("server's disk is full"), "\(full.stderr)")
        let status = try checks.ok(aigerim, ["status"])
        checks.expect(status.contains("Pending local changes (not yet acknowledged by the server): "), "\(status)")
        let serverHeld = try count(data + "/replica.sqlite")
        checks.expect(serverHeld < 4_000)
        let health = try programs.run("outpost-admin", ["stats"], environment: office.admin)
        checks.expect(health.status == 0, "the server still answers: \(health.stderr)")

        try grow(data)
        let done = try aigerim.run(["sync"])
        checks.expect(done.status == 0, "\(done.stderr)")
        checks.expect(try checks.ok(aigerim, ["status"]).contains("Pending local changes (not yet acknowledged by the server): 0"))
        office.server.terminate()
        office.server.waitUntilExit()
        checks.expect(try count(data + "/replica.sqlite") == 4_000)
        checks.expect(try count(data + "/replica.sqlite", "SELECT count(*) FROM (SELECT name FROM accounts GROUP BY name HAVING count(*) > 1)") == 0)
        checks.expect(try integrity(data + "/replica.sqlite") == ["ok"])
        checks.expect(try integrity(data + "/server.sqlite") == ["ok"])
    }
}
