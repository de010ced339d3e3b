import Foundation
import OutpostTestSupport
import Testing

/// The three programs as real processes: a server, the admin tool and two reps' `outpost`.
@Suite(.serialized)
struct EndToEndTests {
    static func binary(_ name: String) -> URL { CLI.productsDirectory.appendingPathComponent(name) }

    /// Runs a program to completion.
    func run(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CLI.Result {
        let p = Process()
        p.executableURL = Self.binary(name)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLI.Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Starts `outpost-server` on a free port and returns it with its URL.
    func startServer(_ data: String, listen: String = "127.0.0.1:0", extra: [String] = []) throws -> (Process, String) {
        let p = Process()
        p.executableURL = Self.binary("outpost-server")
        p.arguments = ["--data", data, "--listen", listen, "--log-level", "error"] + extra
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var seen = ""
        while !seen.contains("listening on ") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = seen.range(of: "listening on ") else { throw CLIFailure("server did not start: \(seen)") }
        let url = String(seen[range.upperBound...].prefix { !$0.isWhitespace })
        return (p, url)
    }

    /// A running `outpost-server` with an admin token, and each rep enrolled in `scratch.cli(rep)`.
    func headOffice(_ scratch: Scratch, reps: [String]) throws -> (server: Process, url: String, admin: [String: String]) {
        let (server, url) = try startServer(scratch.path("hq"))
        let token = try run("outpost-server", ["token", "--data", scratch.path("hq")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let admin = ["OUTPOST_SERVER": url, "OUTPOST_TOKEN": token]
        for rep in reps {
            _ = try run("outpost-admin", ["users", "add", rep, "--role", "rep", "--scope", "all"], environment: admin)
            let code = try run("outpost-admin", ["devices", "enroll", rep], environment: admin).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try scratch.cli(rep).ok(["enroll", "--server", url, "--code", code, "--device", "\(rep)-laptop"])
        }
        return (server, url, admin)
    }

    struct CLIFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    @Test func serverAdminEnrollSyncAndStatus() throws {
        let scratch = Scratch()
        let (server, url) = try startServer(scratch.path("hq"))
        defer { if server.isRunning { server.terminate() } }
        let token = try run("outpost-server", ["token", "--data", scratch.path("hq")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("opa_"))
        let admin = ["OUTPOST_SERVER": url, "OUTPOST_TOKEN": token]
        #expect(try run("outpost-admin", ["users", "add", "aigerim", "--role", "rep", "--scope", "branch=almaty"], environment: admin).status == 0)
        #expect(try run("outpost-admin", ["users", "add", "bolor", "--role", "rep", "--scope", "all"], environment: admin).status == 0)
        let badRole = try run("outpost-admin", ["users", "add", "x", "--role", "king", "--scope", "all"], environment: admin)
        #expect(badRole.status != 0 && badRole.stderr.contains("Role must be rep, manager, admin or branch"))
        let forged = try run("outpost-admin", ["devices", "list"], environment: ["OUTPOST_SERVER": url, "OUTPOST_TOKEN": "opa_forged"])
        #expect(forged.status != 0 && forged.stderr.contains("admin token is required"))

        let codeJSON = try run("outpost-admin", ["devices", "enroll", "aigerim", "--json"], environment: admin).stdout
        let code = (try JSONSerialization.jsonObject(with: Data(codeJSON.utf8)) as! [String: String])["code"]!
        let bolorCode = try run("outpost-admin", ["devices", "enroll", "bolor"], environment: admin).stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let a = scratch.cli("aigerim"), b = scratch.cli("bolor")
        _ = try a.ok(["enroll", "--server", url, "--code", code, "--device", "aigerim-laptop"])
        _ = try b.ok(["enroll", "--server", url, "--code", bolorCode, "--device", "bolor-laptop"])
        let reused = try scratch.cli("thief").run(["enroll", "--server", url, "--code", code])
        #expect(reused.status != 0 && reused.stderr.contains("unknown, used or expired"))

        let account = try a.ok(["add", "accounts", "name=Тумэн ХХК", "city=Улаанбаатар", "branch=almaty"])
        let deal = try a.ok(["add", "deals", "account_id=\(account)", "title=Fleet", "stage=lead"])
        let summary = try JSONSerialization.jsonObject(with: Data(try a.ok(["sync", "--json"]).utf8)) as! [String: Any]
        #expect(summary["pushed"] as? Int == 2)
        _ = try b.ok(["sync"])
        _ = try b.ok(["edit", "deals", deal, "stage=won"])
        _ = try a.ok(["edit", "deals", deal, "stage=lost"])
        _ = try b.ok(["sync"])
        _ = try a.ok(["sync"])
        _ = try b.ok(["sync"])
        let shownA = try a.ok(["show", "deals", deal, "--json"]), shownB = try b.ok(["show", "deals", deal, "--json"])
        #expect(shownA == shownB)
        #expect(shownA.contains("concurrent-values"))
        let status = try JSONSerialization.jsonObject(with: Data(try a.ok(["status", "--json"]).utf8)) as! [String: Any]
        #expect(status["server"] as? String == url)
        #expect(status["pending"] as? Int == 0)
        #expect(status["conflicts"] as? Int == 1)
        #expect(status["last_sync"] is String)
        let devices = try run("outpost-admin", ["devices", "list", "--json"], environment: admin).stdout
        #expect(devices.contains("aigerim-laptop") && devices.contains("bolor-laptop"))

        // SIGTERM stops the server gracefully; a sync then says the server is unreachable and keeps the change.
        server.terminate()
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
        _ = try a.ok(["edit", "deals", deal, "probability=10"])
        let offline = try a.run(["sync"])
        #expect(offline.status == 75, "a stopped server has its own exit status: \(offline.stderr)")
        #expect(offline.stderr.contains("Cannot sync with \(url): nothing answers at that address"), "\(offline.stderr)")
        #expect(offline.stderr.contains("Your 1 change waits safely"), "\(offline.stderr)")
        let offlineJSON = try a.run(["sync", "--json"])
        let error = (try JSONSerialization.jsonObject(with: Data(offlineJSON.stdout.utf8)) as? [String: Any])?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "connection-refused" && error?["pending"] as? Int == 1, "\(offlineJSON.stdout)")
        let after = try JSONSerialization.jsonObject(with: Data(try a.ok(["status", "--json"]).utf8)) as! [String: Any]
        #expect(after["pending"] as? Int == 1)
    }

    /// The rep copies the replica folder to a second laptop and works on both: the second to
    /// sync says in one sentence that it took a new id, and everything reaches a colleague once.
    @Test func aCopiedFolderOnASecondLaptopLosesNothing() throws {
        let scratch = Scratch()
        let office = try headOffice(scratch, reps: ["aigerim", "bolor"])
        defer { if office.server.isRunning { office.server.terminate() } }
        let a = scratch.cli("aigerim"), b = scratch.cli("bolor")
        let account = try a.ok(["add", "accounts", "name=Алтын-Ай"])
        _ = try a.ok(["sync"])
        let shared = try a.ok(["add", "tasks", "title=Written before the copy", "account_id=\(account)"])
        try FileManager.default.copyItem(atPath: scratch.path("aigerim"), toPath: scratch.path("aigerim-copy"))
        let copy = scratch.cli("aigerim-copy")
        let onOriginal = try a.ok(["add", "tasks", "title=On the first laptop"])
        let onCopy = try copy.ok(["add", "tasks", "title=On the second laptop"])

        let first = try a.ok(["sync"])
        #expect(!first.contains("now writes as replica"))
        let second = try copy.ok(["sync"])
        #expect(second.contains("This replica folder is a copy of another folder"), "\(second)")
        #expect(second.contains("nothing was lost"))
        _ = try a.ok(["sync"])
        _ = try b.ok(["sync"])
        let tasks = try b.ok(["list", "tasks", "--json"])
        for id in [shared, onOriginal, onCopy] { #expect(tasks.contains(id), "bolor lacks \(id)") }
        let status = try JSONSerialization.jsonObject(with: Data(try copy.ok(["status", "--json"]).utf8)) as! [String: Any]
        #expect(status["pending"] as? Int == 0)
        #expect((status["previous_replicas"] as? [String])?.isEmpty == false)
        let devices = try run("outpost-admin", ["devices", "list", "--json"], environment: office.admin).stdout
        #expect(devices.contains("\"copies\""), "\(devices)")
    }

    /// A server that accepts the connection and never answers: `outpost sync --timeout` gives
    /// up, says so with the exit status for an unreachable server, and keeps the changes.
    @Test func aSilentServerIsReportedAndChangesWait() throws {
        let scratch = Scratch()
        let office = try headOffice(scratch, reps: ["aigerim"])
        defer { if office.server.isRunning { office.server.terminate() } }
        let a = scratch.cli("aigerim")
        _ = try a.ok(["add", "tasks", "title=Call back"])
        _ = try a.ok(["add", "tasks", "title=Send the offer"])
        let silent = try SilentServer()
        defer { silent.stop() }
        let r = try a.run(["sync", "--server", silent.url, "--timeout", "1", "--json"])
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.contains("did not answer within 1 s") && r.stderr.contains("Your 2 changes wait safely"), "\(r.stderr)")
        let error = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "server-silent" && error?["pending"] as? Int == 2, "\(r.stdout)")
        let summary = try JSONSerialization.jsonObject(with: Data(try a.ok(["sync", "--json"]).utf8)) as! [String: Any]
        #expect(summary["pushed"] as? Int == 2)
    }

    @Test func demoRunsAndConverges() throws {
        let r = try run("outpost", ["demo"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("All four replicas (head office, Almaty, aigerim, bolor) hold identical records."))
        #expect(r.stdout.contains("laptop → Almaty → head office → bolor: the same write"))
        #expect(r.stdout.contains("conflict"))
        #expect(r.stdout.contains("probable duplicate"))
        #expect(r.stdout.contains("aigerim's laptop: deal stage won, 0 open conflicts, 1 customer Тумэн ХХК"))
        #expect(r.stdout.contains("bolor's laptop: deal stage won, 0 open conflicts, 1 customer Тумэн ХХК"))
        #expect(r.stdout.contains("audit: aigul conflict-resolved, aigul duplicates-merged"))
    }
}
