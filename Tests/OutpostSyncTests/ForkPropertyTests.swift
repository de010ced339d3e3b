//! Property: whatever copies, restores and forks happen to replica folders between syncs,
//! every write made anywhere ends up at head office exactly once, and every folder still in
//! use converges to head office's records with nothing pending.
//!
//! Each schedule runs a real server on loopback and real replica files. Folders write (new
//! tasks, edits of tasks they hold), sync, are copied byte for byte to a "second laptop",
//! backed up, restored from an older backup beside or instead of the original, and retired
//! (after a last sync: a laptop that dies with unsynced work loses it by physics, not by
//! Outpost). Every write sets a unique marker value; at the end each marker must appear at head
//! office in exactly one write. `OUTPOST_FORK_SCHEDULES` sets how many schedules run.
import Foundation
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostTestSupport
import OutpostWire
import Testing

@Suite(.serialized)
struct ForkPropertyTests {
    static let schedules = Int(ProcessInfo.processInfo.environment["OUTPOST_FORK_SCHEDULES"] ?? "") ?? 12

    struct Folder {
        let name: String
        let replica: Replica
    }

    /// What one schedule did, for the coverage check.
    struct Tally {
        var copies = 0, restores = 0, forksHealed = 0, adoptedNames = 0, writes = 0
    }

    @Test(arguments: (1...schedules).map { UInt64($0) })
    func copiesRestoresAndForksLoseNothing(seed: UInt64) async throws {
        let tally = try await Self.run(seed: seed, steps: 60)
        #expect(tally.writes > 0)
    }

    /// The schedules really copy, restore and heal, including copies of copies that adopt names.
    @Test func schedulesCoverForksOfEveryKind() async throws {
        var total = Tally()
        for seed in UInt64(1)...8 {
            let t = try await Self.run(seed: 1_000 + seed, steps: 60)
            total.copies += t.copies
            total.restores += t.restores
            total.forksHealed += t.forksHealed
            total.adoptedNames += t.adoptedNames
        }
        #expect(total.copies > 0 && total.restores > 0 && total.forksHealed > 0)
        #expect(total.adoptedNames > 0, "no schedule made a copy of a copy that shares writes with an earlier healed copy")
    }

    static func run(seed: UInt64, steps: Int) async throws -> Tally {
        var rng = SplitMix64(seed: seed)
        var tally = Tally()
        let scratch = TempFolder()
        let server = try await TestServer.start(scratch)
        var folders = [Folder(name: "aigerim", replica: try await server.enroll(scratch, user: "aigerim")),
                       Folder(name: "bolor", replica: try await server.enroll(scratch, user: "bolor"))]
        var backups: [String] = []
        var markers: [String] = []
        var made = 0
        func fresh() -> String {
            made += 1
            return "s\(seed)-\(made)"
        }
        func sync(_ folder: Folder) async throws {
            let summary = try await SyncEngine(replica: folder.replica).sync()
            if let fork = summary.fork {
                tally.forksHealed += 1
                #expect(fork.newReplica == folder.replica.replicaID.rawValue)
            }
        }

        for _ in 0..<steps {
            let i = Int.random(in: 0..<folders.count, using: &rng)
            let folder = folders[i]
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30:
                let marker = fresh()
                if Bool.random(using: &rng) {
                    _ = try folder.replica.insert("tasks", ["title": .string(marker)])
                } else {
                    // A field group and a decimal: values whose encoding must not depend on dictionary order.
                    _ = try folder.replica.insert("deals", ["title": .string(marker), "account_id": .reference("0190a000-0000-7000-8000-00000000acc1"), "amount": .decimal(try DecimalNumber("\(made).50")),
                                                           "currency": .string(["KZT", "UZS", "USD"].randomElement(using: &rng)!)])
                }
                markers.append(marker)
            case 30..<45:
                let collection = Bool.random(using: &rng) ? "tasks" : "deals"
                guard let record = try folder.replica.query(collection).randomElement(using: &rng) else { continue }
                let marker = fresh()
                var writes: [FieldWrite] = [.set("title", .string(marker))]
                if collection == "deals" { writes += [.set("amount", .decimal(try DecimalNumber("\(made)"))), .set("currency", .string("RUB"))] }
                try folder.replica.update(collection, id: record.id, writes)
                markers.append(marker)
            case 45..<70:
                try await sync(folder)
            case 70..<80:
                guard folders.count < 8 else { continue }
                folders.append(Folder(name: fresh(), replica: try copyFolder(of: folder.replica, to: scratch.path("copy-\(made)"))))
                tally.copies += 1
            case 80..<88:
                let path = scratch.path("backup-\(fresh())")
                _ = try copyFolder(of: folder.replica, to: path)
                backups.append(path)
            case 88..<96:
                guard let backup = backups.randomElement(using: &rng), folders.count < 8 else { continue }
                let restored = try copyFolder(of: try Replica.open(at: backup + "/replica.sqlite"), to: scratch.path("restored-\(fresh())"))
                if Bool.random(using: &rng) && folders.count > 1 {
                    // Restored instead of the original: the original's work reached the server first.
                    try await sync(folder)
                    folders.remove(at: i)
                }
                folders.append(Folder(name: "restored", replica: restored))
                tally.restores += 1
            default:
                guard folders.count > 1 else { continue }
                try await sync(folder)
                folders.remove(at: i)
            }
        }
        for _ in 0..<3 { for folder in folders { try await sync(folder) } }

        let hq = server.storage.replica
        let atHeadOffice = try writtenValues(hq, field: "title")
        for marker in markers {
            #expect(atHeadOffice[marker] == 1, "seed \(seed): write \(marker) is at head office \(atHeadOffice[marker] ?? 0) times")
        }
        #expect(atHeadOffice.count == markers.count, "seed \(seed): head office holds writes nobody made")
        let reference = [try hq.query("tasks"), try hq.query("deals")]
        for folder in folders {
            #expect(try [folder.replica.query("tasks"), folder.replica.query("deals")] == reference,
                    "seed \(seed): \(folder.replica.replicaID) differs from head office")
            #expect(try folder.replica.pendingChangeCount() == 0, "seed \(seed): \(folder.replica.replicaID) has pending writes")
        }
        let feed = try hq.feed(after: 0, limit: .max)
        #expect(Set(feed.map(\.dot)).count == feed.count)
        tally.writes = markers.count
        tally.adoptedNames = try adoptedNameCount(server)
        try await server.stop()
        return tally
    }

    /// How many ranges copies took from earlier copies (fork maps with adopted segments).
    static func adoptedNameCount(_ server: TestServer) throws -> Int {
        let ids = Set(try server.storage.replica.seenCounters().keys).union(["r-aigerim", "r-bolor"])
        return try ids.reduce(0) { total, id in try total + server.storage.store.forks(of: id).reduce(0) { $0 + $1.adopted.count } }
    }
}
