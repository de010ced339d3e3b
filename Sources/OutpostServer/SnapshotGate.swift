import Foundation

/// Lets a few snapshots be written at once: each copies the whole replica to a temporary file,
/// so a morning of new laptops must not fill the disk or take every core. The others wait
/// their turn (their devices see a slow answer, not an error).
actor SnapshotGate {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { free = max(1, limit) }

    /// Runs `body` once a place is free.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if free > 0 {
            free -= 1
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
        defer { leave() }
        return try await body()
    }

    private func leave() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }

    /// Where snapshot files are written before they are sent.
    static func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)\(UUID().uuidString).sqlite").path
    }

    static let prefix = "outpost-snapshot-"

    /// Removes snapshot files a stopped server or a connection cut before its answer was sent
    /// left behind, if older than an hour (a file being sent now is younger).
    static func sweep(olderThan age: TimeInterval = 3600) {
        let folder = FileManager.default.temporaryDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            let path = folder.appendingPathComponent(name).path
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
               Date().timeIntervalSince(modified) > age {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }
}
