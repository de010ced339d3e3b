import ArgumentParser
import Foundation
import Logging
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
        abstract: "Play a short sales trip: head office and two reps on loopback, offline edits, sync, conflicts.",
        discussion: """
            Everything runs in a temporary folder on 127.0.0.1: a head-office server and two reps'
            replicas enrolled with one-time codes. The reps work offline (new customers, calls,
            tasks, one deal's stage changed by both, one customer created by both), then sync,
            and the demo shows what arrived where and what waits for an admin.

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

        say("== Head office starts (data in \(folder.path)/hq)")
        let storage = try SQLiteServerStorage(directory: folder.appendingPathComponent("hq").path)
        let hq = storage.replica
        let drill = try hq.insert("products", ["name": .string("Перфоратор Bosch GBH 2-26"), "sku": .string("GBH-226"), "unit": .string("шт")])
        _ = try hq.insert("price_list", ["product_id": .reference(drill), "price": .decimal(try DecimalNumber("89900")), "currency": .string("KZT")])
        let altynAi = try hq.insert("accounts", ["name": .string("ТОО «Алтын-Ай»"), "kind": .string("customer"), "city": .string("Алматы"),
                                                 "branch": .string("almaty"), "owner": .string("aigerim"), "tags": .makeSet(["vip"])])
        let deal = try hq.insert("deals", ["account_id": .reference(altynAi), "title": .string("Fleet renewal 2027"), "stage": .string("proposal"),
                                           "amount": .decimal(try DecimalNumber("12500000")), "currency": .string("KZT"), "owner": .string("aigerim")])
        try storage.addUser(UserInfo(name: "aigerim", role: "rep", scope: "branch=almaty"))
        try storage.addUser(UserInfo(name: "bolor", role: "rep", scope: "all"))

        var logger = Logger(label: "outpost-demo")
        logger.logLevel = .error
        let port = PortBox()
        let app = OutpostServerApp.application(storage: storage, host: "127.0.0.1", port: 0, logger: logger) { await port.set($0) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: logger))
        let server = Task { try await group.run() }
        let url = "http://127.0.0.1:\(await port.wait())"
        say("   listening on \(url); 1 product, 1 price, 1 customer, 1 deal at head office")

        var reps: [String: Replica] = [:]
        for (user, device) in [("aigerim", "aigerim-thinkpad"), ("bolor", "bolor-macbook")] {
            let code = try storage.createEnrollmentCode(user: user)
            let (replica, _) = try await Enrollment.enrollReplica(at: folder.appendingPathComponent("\(user)/replica.sqlite").path,
                                                                  serverURL: url, code: code, device: device)
            reps[user] = replica
            let first = try await SyncEngine(replica: replica).sync()
            say("== \(user) enrolls \(device) with code \(code) and syncs: received \(first.pulled) changes")
        }
        let aigerim = reps["aigerim"]!, bolor = reps["bolor"]!

        say("== The trip: both reps work offline")
        let tumen1 = try aigerim.insert("accounts", ["name": .string("Тумэн ХХК"), "kind": .string("prospect"), "city": .string("Улаанбаатар"),
                                                     "phone": .string("+976 9911 2233")])
        _ = try aigerim.insert("contacts", ["account_id": .reference(tumen1), "name": .string("Болормаа Батсүх"), "position": .string("Санхүүгийн захирал")])
        _ = try aigerim.insert("activities", ["account_id": .reference(altynAi), "kind": .string("meeting"), "at": .timestamp(Int64(Replica.systemClock())),
                                              "summary": .string("Обсудили график поставок на 2027 год"), "duration_min": .integer(45)])
        _ = try aigerim.insert("tasks", ["title": .string("Отправить КП по автопарку"), "due_at": .timestamp(Int64(Replica.systemClock()) + 86_400_000),
                                         "assignee": .string("aigerim"), "status": .string("open"), "account_id": .reference(altynAi)])
        try aigerim.update("deals", id: deal, [.set("stage", .string("negotiation")), .set("probability", .integer(60))])
        try aigerim.update("accounts", id: altynAi, [.add("tags", "export")])
        say("   aigerim: new prospect Тумэн ХХК with a contact, a meeting, a task; deal → negotiation")

        _ = try bolor.insert("accounts", ["name": .string("Тумэн  ХХК"), "kind": .string("customer"), "city": .string("Улаанбаатар"),
                                          "phone": .string("9911-2233")])
        _ = try bolor.insert("activities", ["account_id": .reference(altynAi), "kind": .string("call"), "at": .timestamp(Int64(Replica.systemClock())),
                                            "summary": .string("Gọi điện xác nhận đơn hàng"), "duration_min": .integer(10)])
        try bolor.update("deals", id: deal, [.set("stage", .string("won")), .set("amount", .decimal(try DecimalNumber("13100000"))), .set("currency", .string("KZT"))])
        try bolor.update("accounts", id: altynAi, [.set("phone", .string("+7 727 355 0101"))])
        say("   bolor: the same customer Тумэн ХХК entered again, a call; the same deal → won at 13,100,000 KZT")

        say("== Back online: everyone syncs")
        for (name, replica) in [("aigerim", aigerim), ("bolor", bolor), ("aigerim", aigerim)] {
            let s = try await SyncEngine(replica: replica).sync()
            say("   \(name): sent \(s.pushed), received \(s.pulled), \(ProgressBar.bytes(s.bytesUp)) up, \(ProgressBar.bytes(s.bytesDown)) down")
        }

        say("== What arrived where")
        let replicas: [(String, Replica)] = [("head office", hq), ("aigerim", aigerim), ("bolor", bolor)]
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
        let key = try Schema.crm.collection("accounts").duplicateKeys.first { $0.name == "name_city" }!
        var byKey: [String: [RecordView]] = [:]
        for account in try hq.query("accounts") {
            let parts = key.fields.compactMap { account.values[$0].map(CollectionSpec.format) }.compactMap(key.normalize.apply)
            if parts.count == key.fields.count { byKey[parts.joined(separator: "|"), default: []].append(account) }
        }
        for (_, group) in byKey where group.count > 1 {
            say("   probable duplicate customers (same name and city): " + group.map { "\(CollectionSpec.format($0.values["name"]!)) \($0.id)" }.joined(separator: " and "))
        }

        var identical = true
        for collection in hq.schema.collections.map(\.name) {
            let reference = try hq.query(collection)
            for (_, r) in replicas.dropFirst() where try r.query(collection) != reference { identical = false }
        }
        say(identical ? "== All three replicas hold identical records." : "== The replicas differ: this is a bug, please report it.")
        if keep { say("   kept: \(folder.path) (try: outpost --replica \(folder.path)/aigerim list deals)") }

        await group.triggerGracefulShutdown()
        try await server.value
        if !identical { throw ExitCode.failure }
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
