/// Messages of the admin API (`protocol/sync.md`, "Admin calls").

/// A user as an admin created them.
public struct UserInfo: Codable, Hashable, Sendable {
    /// The user's name (unique).
    public var name: String
    /// `rep`, `manager` or `admin`.
    public var role: String
    /// The scope expression (enforced by a later version; stored now).
    public var scope: String

    /// Creates a user description.
    public init(name: String, role: String, scope: String) {
        self.name = name
        self.role = role
        self.scope = scope
    }
}

/// An enrolled device.
public struct DeviceInfo: Codable, Hashable, Sendable {
    /// The device id.
    public var id: String
    /// Its user.
    public var user: String
    /// The name it gave at enrollment.
    public var name: String
    /// The replica id it writes with.
    public var replica: String
    /// When it enrolled and last synced (ISO 8601), if ever.
    public var enrolledAt: String
    public var lastSeen: String?
    /// Whether its token has been revoked.
    public var revoked: Bool
    /// Ids its copied or restored folders took after the enrolled one (the device's token
    /// works in every copy; each copy writes under its own id).
    public var copies: [String]?

    /// Creates a device description.
    public init(id: String, user: String, name: String, replica: String, enrolledAt: String, lastSeen: String?, revoked: Bool, copies: [String]? = nil) {
        self.copies = copies
        self.id = id
        self.user = user
        self.name = name
        self.replica = replica
        self.enrolledAt = enrolledAt
        self.lastSeen = lastSeen
        self.revoked = revoked
    }
}

/// `POST /v1/admin/users`.
public struct AdminUserRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var name: String
    public var role: String
    public var scope: String

    public init(name: String, role: String, scope: String) {
        self.name = name
        self.role = role
        self.scope = scope
    }
}

/// `POST /v1/admin/devices`: a one-time enrollment code for a user.
public struct AdminEnrollRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var user: String

    public init(user: String) { self.user = user }
}
