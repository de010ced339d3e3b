import OutpostCore
import OutpostStore
import Synchronization

/// Each change's canonical JSON, kept once for every puller: when a sales force syncs in the
/// same minute, every device is sent the same changes, and writing them out again for each
/// was most of what a pull cost. Keyed by dot, whose content never changes (a dot names one
/// write; a feed position can be taken again after an eviction). Bounded in bytes: past the
/// bound, the lowest feed positions (read by fewest pullers: new laptops bootstrapping) go.
final class ChangeTextCache: Sendable {
    private struct Entry {
        let seq: Int64
        let text: [UInt8]
    }
    private struct State {
        var entries: [Dot: Entry] = [:]
        var bytes = 0
    }
    private let state = Mutex(State())
    /// Most bytes of text kept.
    let limit: Int

    init(limit: Int = 64 << 20) { self.limit = limit }

    /// The entry's canonical JSON, written now (its change decoded) if not kept.
    func text(of entry: StoredFeedRow) throws -> [UInt8] {
        if let kept = state.withLock({ $0.entries[entry.dot]?.text }) { return kept }
        let text = try entry.change().json.canonicalBytes
        state.withLock { state in
            guard state.entries[entry.dot] == nil else { return }
            state.entries[entry.dot] = Entry(seq: entry.seq, text: text)
            state.bytes += text.count + 64
            if state.bytes > limit { Self.shrink(&state, to: limit * 3 / 4) }
        }
        return text
    }

    private static func shrink(_ state: inout State, to target: Int) {
        for (dot, entry) in state.entries.sorted(by: { $0.value.seq < $1.value.seq }) {
            guard state.bytes > target else { break }
            state.entries[dot] = nil
            state.bytes -= entry.text.count + 64
        }
    }
}
