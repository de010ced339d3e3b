import Foundation
import Hummingbird
import HTTPTypes
import OutpostStore
import OutpostWire

/// Checks a device's bearer token before any sync call reads its body, and puts the device in
/// the request's context: unknown and revoked tokens, and a user syncing through a server its
/// channel does not allow, are refused here for every call.
struct DeviceAuthentication: RouterMiddleware {
    typealias Context = OutpostRequestContext
    let storage: any ServerStorage

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.device = try await OutpostServerApp.wire { try await authenticate(request) }
        return try await next(request, context)
    }

    private func authenticate(_ request: Request) async throws -> AuthenticatedDevice {
        guard let token = bearerToken(request), let device = try await storage.device(token: token) else {
            if let token = bearerToken(request), try await storage.isRevoked(token: token) {
                throw WireError(.deviceRevoked, message: "An admin revoked this device: it no longer syncs with any server of this company, and the customer data it holds is removed from it. Ask an admin for a new enrollment code.")
            }
            throw WireError(.unauthorized, message: "This device is not enrolled here; enroll it with `outpost enroll --server URL --code CODE`.")
        }
        if let user = try await storage.users().first(where: { $0.name == device.user }),
           let refusal = AccessDatabase.channelRefusal(user, serverIsBranch: storage.role == .branch) {
            throw refusal
        }
        return device
    }
}

/// Checks an admin's bearer token before any admin call reads its body, and puts the admin's
/// name in the request's context.
struct AdminAuthentication: RouterMiddleware {
    typealias Context = OutpostRequestContext
    let storage: any ServerStorage

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.admin = try await OutpostServerApp.wire {
            guard let token = bearerToken(request), let name = try await storage.adminName(token: token) else {
                throw WireError(.unauthorized, message: "An admin token is required; create one on the server with `outpost-server token --data DIR`.")
            }
            return name
        }
        return try await next(request, context)
    }
}

/// The token after `Bearer ` in the Authorization header.
func bearerToken(_ request: Request) -> String? {
    guard let value = request.headers[.authorization], value.hasPrefix("Bearer ") else { return nil }
    return String(value.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
}

/// The context of a sync call: the device ``DeviceAuthentication`` let in.
struct DeviceRequestContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    /// Who is calling.
    let device: AuthenticatedDevice

    init(context: OutpostRequestContext) throws {
        guard let device = context.device else {
            throw APIError(WireError(.unauthorized, message: "This device is not enrolled here; enroll it with `outpost enroll --server URL --code CODE`."))
        }
        self.coreContext = context.coreContext
        self.device = device
    }
}

/// The context of an admin call: the admin ``AdminAuthentication`` let in.
struct AdminRequestContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The admin's name, for the audit trail.
    let admin: String

    init(context: OutpostRequestContext) throws {
        guard let admin = context.admin else {
            throw APIError(WireError(.unauthorized, message: "An admin token is required; create one on the server with `outpost-server token --data DIR`."))
        }
        self.coreContext = context.coreContext
        self.admin = admin
    }
}
