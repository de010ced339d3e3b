import AsyncHTTPClient
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import Synchronization
import Testing

/// The server's storage work never holds the threads that serve connections: while pushes wait
/// for SQLite's write lock, every other call is still answered. Serialized: both tests hold the
/// write lock of their own server, and the storage threads are shared by the process.
@Suite(.serialized)
struct ServerLivenessTests {
    /// Holds the write lock of a SQLite file from a thread of its own until told to let go (or
    /// until `limit` passes, so a hung server cannot hang the test run).
    final class WriteLockHolder: @unchecked Sendable {
        let released = Mutex(false)
        private let letGo = DispatchSemaphore(value: 0)
        private let taken = DispatchSemaphore(value: 0)

        init(path: String, limit: TimeInterval) {
            Thread.detachNewThread { [self] in
                do {
                    let db = try DatabaseQueue(path: path)
                    try db.writeWithoutTransaction { db in
                        try db.execute(sql: "BEGIN IMMEDIATE")
                        taken.signal()
                        _ = letGo.wait(timeout: .now() + limit)
                        released.withLock { $0 = true }
                        try db.execute(sql: "ROLLBACK")
                    }
                } catch {
                    released.withLock { $0 = true }
                    taken.signal()
                }
            }
            taken.wait()
        }

        func release() { letGo.signal() }
        var isReleased: Bool { released.withLock { $0 } }
    }

    @Test func callsAreAnsweredWhilePushesWaitForTheWriteLock() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        // More waiting pushes than the machine has cores: were they to block the threads that
        // serve requests, nothing else would be answered until the lock is let go.
        // More than the reading threads too: were writes to take them, reads would wait.
        let names = (0..<max(StorageThreads.readers + 2, ProcessInfo.processInfo.activeProcessorCount + 2)).map { "rep\($0)" }
        var enrolled: [Replica] = []
        for name in names {
            let rep = try await server.enroll(folder, user: name)
            _ = try rep.insert("accounts", ["name": .string("Клиент \(name)")])
            enrolled.append(rep)
        }
        let reps = enrolled
        let adminToken = try server.storage.store.createAdminToken()
        let holder = WriteLockHolder(path: SQLiteServerStorage.replicaPath(folder.path("hq")), limit: 8)
        let url = server.url
        let syncs = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for rep in reps {
                    group.addTask {
                        var engine = try SyncEngine(replica: rep, serverURL: url, timeouts: SyncTimeouts(connect: .seconds(2), request: .seconds(30)))
                        _ = try await engine.sync()
                    }
                }
                try await group.waitForAll()
            }
        }
        // Every rep has said hello, so each push is on its way to the locked file.
        for rep in reps {
            while try await server.storage.declaredCounter(replica: rep.replicaID.rawValue) == 0 {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        try await Task.sleep(for: .milliseconds(300))

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let health = try await client.execute(HTTPClientRequest(url: url + "/v1/health"), timeout: .seconds(20))
        let status = try await client.execute(HTTPClientRequest(url: url + "/v1/status"), timeout: .seconds(20))
        // A call that reads both of the server's databases (the admin's token, every device).
        var devices = HTTPClientRequest(url: url + "/v1/admin/devices")
        devices.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
        let listed = try await client.execute(devices, timeout: .seconds(20))
        let answeredWhileLocked = !holder.isReleased
        try await client.shutdown()
        holder.release()
        #expect(health.status == .ok && status.status == .ok && listed.status == .ok)
        #expect(answeredWhileLocked, "health, status and the device list were answered only after the write lock was let go")

        // The pushes went through once the lock was let go: nothing was lost.
        try await syncs.value
        let names2 = Set(try server.storage.replica.query("accounts").compactMap { $0.values["name"] })
        #expect(names2 == Set(names.map { FieldValue.string("Клиент \($0)") }))
        try await server.stop()
    }

    @Test func aCrowdBeyondTheCallLimitIsToldToComeBackAndDoes() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder, callLimit: 2)
        var enrolled: [Replica] = []
        for name in ["aigerim", "bolor", "dana", "timur"] {
            let rep = try await server.enroll(folder, user: name)
            _ = try rep.insert("accounts", ["name": .string("Клиент \(name)")])
            enrolled.append(rep)
        }
        let reps = enrolled
        let token = try reps[0].setting(ClientSettings.token)!
        // Two pushes wait for the write lock and fill the server's two places.
        let holder = WriteLockHolder(path: SQLiteServerStorage.replicaPath(folder.path("hq")), limit: 8)
        let url = server.url
        let first = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for rep in reps.prefix(2) {
                    group.addTask { var engine = try SyncEngine(replica: rep, serverURL: url); _ = try await engine.sync() }
                }
                try await group.waitForAll()
            }
        }
        for rep in reps.prefix(2) {
            while try await server.storage.declaredCounter(replica: rep.replicaID.rawValue) == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        // A third call is told to come back, with how long to wait, once the two pushes hold the
        // places (their hellos are done; a loaded machine may take a moment to send the pushes).
        var request = HTTPClientRequest(url: url + "/v1/sync/pull")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(string: #"{"protocol":1,"replica":"\#(reps[0].replicaID.rawValue)","cursor":0,"limit":10}"#))
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var busy = try await client.execute(request, timeout: .seconds(20))
        var body = String(buffer: try await busy.body.collect(upTo: 1 << 16))
        for _ in 0..<100 where busy.status != .tooManyRequests {
            try await Task.sleep(for: .milliseconds(100))
            busy = try await client.execute(request, timeout: .seconds(20))
            body = String(buffer: try await busy.body.collect(upTo: 1 << 16))
        }
        let health = try await client.execute(HTTPClientRequest(url: url + "/v1/health"), timeout: .seconds(20))
        try await client.shutdown()
        #expect(busy.status == .tooManyRequests)
        #expect(body.contains("server-busy"))
        #expect(Int(busy.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1)
        #expect(health.status == .ok, "health is answered however busy the server is")
        // The other two reps sync meanwhile: told to wait, they wait and come back by themselves.
        let later = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for rep in reps.suffix(2) {
                    group.addTask { var engine = try SyncEngine(replica: rep, serverURL: url); _ = try await engine.sync() }
                }
                try await group.waitForAll()
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        holder.release()
        try await first.value
        try await later.value
        #expect(try server.storage.replica.query("accounts").count == 4, "every rep's write arrived")
        try await server.stop()
    }

    @Test func aSnapshotForANewLaptopIsWrittenWhileAWriteWaits() async throws {
        let folder = TempFolder()
        let storage = try SQLiteServerStorage(directory: folder.path("hq"))
        try storage.store.addUser(UserInfo(name: "aigerim", role: "rep", scope: "all"))
        _ = try storage.replica.insert("accounts", ["name": .string("Тумэн ХХК")])
        let holder = WriteLockHolder(path: SQLiteServerStorage.replicaPath(folder.path("hq")), limit: 8)
        // A write of the server's own waits for the lock, holding the server's writing connection.
        let replica = storage.replica
        let writing = Thread { _ = try? replica.insert("accounts", ["name": .string("Алтын-Ай")]) }
        writing.start()
        try await Task.sleep(for: .milliseconds(300))
        let info = try await storage.writeSnapshot(to: folder.path("new-laptop.sqlite"), user: "aigerim")
        let whileLocked = !holder.isReleased
        holder.release()
        #expect(info.records == 1)
        #expect(whileLocked, "the copy waited for the writer: every push would wait for each new laptop's copy, and it for them")
    }
}
