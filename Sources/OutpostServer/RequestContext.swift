import Foundation
import Hummingbird
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import OutpostWire

/// The context of one request to an Outpost server: where it came from, and who it is once
/// the authentication middleware has checked the token.
public struct OutpostRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's address (for rate limits and logs).
    public let remoteAddress: SocketAddress?
    /// The device whose token ``DeviceAuthentication`` accepted.
    var device: AuthenticatedDevice?
    /// The admin whose token ``AdminAuthentication`` accepted.
    var admin: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}

/// Answers a request no route matches (an unknown path, or a known one with another method)
/// with the error envelope, not an empty body.
struct UnknownRouteMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            let wire = WireError(.unknownPath,
                                 message: "This server has no \(request.method) \(request.uri.path); the calls are listed in protocol/sync.md (a client and a server of different versions?).")
            return try Envelope.response(wire, status: error.status, request: request)
        }
    }
}

/// Counts wrong enrollment codes per peer address: after `limit` in `window`, the peer waits
/// (`429 too-many-attempts` with `Retry-After`) until the oldest falls out of the window, so a
/// code cannot be guessed. The codes themselves are never logged.
final class FailedAttempts: Sendable {
    let limit: Int
    let window: TimeInterval
    private let attempts = NIOLockedValueBox<[String: [Date]]>([:])

    /// Most peers remembered: beyond, every new peer waits like one that failed too often (a
    /// flood from many addresses neither grows memory without end nor opens the door).
    let peersKept: Int

    init(limit: Int = 10, window: TimeInterval = 600, peersKept: Int = 10_000) {
        self.limit = limit
        self.window = window
        self.peersKept = peersKept
    }

    private func forgetStale(_ all: inout [String: [Date]], now: Date) {
        all = all.filter { $0.value.contains { now.timeIntervalSince($0) < window } }
    }

    /// Seconds the peer must wait before trying again, or nil if it may try now.
    func wait(for peer: String, now: Date = Date()) -> Int? {
        attempts.withLockedValue { all in
            let recent = (all[peer] ?? []).filter { now.timeIntervalSince($0) < window }
            if recent.isEmpty && all.count >= peersKept {
                forgetStale(&all, now: now)
                if all.count >= peersKept { return Int(window) }
            }
            all[peer] = recent.isEmpty ? nil : recent
            guard recent.count >= limit, let oldest = recent.first else { return nil }
            return max(1, Int((window - now.timeIntervalSince(oldest)).rounded(.up)))
        }
    }

    func failed(_ peer: String, now: Date = Date()) {
        attempts.withLockedValue { all in
            if all[peer] == nil, all.count >= peersKept {
                forgetStale(&all, now: now)
                guard all.count < peersKept else { return }
            }
            all[peer, default: []].append(now)
            if all[peer]!.count > limit { all[peer]!.removeFirst(all[peer]!.count - limit) }
        }
    }
}
