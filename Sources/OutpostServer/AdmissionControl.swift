import Foundation
import Hummingbird
import HTTPTypes
import OutpostWire
import Synchronization

/// Bounds the calls a server works on at once. Up to `limit` wait for the storage threads in
/// turn (a queue costs little: a suspended task and its body); beyond, a call is answered at
/// once with `429 server-busy` and a `Retry-After` that grows with the crowd, and the client
/// waits that long and tries again (`protocol/sync.md`, Load). Health and status are always
/// answered.
final class AdmissionControl: RouterMiddleware, Sendable {
    typealias Context = OutpostRequestContext
    /// Most calls in progress at once.
    let limit: Int
    private let inProgress = Atomic<Int>(0)

    init(limit: Int) { self.limit = max(1, limit) }

    /// Calls in progress now.
    var current: Int { inProgress.load(ordering: .relaxed) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/v1/health" || path == "/v1/status" { return try await next(request, context) }
        let now = inProgress.wrappingAdd(1, ordering: .relaxed).newValue
        defer { inProgress.wrappingSubtract(1, ordering: .relaxed) }
        guard now <= limit else {
            // One second per full crowd of `limit` calls ahead, so retries spread out.
            let wait = max(1, min(30, now / limit))
            throw APIError(WireError(.serverBusy, message: "The server is busy with other devices; try again in \(wait) seconds (Outpost clients wait and retry by themselves).",
                                     details: [String(wait)]))
        }
        return try await next(request, context)
    }
}
