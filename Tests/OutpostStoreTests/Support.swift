import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore

/// A fresh folder under the system temporary directory, removed when the test ends.
final class TempFolder {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A clock tests move by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: UInt64
    init(_ start: UInt64 = 1_764_000_000_000) { now = start }
    func advance(_ ms: UInt64 = 1_000) { lock.withLock { now += ms } }
    var read: @Sendable () -> UInt64 { { [self] in lock.withLock { now } } }
}

/// Creates a replica in `folder` with a fixed id.
func makeReplica(_ folder: TempFolder, _ name: String, role: ReplicaRole = .field, schema: Schema = .crm,
                 clock: TestClock = TestClock()) throws -> Replica {
    try Replica.create(at: folder.path("\(name).sqlite"), schema: schema,
                       options: ReplicaOptions(user: "user-\(name)", device: "laptop-\(name)", role: role, replicaID: try ReplicaID(name)),
                       clock: clock.read)
}

/// Sends every change in `from`'s feed to `to`, as sync will.
@discardableResult
func exchange(_ from: Replica, to: Replica) throws -> ApplyReport {
    let changes = try from.changes(after: 0, limit: .max).map(\.change)
    return try to.apply(changes, from: from.replicaID.rawValue)
}

func s(_ text: String) -> FieldValue { .string(text) }
