import Foundation
import GRDB
import OutpostCore
import OutpostSchema
import OutpostStore
import Testing

/// A replica killed with SIGKILL in the middle of a large apply holds either none or all of the
/// batch, and its file passes `PRAGMA integrity_check`; the next apply simply finishes.
struct CrashTests {
    static let batchSize = 20_000

    /// JSON lines of `count` account creations by a replica "hq-source".
    static func batchFile(_ scratch: Scratch) throws -> String {
        let rules = try Schema.crmRules("accounts")
        let author = Author(user: "importer", device: "hq")
        var text = ""
        text.reserveCapacity(batchSize * 600)
        for n in 0..<batchSize {
            let id = "0190a000-0000-7000-8000-\(String(format: "%012x", n))"
            let stamp = WriteStamp(dot: Dot(try ReplicaID("hq-source"), UInt64(n + 1)),
                                   hlc: HLCTimestamp(wallMillis: 1_764_000_000_000 + UInt64(n)), author: author)
            let change = try RecordState().write([.set("name", .string("Клиент №\(n)")), .set("city", .string("Алматы")),
                                                  .set("phone", .string("+7 701 \(n)")), .set("tags", .makeSet(["imported"]))],
                                                 stamp: stamp, rules: rules, recordID: id)
            text += change.json.canonicalText + "\n"
        }
        let path = scratch.path("batch.jsonl")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func killDuringApplyLeavesBeforeOrAfter() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "u"])
        let file = try Self.batchFile(scratch)
        let replicaFile = scratch.path("replica/replica.sqlite")
        var outcomes: [Int] = []
        for delay in [0.05, 0.4, 1.0] {
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["--replica", scratch.path("replica"), "_apply", file, "--origin", "hq"]
            let err = Pipe()
            process.standardError = err
            process.standardOutput = Pipe()
            try process.run()
            var seen = ""
            while !seen.contains("applying") {
                let chunk = err.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen += String(decoding: chunk, as: UTF8.self)
            }
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            let db = try DatabaseQueue(path: replicaFile)
            let check = try db.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") }
            #expect(check == ["ok"])
            let feed = try db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM outpost_feed") } ?? -1
            let rows = try db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM accounts") } ?? -1
            let states = try db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM outpost_records") } ?? -1
            #expect(feed == 0 || feed == Self.batchSize, "partial batch after kill at \(delay)s: \(feed)")
            #expect(rows == feed && states == feed)
            outcomes.append(feed)
            try db.close()
            if feed == Self.batchSize { break }
        }
        // Whatever happened, running the apply again finishes the job exactly once.
        let result = try cli.ok(["_apply", file, "--origin", "hq"])
        #expect(result.hasPrefix("applied") )
        let db = try DatabaseQueue(path: replicaFile)
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM accounts") } == Self.batchSize)
        #expect(outcomes.contains(0), "the kill never landed inside the transaction: \(outcomes)")
    }
}

extension Schema {
    static func crmRules(_ collection: String) throws -> CollectionRules { try Schema.crm.collection(collection).rules }
}
