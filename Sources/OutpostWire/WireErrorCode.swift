/// Every error code of the protocol, with the HTTP status a server answers it with: the one
/// place codes are defined and mapped (`protocol/sync.md`, "Errors", is checked against it).
/// Codes a client raises on its own, before or without an answer, have no status.
public enum WireErrorCode: String, CaseIterable, Sendable {
    // 400
    case malformedRequest = "malformed-request"
    case missingProtocol = "missing-protocol"
    case unsupportedProtocol = "unsupported-protocol"
    case malformedChange = "malformed-change"
    case pageTooLarge = "page-too-large"
    case wrongReplica = "wrong-replica"
    case malformedSchema = "malformed-schema"
    case malformedScope = "malformed-scope"
    // 401, 403
    case unauthorized
    case deviceRevoked = "device-revoked"
    case forbidden
    case wrongChannel = "wrong-channel"
    case usersAtHeadOffice = "users-at-head-office"
    case schemaAtHeadOffice = "schema-at-head-office"
    case headOfficeOnly = "head-office-only"
    case invalidCode = "invalid-code"
    // 404, 405
    case unknownUser = "unknown-user"
    case notFound = "not-found"
    case unknownPath = "unknown-path"
    // 409
    case userExists = "user-exists"
    case replicaTaken = "replica-taken"
    case counterWentBack = "counter-went-back"
    case replicaForked = "replica-forked"
    case tooManyReplicas = "too-many-replicas"
    case schemaNotNewer = "schema-not-newer"
    case incompatibleSchema = "incompatible-schema"
    case digestsNeeded = "digests-needed"
    case replicaExpired = "replica-expired"
    // 413, 429, 500, 507
    case bodyTooLarge = "body-too-large"
    case tooManyAttempts = "too-many-attempts"
    case serverBusy = "server-busy"
    case `internal`
    case storageFull = "storage-full"
    // Raised by a program on its own, never sent by a server.
    case tlsSetup = "tls-setup"
    case insecureServer = "insecure-server"
    case untrustedServer = "untrusted-server"
    case badCA = "bad-ca"
    case notEnrolled = "not-enrolled"
    case notABranch = "not-a-branch"
    case notABranchUser = "not-a-branch-user"
    case malformedPage = "malformed-page"
    case malformedFork = "malformed-fork"
    case cannotWrite = "cannot-write"

    /// The HTTP status a server answers this code with; nil for a code no server sends.
    public var httpStatus: Int? {
        switch self {
        case .malformedRequest, .missingProtocol, .unsupportedProtocol, .malformedChange, .pageTooLarge, .wrongReplica,
             .malformedSchema, .malformedScope: 400
        case .unauthorized, .deviceRevoked: 401
        case .forbidden, .wrongChannel, .usersAtHeadOffice, .schemaAtHeadOffice, .headOfficeOnly, .invalidCode: 403
        case .unknownUser, .notFound, .unknownPath: 404
        case .userExists, .replicaTaken, .counterWentBack, .replicaForked, .tooManyReplicas, .schemaNotNewer,
             .incompatibleSchema, .digestsNeeded, .replicaExpired: 409
        case .bodyTooLarge: 413
        case .tooManyAttempts, .serverBusy: 429
        case .internal: 500
        case .storageFull: 507
        case .tlsSetup, .insecureServer, .untrustedServer, .badCA, .notEnrolled, .notABranch, .notABranchUser,
             .malformedPage, .malformedFork, .cannotWrite: nil
        }
    }
}

extension WireError {
    /// An error with one of the protocol's codes.
    public init(_ code: WireErrorCode, message: String, details: [String]? = nil) {
        self.init(code: code.rawValue, message: message, details: details)
    }

    /// The code as one of the protocol's, if it is one (a newer server may send others).
    public var code: WireErrorCode? { WireErrorCode(rawValue: error.code) }
}
