import ArgumentParser
import Foundation
import Logging
import OutpostBranch
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostServer
import OutpostStore
import OutpostWire
import ServiceLifecycle

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Play a short sales trip: head office, a branch server and two reps on loopback, offline edits, sync through the tree, and an admin settling a conflict and merging a duplicate.",
        discussion: """
            Everything runs in a temporary folder on 127.0.0.1: a head-office server, an Almaty
            branch server enrolled with head office with a branch code, aigerim's replica
            enrolled at the Almaty branch and bolor's at head office, each with a one-time code.
            The reps work offline (new customers, calls, tasks, one deal's stage changed by both,
            one customer created by both), then sync: aigerim with Almaty, Almaty with head
            office, bolor with head office, and back down. The demo shows one write crossing the
            whole tree under the same name, what arrived where and what waits for an admin.

            Example:
              outpost demo
              outpost demo --keep
            """)

    @Flag(help: "Keep the temporary folder (its path is printed) to explore it with outpost and sqlite3.") var keep = false

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-demo-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(at: folder) } }
        func say(_ text: String) { print(text) }
        var logger = Logger(label: "outpost-demo")
        logger.logLevel = .error

        say("== Head office starts (data in \(folder.path)/hq)")
        let storage = try SQLiteServerStorage(directory: folder.appendingPathComponent("hq").path)
        let hq = storage.replica
        let drill = try hq.insert("products", ["name": .string("Перфоратор Bosch GBH 2-26"), "sku": .string("GBH-226"), "unit": .string("шт")])
        _ = try hq.insert("price_list", ["product_id": .reference(drill), "price": .decimal(try DecimalNumber("89900")), "currency": .string("KZT")])
        let altynAi = try hq.insert("accounts", ["name": .string("ТОО «Алтын-Ай»"), "kind": .string("customer"), "city": .string("Алматы"),
                                                 "branch": .string("almaty"), "owner": .string("aigerim"), "tags": .makeSet(["vip"])])
        let deal = try hq.insert("deals", ["account_id": .reference(altynAi), "title": .string("Fleet renewal 2027"), "stage": .string("proposal"),
                                           "amount": .decimal(try DecimalNumber("12500000")), "currency": .string("KZT"), "owner": .string("aigerim")])
        try storage.store.addUser(UserInfo(name: "aigerim", role: "rep", scope: "branch=almaty"))
        try storage.store.addUser(UserInfo(name: "bolor", role: "rep", scope: "all"))
        try storage.store.addUser(UserInfo(name: "almaty-branch", role: "branch", scope: "all"))
        // Both servers stop gracefully however the story ends.
        var servers: [DemoServer] = []
        let identical: Bool
        do {
            let office = try await DemoServer.start(storage: storage, link: nil, logger: logger)
            servers.append(office)
            say("   listening on \(office.url); 1 product, 1 price, 1 customer, 1 deal; users aigerim, bolor, almaty-branch")

            let branchCode = try storage.store.createEnrollmentCode(user: "almaty-branch")
            let almatyFolder = folder.appendingPathComponent("almaty").path
            try await UpstreamLink.enroll(directory: almatyFolder, upstream: office.url, code: branchCode, device: "almaty-server")
            let branchStorage = try SQLiteServerStorage(directory: almatyFolder)
            let link = try UpstreamLink(storage: branchStorage, logger: logger)
            // The demo runs the branch's rounds itself, one at a time, so the story reads the
            // same every time (a real branch runs `link.run()` and is nudged by its reps' pushes).
            let almaty = try await DemoServer.start(storage: branchStorage, link: link, logger: logger)
            servers.append(almaty)
            let first = try await link.runRound()
            say("== Almaty branch enrolls with code \(branchCode) (user almaty-branch, role branch), listens on \(almaty.url)")
            say("   its first round with head office: received \(first.pulled) changes and the users")

            let aigerimCode = try branchStorage.store.createEnrollmentCode(user: "aigerim")
            let aigerim = try await Enrollment.enrollReplica(at: folder.appendingPathComponent("aigerim/replica.sqlite").path,
                                                             serverURL: almaty.url, code: aigerimCode, device: "aigerim-thinkpad").replica
            let a0 = try await SyncEngine(replica: aigerim).sync()
            say("== aigerim enrolls aigerim-thinkpad at Almaty with code \(aigerimCode) (made by the branch) and syncs: received \(a0.pulled) changes")
            let bolorCode = try storage.store.createEnrollmentCode(user: "bolor")
            let bolor = try await Enrollment.enrollReplica(at: folder.appendingPathComponent("bolor/replica.sqlite").path,
                                                           serverURL: office.url, code: bolorCode, device: "bolor-macbook").replica
            let b0 = try await SyncEngine(replica: bolor).sync()
            say("== bolor enrolls bolor-macbook at head office with code \(bolorCode) and syncs: received \(b0.pulled) changes")

            say("== The trip: both reps work offline")
            let tumen1 = try aigerim.insert("accounts", ["name": .string("Тумэн ХХК"), "kind": .string("prospect"), "city": .string("Улаанбаатар"),
                                                         "phone": .string("+976 9911 2233"), "branch": .string("almaty"), "owner": .string("aigerim")])
            _ = try aigerim.insert("contacts", ["account_id": .reference(tumen1), "name": .string("Болормаа Батсүх"), "position": .string("Санхүүгийн захирал")])
            _ = try aigerim.insert("activities", ["account_id": .reference(altynAi), "kind": .string("meeting"), "at": .timestamp(Int64(Replica.systemClock())),
                                                  "summary": .string("Обсудили график поставок на 2027 год"), "duration_min": .integer(45)])
            _ = try aigerim.insert("tasks", ["title": .string("Отправить КП по автопарку"), "due_at": .timestamp(Int64(Replica.systemClock()) + 86_400_000),
                                             "assignee": .string("aigerim"), "status": .string("open"), "account_id": .reference(altynAi)])
            try aigerim.update("deals", id: deal, [.set("stage", .string("negotiation")), .set("probability", .integer(60))])
            try aigerim.update("accounts", id: altynAi, [.add("tags", "export")])
            say("   aigerim: new prospect Тумэн ХХК with a contact, a meeting, a task; deal → negotiation")

            _ = try bolor.insert("accounts", ["name": .string("Тумэн  ХХК"), "kind": .string("customer"), "city": .string("Улаанбаатар"),
                                              "phone": .string("9911-2233"), "branch": .string("almaty")])
            _ = try bolor.insert("activities", ["account_id": .reference(altynAi), "kind": .string("call"), "at": .timestamp(Int64(Replica.systemClock())),
                                                "summary": .string("Gọi điện xác nhận đơn hàng"), "duration_min": .integer(10)])
            try bolor.update("deals", id: deal, [.set("stage", .string("won")), .set("amount", .decimal(try DecimalNumber("13100000"))), .set("currency", .string("KZT"))])
            try bolor.update("accounts", id: altynAi, [.set("phone", .string("+7 727 355 0101"))])
            say("   bolor: the same customer Тумэн ХХК entered again, a call; the same deal → won at 13,100,000 KZT")

            say("== Back online: changes travel the tree")
            func synced(_ name: String, _ replica: Replica, _ server: String) async throws {
                let s = try await SyncEngine(replica: replica).sync()
                say("   \(name) ↔ \(server): sent \(s.pushed), received \(s.pulled), \(ProgressBar.bytes(s.bytesUp)) up, \(ProgressBar.bytes(s.bytesDown)) down")
            }
            func relayed() async throws {
                let s = try await link.runRound()
                say("   Almaty ↔ head office: relayed \(s.pushed) up, brought \(s.pulled) down")
            }
            try await synced("aigerim", aigerim, "Almaty")
            try await relayed()
            try await synced("bolor", bolor, "head office")
            try await relayed()
            try await synced("aigerim", aigerim, "Almaty")

            let replicas: [(String, Replica)] = [("head office", hq), ("Almaty", branchStorage.replica), ("aigerim", aigerim), ("bolor", bolor)]
            let stageEdit = try aigerim.history("deals", id: deal).last { $0.dot.replica == aigerim.replicaID && $0.fields["stage"] != nil }?.dot
            if let stageEdit {
                let holders = try replicas.filter { try $0.1.history("deals", id: deal).contains { $0.dot == stageEdit } }.map(\.0)
                if holders.count == replicas.count {
                    say("   aigerim's deal → negotiation went laptop → Almaty → head office → bolor: the same write \(stageEdit) everywhere")
                } else {
                    say("   aigerim's deal → negotiation (\(stageEdit)) is held only by: " + holders.joined(separator: ", "))
                }
            }

            say("== What arrived where")
            for (name, r) in replicas {
                let counts = try ["accounts", "contacts", "deals", "activities", "tasks", "products"].map { "\($0) \(try r.count($0))" }
                say("   \(name): " + counts.joined(separator: ", "))
            }
            let shown = try hq.get("deals", id: deal)!
            say("   the deal everywhere: stage \(CollectionSpec.format(shown.values["stage"]!)), \(CollectionSpec.format(shown.values["amount"]!)) \(CollectionSpec.format(shown.values["currency"]!)), probability \(CollectionSpec.format(shown.values["probability"]!))")

            say("== Waiting for an admin")
            for conflict in try hq.resolved("deals", id: deal)?.conflicts ?? [] {
                let sides = conflict.sides.map { "\(CollectionSpec.format($0.value)) (\($0.author.user)@\($0.author.device))" }.joined(separator: " vs ")
                say("   conflict \(conflict.id) on deals.\(conflict.key): \(sides); showing \(CollectionSpec.format(conflict.sides.first { $0.dot == conflict.provisionalWinner }!.value)) until an admin decides")
            }
            let admin = SyncTransport(baseURL: office.url, token: try storage.store.createAdminToken(name: "aigul"))
            let pairs = try await admin.get("/v1/admin/duplicates?collection=accounts", as: [DuplicateInfo].self)
            for pair in pairs {
                say("   probable duplicate customers: \(pair.aValues["name"] ?? pair.a) and \(pair.bValues["name"] ?? pair.b) (\(pair.reasons.joined(separator: "; ")), score \(pair.score))")
            }

            say("== The admin (aigul) settles it from a terminal: outpost-admin conflicts resolve, duplicates merge")
            let open = try await admin.get("/v1/admin/conflicts", as: [ConflictInfo].self)
            for conflict in open {
                let settled = try await admin.post("/v1/admin/conflicts/resolve", ConflictResolveRequest(id: conflict.id, take: "bolor"), as: [AuditEntry].self).0
                for entry in settled { say("   conflict \(entry.subject) on \(entry.collection).\(entry.key): keeps \(entry.chosen) (was \(entry.before.joined(separator: " vs ")))") }
            }
            for pair in pairs {
                let merged = try await admin.post("/v1/admin/duplicates/merge", DuplicateMergeRequest(keep: pair.a, other: pair.b), as: AuditEntry.self).0
                say("   merged: \(merged.chosen)")
            }
            try await synced("bolor", bolor, "head office")
            try await relayed()
            try await synced("aigerim", aigerim, "Almaty")
            for (name, r) in [("aigerim", aigerim), ("bolor", bolor)] {
                let stage = try r.get("deals", id: deal)?.values["stage"].map(CollectionSpec.format) ?? "?"
                let tumen = try r.query("accounts").filter { NameMatching.matchForm(CollectionSpec.format($0.values["name"] ?? .null)) == "tumen" }.count
                say("   \(name)'s laptop: deal stage \(stage), \(try r.conflicts().count) open conflicts, \(tumen) customer Тумэн ХХК with \(try r.count("contacts")) contact")
            }
            let audit = try await admin.get("/v1/admin/audit", as: [AuditEntry].self)
            say("   audit: " + audit.map { "\($0.who) \($0.action)" }.joined(separator: ", "))

            var same = true
            for collection in hq.schema.collections.map(\.name) {
                let reference = try hq.query(collection)
                for (_, r) in replicas.dropFirst() where try r.query(collection) != reference { same = false }
            }
            identical = same
            say(identical ? "== All four replicas (head office, Almaty, aigerim, bolor) hold identical records." : "== The replicas differ: this is a bug, please report it.")
            if keep { say("   kept: \(folder.path) (try: outpost --replica \(folder.path)/aigerim list deals)") }
        } catch {
            for server in servers.reversed() { try? await server.stop() }
            throw error
        }
        for server in servers.reversed() { try await server.stop() }
        if !identical { throw ExitCode.failure }
    }
}

/// A server the demo runs in this process on an ephemeral loopback port: head office, or a
/// branch when it has a link to its parent.
struct DemoServer {
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let url: String

    static func start(storage: SQLiteServerStorage, link: UpstreamLink?, logger: Logger) async throws -> DemoServer {
        let port = PortBox()
        let app = OutpostServerApp.application(storage: storage, host: "127.0.0.1", port: 0, logger: logger,
                                               onRunning: { await port.set($0) }, upstream: link?.statusReader)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: logger))
        let task = Task { try await group.run() }
        return DemoServer(group: group, task: task, url: "http://127.0.0.1:\(await port.wait())")
    }

    /// Stops the server gracefully and waits until it has.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

/// The port the demo server got, once it is listening.
actor PortBox {
    private var port: Int?
    private var waiters: [CheckedContinuation<Int, Never>] = []

    func set(_ value: Int) {
        port = value
        for w in waiters { w.resume(returning: value) }
        waiters = []
    }

    func wait() async -> Int {
        if let port { return port }
        return await withCheckedContinuation { waiters.append($0) }
    }
}
