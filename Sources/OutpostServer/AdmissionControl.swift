import Foundation
import Hummingbird
import HTTPTypes
import OutpostWire
import Synchronization

/// Bounds the calls of known devices and admins a server works on at once. Up to `limit` wait
/// for the storage threads in turn (a queue costs little: a suspended task and its body);
/// beyond, a call is answered at once with `429 server-busy` and a `Retry-After`, and the
/// client waits that long and tries again (`protocol/sync.md`, Errors and Timeouts). Health,
/// status and enrollment are not counted.
final class AdmissionControl: RouterMiddleware, Sendable {
    typealias Context = OutpostRequestContext
    /// Most calls in progress at once.
    let limit: Int
    private let inProgress = Atomic<Int>(0)
    /// Calls told to wait in the current second, and which second: the wait asked grows with
    /// the crowd (one more second per `limit` turned away), so retries spread out.
    private let turnedAway = Mutex<(second: Int, count: Int)>((0, 0))

    init(limit: Int) { self.limit = max(1, limit) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard admit() else {
            let second = Int(Date().timeIntervalSince1970)
            let crowd = turnedAway.withLock { state -> Int in
                if state.second != second { state = (second, 0) }
                state.count += 1
                return state.count
            }
            let wait = min(30, 1 + crowd / limit)
            throw APIError(WireError(.serverBusy, message: "The server is busy with other devices; try again in \(wait) seconds (Outpost clients wait and retry by themselves).",
                                     details: [String(wait)]))
        }
        defer { inProgress.wrappingSubtract(1, ordering: .relaxed) }
        return try await next(request, context)
    }

    /// Takes a place if one is free; a call turned away never counts, even for a moment.
    private func admit() -> Bool {
        var now = inProgress.load(ordering: .relaxed)
        while now < limit {
            let (exchanged, original) = inProgress.compareExchange(expected: now, desired: now + 1, ordering: .relaxed)
            if exchanged { return true }
            now = original
        }
        return false
    }
}
