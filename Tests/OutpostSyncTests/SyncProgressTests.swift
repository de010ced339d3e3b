import Foundation
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import Testing

/// One progress display for the whole sync: the pull's size is known from hello, so the share
/// done only grows, from the first push page to the last pull page.
struct SyncProgressTests {
    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var all: [SyncProgress] = []
        func add(_ p: SyncProgress) { lock.withLock { all.append(p) } }
        var list: [SyncProgress] { lock.withLock { all } }
    }

    @Test func theShareDoneNeverFallsBackBetweenPushAndPull() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let rep = try await server.enroll(folder, user: "aigerim")
        let hq = server.storage.replica
        // Three pages up, four pages down.
        for n in 0..<1_800 { _ = try hq.insert("accounts", ["name": .string("Клиент \(n)")]) }
        for n in 0..<1_200 { _ = try rep.insert("accounts", ["name": .string("В пути \(n)")]) }
        let reports = Reports()
        let summary = try await SyncEngine(replica: rep).sync { reports.add($0) }
        let shares = reports.list.map { p -> Double in
            let (done, total) = p.work
            return total == 0 ? 1 : Double(done) / Double(total)
        }
        #expect(shares.count >= 6)
        for (before, after) in zip(shares, shares.dropFirst()) { #expect(after >= before, "\(shares)") }
        // While pushing, the pull ahead already counts: the push alone is well under the whole.
        let lastPush = try #require(reports.list.last { $0.pulled == 0 })
        #expect(Double(lastPush.work.done) / Double(lastPush.work.total) < 0.5, "\(lastPush)")
        #expect(shares.last == 1)
        #expect(summary.pushed == 1_200 && summary.pulled == 1_800)
        try await server.stop()
    }
}
