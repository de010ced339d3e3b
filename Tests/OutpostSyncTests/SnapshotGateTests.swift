import Foundation
@testable import OutpostServer
import Synchronization
import Testing

/// New laptops' snapshots are written a few at a time, and their leftovers are swept.
struct SnapshotGateTests {
    final class Inside: Sendable {
        let counts = Mutex((now: 0, most: 0))
        func withLock<T>(_ body: (inout (now: Int, most: Int)) -> T) -> T { counts.withLock { body(&$0) } }
    }

    @Test func noMoreThanTheLimitAreWrittenAtOnce() async throws {
        let gate = SnapshotGate(limit: 2)
        let inside = Inside()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await gate.run {
                        inside.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                        try await Task.sleep(for: .milliseconds(50))
                        inside.withLock { $0.now -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(inside.withLock { $0.most } == 2, "six laptops at once: two copies at a time, none refused")
    }

    @Test func leftoversOlderThanAnHourAreSwept() throws {
        let old = SnapshotGate.temporaryFile(), fresh = SnapshotGate.temporaryFile()
        for path in [old, fresh] { #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8))) }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: old)
        SnapshotGate.sweep()
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: fresh), "one being sent now stays")
        try? FileManager.default.removeItem(atPath: fresh)
    }
}
