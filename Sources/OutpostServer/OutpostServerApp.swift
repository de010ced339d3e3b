import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import NIOCore
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// Builds the `outpost-server` HTTP application: sync routes for devices, admin routes for
/// admins, and enrollment, over a ``ServerStorage``.
public enum OutpostServerApp {
    /// Namespaced logging metadata keys (never record values).
    public enum LogKey {
        public static let device = "outpost.device"
        public static let changes = "outpost.changes"
        public static let replica = "outpost.replica"
        public static let newReplica = "outpost.new_replica"
    }

    /// The application, listening on `host:port` (port 0 picks a free one; `onRunning` gets the real port).
    ///
    /// A branch passes `upstream` (how its link to the parent stands, for the status calls)
    /// and `changesArrived` (called when a child's push applied changes, to relay them soon).
    public static func application(
        storage: any ServerStorage, host: String = "127.0.0.1", port: Int = 7420, logger: Logger,
        tls: TLSConfiguration? = nil,
        callLimit: Int = OutpostServerApp.defaultCallLimit,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        upstream: (@Sendable () -> UpstreamStatus)? = nil,
        changesArrived: @escaping @Sendable () -> Void = {}
    ) -> some ApplicationProtocol {
        let router = Router(context: OutpostRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.info))
        router.add(middleware: UnknownRouteMiddleware())
        let wrongCodes = FailedAttempts()
        let sync = SyncService(storage: storage, changesArrived: changesArrived)
        // Two snapshot copies at a time; files a stopped server left behind are removed.
        let snapshots = SnapshotGate(limit: 2)
        SnapshotGate.sweep()
        // Every sync call is a device's and every admin call an admin's: the token is checked
        // once, before the body is read, and the handler gets who it is in its context.
        // Admission is counted once the caller is known: an unknown sender cannot fill the
        // server's places by trickling bodies in.
        let admission = AdmissionControl(limit: callLimit)
        let devices = router.group("v1/sync").add(middleware: DeviceAuthentication(storage: storage)).add(middleware: admission)
            .group(context: DeviceRequestContext.self)
        let admins = router.group("v1/admin").add(middleware: AdminAuthentication(storage: storage)).add(middleware: admission)
            .group(context: AdminRequestContext.self)

        router.get("v1/health") { _, _ in "ok" }

        router.get("v1/status") { request, _ -> Response in
            try Envelope.response(ServerStats(server: storage.serverReplica, role: storage.role.rawValue, schemaVersion: storage.schema.version,
                                              upstream: upstream?()), request: request)
        }

        admins.get("stats") { request, context -> Response in
            var stats = try await wire { try await storage.adminStats() }
            stats.upstream = upstream?()
            return try Envelope.response(stats, request: request)
        }

        devices.post("directory") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(DirectoryRequest.self, from: &request)
            return try Envelope.response(try await wire { try await sync.directory(body, device: device) }, request: request)
        }

        devices.post("schema") { request, context -> Response in
            var request = request
            _ = try await Envelope.decode(SchemaRequest.self, from: &request)
            return try Envelope.response(sync.schemaFile(), request: request)
        }

        admins.post("schema") { request, context -> Response in
            var request = request
            guard storage.role == .headOffice else {
                throw APIError(WireError(.schemaAtHeadOffice, message: "The schema is changed at head office only; it flows down to this branch at its next sync with head office."))
            }
            let body = try await Envelope.decode(SchemaMessage.self, from: &request)
            let schema: Schema
            do { schema = try Schema(json: Data(body.schema.utf8)) } catch {
                throw APIError(WireError(.malformedSchema, message: "The schema file is not valid: \(error)"))
            }
            try await wire { try await storage.upgradeSchema(schema) }
            logger.notice("schema upgraded", metadata: ["outpost.schema_version": .stringConvertible(schema.version)])
            return try Envelope.response(sync.schemaFile(), request: request)
        }

        router.post("v1/enroll") { request, context -> Response in
            var request = request
            let peer = context.remoteAddress?.ipAddress ?? "unknown"
            if let wait = wrongCodes.wait(for: peer) {
                logger.warning("enrollment refused: too many wrong codes", metadata: ["outpost.peer": .string(peer)])
                throw APIError(WireError(.tooManyAttempts, message: "Too many wrong enrollment codes from this address; try again in \(wait) seconds with the code an admin gave you.",
                                         details: [String(wait)]))
            }
            // Nothing is known of the sender yet: a few KiB is all an enrollment needs.
            let body = try await Envelope.decode(EnrollRequest.self, from: &request, limit: WireLimits.enrollBodyBytes)
            guard ReplicaID.isValid(body.replica) else {
                throw APIError(WireError(.malformedRequest, message: "'\(body.replica)' is not a valid replica id."))
            }
            if let token = body.syncToken, !SyncToken.isValid(token) {
                throw APIError(WireError(.malformedRequest, message: "\"syncToken\" is not a sync token (EPOCH.16-hex-digits)."))
            }
            let enrolled: (token: String, device: String, user: UserInfo)
            do {
                enrolled = try await wire { try await storage.enroll(code: body.code, device: body.device, replica: body.replica, syncToken: body.syncToken) }
            } catch let error as APIError where error.wire.error.code == "invalid-code" {
                wrongCodes.failed(peer)
                logger.notice("enrollment code refused", metadata: ["outpost.peer": .string(peer)])
                throw error
            }
            logger.info("device enrolled", metadata: [LogKey.device: .string(enrolled.device)])
            return try Envelope.response(EnrollResponse(token: enrolled.token, deviceID: enrolled.device, user: enrolled.user.name,
                                                        role: enrolled.user.role, server: storage.serverReplica,
                                                        schema: storage.schema.fileJSON), request: request)
        }

        devices.post("hello") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(HelloRequest.self, from: &request)
            return try Envelope.response(try await wire { try await sync.hello(body, device: device) }, request: request)
        }

        devices.post("push") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(PushRequest.self, from: &request)
            let response = try await wire { try await sync.push(body, device: device) }
            logger.info("push", metadata: [LogKey.device: .string(device.id), LogKey.changes: .stringConvertible(body.changes.count)])
            return try Envelope.response(response, request: request)
        }

        devices.post("pull") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(PullRequest.self, from: &request)
            let page = try await wire { try await sync.pull(body, device: device) }
            logger.info("pull", metadata: [LogKey.device: .string(device.id), LogKey.changes: .stringConvertible(page.changes.count)])
            return try Envelope.response(bytes: page.jsonBytes, request: request)
        }

        devices.post("scope") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(ScopeRequest.self, from: &request)
            return try Envelope.response(try await wire { try await sync.scope(body, device: device) }, request: request)
        }

        devices.post("records") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(RecordsRequest.self, from: &request)
            return try Envelope.response(try await wire { try await sync.records(body, device: device) }, request: request)
        }

        devices.post("digest") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(DigestRequest.self, from: &request)
            return try Envelope.response(try await wire { try await sync.digest(body, device: device) }, request: request)
        }

        devices.post("purged") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(PurgedRequest.self, from: &request)
            return try Envelope.response(try await wire { try await sync.purged(body, device: device) }, request: request)
        }
        devices.post("fork") { request, context -> Response in
            var request = request
            let device = context.device
            let body = try await Envelope.decode(ForkRequest.self, from: &request)
            let response = try await wire { try await sync.fork(body, device: device) }
            logger.notice("replica forked", metadata: [LogKey.device: .string(device.id), LogKey.replica: .string(body.replica),
                                                      LogKey.newReplica: .string(response.replica)])
            return try Envelope.response(response, request: request)
        }

        admins.post("users") { request, context -> Response in
            var request = request
            let body = try await Envelope.decode(AdminUserRequest.self, from: &request)
            guard storage.role == .headOffice else {
                throw APIError(WireError(.usersAtHeadOffice, message: "Users are managed at head office; they reach this branch at its next sync with head office. Add the user there (`outpost-admin --server HEAD-OFFICE-URL users add ...`)."))
            }
            guard ["rep", "manager", "admin", "branch"].contains(body.role) else {
                throw APIError(WireError(.malformedRequest, message: "Role must be rep, manager, admin or branch, not '\(body.role)'."))
            }
            if let channel = body.channel, !Self.channels.contains(channel) {
                throw APIError(WireError(.malformedRequest, message: "Channel must be both, head-office or branch, not '\(channel)'."))
            }
            try Self.checkScope(body.scope, storage)
            try Self.checkTimeZone(body.timeZone)
            guard !body.name.isEmpty, !body.scope.isEmpty else {
                throw APIError(WireError(.malformedRequest, message: "A user needs a name and a scope (for example --scope all)."))
            }
            let user = UserInfo(name: body.name, role: body.role, scope: body.scope, channel: body.channel ?? "both",
                                timeZone: body.timeZone.flatMap { $0.isEmpty ? nil : $0 })
            try await wire { try await storage.addUser(user) }
            return try Envelope.response(user, status: .created, request: request)
        }

        admins.post("users/edit") { request, context -> Response in
            var request = request
            guard storage.role == .headOffice else {
                throw APIError(WireError(.usersAtHeadOffice, message: "Users are managed at head office; edit the user there."))
            }
            let body = try await Envelope.decode(AdminUserEditRequest.self, from: &request)
            if let role = body.role, !["rep", "manager", "admin", "branch"].contains(role) {
                throw APIError(WireError(.malformedRequest, message: "Role must be rep, manager, admin or branch, not '\(role)'."))
            }
            if let channel = body.channel, !Self.channels.contains(channel) {
                throw APIError(WireError(.malformedRequest, message: "Channel must be both, head-office or branch, not '\(channel)'."))
            }
            if let scope = body.scope { try Self.checkScope(scope, storage) }
            try Self.checkTimeZone(body.timeZone)
            return try Envelope.response(try await wire { try await storage.editUser(body) }, request: request)
        }

        admins.post("devices/revoke") { request, context -> Response in
            var request = request
            let body = try await Envelope.decode(AdminRevokeRequest.self, from: &request)
            let device = try await wire { try await storage.revoke(device: body.device) }
            logger.notice("device revoked", metadata: [LogKey.device: .string(body.device)])
            return try Envelope.response(device, request: request)
        }

        admins.get("users") { request, context -> Response in
            return try Envelope.response(try await wire { try await storage.users() }, request: request)
        }

        admins.post("devices") { request, context -> Response in
            var request = request
            let body = try await Envelope.decode(AdminEnrollRequest.self, from: &request)
            let hours = body.expiresHours ?? 24
            guard hours > 0, hours <= 720 else {
                throw APIError(WireError(.malformedRequest, message: "A code may work from a minute to 30 days (720 hours), not \(hours) hours."))
            }
            let code = try await wire { try await storage.createEnrollmentCode(user: body.user, hours: hours) }
            return try Envelope.response(["code": code], status: .created, request: request)
        }

        let conflicts = ConflictService(storage: storage)

        admins.get("conflicts") { request, context -> Response in
            let query = request.uri.queryParameters
            var days: Double?
            if let text = query.get("older_than_days") {
                guard let value = Double(text) else {
                    throw APIError(WireError(.malformedRequest, message: "older_than_days must be a number of days, not '\(text)'."))
                }
                days = value
            }
            let filter = ConflictService.Filter(collection: query.get("collection"), field: query.get("field"), user: query.get("user"),
                                                branch: query.get("branch"), olderThanDays: days, resolved: query.get("resolved") == "true")
            return try Envelope.response(try await wire { try await conflicts.list(filter) }, request: request)
        }

        admins.get("conflicts/:id") { request, context -> Response in
            let id = context.parameters.get("id") ?? ""
            return try Envelope.response(try await wire { try await conflicts.show(id) }, request: request)
        }

        admins.post("conflicts/resolve") { request, context -> Response in
            var request = request
            let admin = context.admin
            try requireHeadOffice(storage)
            let body = try await Envelope.decode(ConflictResolveRequest.self, from: &request)
            let settled = try await wire { try await conflicts.resolve(body, admin: admin) }
            logger.notice("conflicts resolved", metadata: ["outpost.count": .stringConvertible(settled.count)])
            return try Envelope.response(settled, request: request)
        }

        let duplicates = DuplicateService(storage: storage)

        admins.get("duplicates") { request, context -> Response in
            return try Envelope.response(try await wire { try await duplicates.list(collection: request.uri.queryParameters.get("collection")) }, request: request)
        }

        admins.post("duplicates/merge") { request, context -> Response in
            var request = request
            let admin = context.admin
            try requireHeadOffice(storage)
            let body = try await Envelope.decode(DuplicateMergeRequest.self, from: &request)
            return try Envelope.response(try await wire { try await duplicates.merge(body, admin: admin) }, request: request)
        }

        admins.post("duplicates/dismiss") { request, context -> Response in
            var request = request
            let admin = context.admin
            try requireHeadOffice(storage)
            let body = try await Envelope.decode(DuplicateDismissRequest.self, from: &request)
            return try Envelope.response(try await wire { try await duplicates.dismiss(body, admin: admin) }, request: request)
        }

        admins.get("snapshot") { request, context -> Response in
            guard let user = request.uri.queryParameters.get("user") else {
                throw APIError(WireError(.malformedRequest, message: "Name the user the snapshot is for: ?user=NAME."))
            }
            return try await snapshotResponse(storage: storage, user: String(user), gate: snapshots, logger: logger)
        }

        devices.get("bootstrap") { _, context -> Response in
            // A new laptop starts from its user's records as they stand, not from every change
            // ever made (`protocol/sync.md`, Bootstrap). A branch relays, so it pulls the feed.
            guard !context.device.isBranch else {
                throw APIError(WireError(.forbidden, message: "A branch server pulls the feed from its parent; bootstrap is for laptops."))
            }
            return try await snapshotResponse(storage: storage, user: context.device.user, gate: snapshots, logger: logger)
        }

        admins.get("retention") { request, context -> Response in
            return try Envelope.response(try await wire { try await storage.retention(purge: false, expireAfterDays: nil) }, request: request)
        }

        admins.post("retention") { request, context -> Response in
            var request = request
            let body = try await Envelope.decode(RetentionRequest.self, from: &request)
            if let days = body.expireAfterDays, !(1...3650).contains(days) {
                throw APIError(WireError(.malformedRequest, message: "\"expireAfterDays\" must be 1 to 3650 days; it is \(days)."))
            }
            return try Envelope.response(try await wire { try await storage.retention(purge: body.purge == true, expireAfterDays: body.expireAfterDays) }, request: request)
        }

        admins.get("audit") { request, context -> Response in
            return try Envelope.response(try await wire { try await conflicts.audit() }, request: request)
        }

        admins.get("devices") { request, context -> Response in
            return try Envelope.response(try await wire { try await storage.devices() }, request: request)
        }

        // A configuration that cannot make a TLS server fails at load time (``ServerTLS.load``),
        // so this one is known to build.
        // A connection that sends and receives nothing for two minutes is closed: one that opens
        // and then goes quiet does not hold its place for ever.
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(120)))
        let server: HTTPServerBuilder = tls.flatMap { try? .tls(http1, tlsConfiguration: $0) } ?? http1
        return Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "outpost-server"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    /// Calls worked on at once before new ones are told to come back (`--max-calls`). The
    /// storage threads do the work; more calls waiting in line would only wait longer than a
    /// client's request timeout, fewer leave the threads idle while the rest wait a second to
    /// come back (measured with a thousand devices: docs/benchmarks.md, load).
    public static let defaultCallLimit = 256

    /// A snapshot of `user`'s records, written to a temporary file and streamed in 1 MiB
    /// pieces (a large head office's is hundreds of MB); the file is removed once sent.
    static func snapshotResponse(storage: any ServerStorage, user: String, gate: SnapshotGate, logger: Logger) async throws -> Response {
        let file = SnapshotGate.temporaryFile()
        let info: SnapshotInfo
        do { info = try await gate.run { try await wire { try await storage.writeSnapshot(to: file, user: String(user)) } } } catch {
            try? FileManager.default.removeItem(atPath: file)
            throw error
        }
        logger.notice("snapshot written", metadata: ["outpost.records": .stringConvertible(info.records), "outpost.cursor": .stringConvertible(info.cursor)])
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        return Response(status: .ok, headers: [.contentType: "application/vnd.sqlite3"], body: ResponseBody(contentLength: size) { writer in
            defer { try? FileManager.default.removeItem(atPath: file) }
            guard let handle = FileHandle(forReadingAtPath: file) else { throw APIError(WireError(.`internal`, message: "The snapshot file vanished.")) }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        })
    }

    /// Settlements, merges and dismissals are made at head office: there the audit is kept, and
    /// children that arrive later under a merged-away record are moved.
    static func requireHeadOffice(_ storage: any ServerStorage) throws {
        guard storage.role == .headOffice else {
            throw APIError(WireError(.headOfficeOnly, message: "Conflicts and duplicates are settled at head office (`outpost-admin --server HEAD-OFFICE-URL ...`); the result reaches this branch at its next sync."))
        }
    }

    /// Where a user may sync from (1C:CRM's "internet only / office only / both").
    /// Refuses a scope that does not parse against the schema's scope fields, with the column.
    static func checkScope(_ scope: String, _ storage: any ServerStorage) throws {
        do { _ = try storage.schema.scope(scope) } catch {
            throw APIError(WireError(.malformedScope, message: error.description))
        }
    }

    static let channels: Set<String> = ["both", "head-office", "branch"]

    /// A user's zone must be one the laptops know (empty clears it).
    static func checkTimeZone(_ zone: String?) throws {
        guard let zone, !zone.isEmpty, LocalZone(identifier: zone) == nil else { return }
        throw APIError(WireError(.malformedRequest, message: "There is no time zone '\(zone)'; give an IANA name such as Asia/Almaty, Asia/Tashkent or Asia/Ho_Chi_Minh."))
    }

    /// The answer when the server's disk is full: nothing of the call was kept, and the device
    /// keeps what it sent until a later sync.
    static let storageFull = WireError(.storageFull, message: "The server's disk is full; nothing of this call was kept. Your changes stay on this device and go up at a later sync, once the server's admin frees space.")

    /// Runs storage work, turning wire errors into HTTP errors and anything else into a 500 without details.
    static func wire<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as WireError {
            throw APIError(error)
        } catch let error as APIError {
            throw error
        } catch let error as StoreError where error.code == .storageFull {
            throw APIError(storageFull)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw APIError(storageFull)
        } catch {
            throw APIError(WireError(.`internal`, message: "The server failed to process the request: \(error)"))
        }
    }
}

