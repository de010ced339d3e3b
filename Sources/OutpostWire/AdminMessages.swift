import OutpostCore

/// Messages of the admin API (`protocol/sync.md`, "Admin calls").

/// A user as an admin created them.
public struct UserInfo: Codable, Hashable, Sendable {
    /// The user's name (unique).
    public var name: String
    /// `rep`, `manager`, `admin` or `branch`.
    public var role: String
    /// The scope expression (enforced by a later version; stored now).
    public var scope: String
    /// Where the user may sync from: `both`, `head-office` (over the internet) or `branch`
    /// (their office only). Stored now, enforced with scopes.
    public var channel: String?
    /// The time zone the user types and reads times in (an IANA name such as `Asia/Almaty`)
    /// when their laptop is given none; nil leaves it to the laptop.
    public var timeZone: String?

    /// Creates a user description.
    public init(name: String, role: String, scope: String, channel: String? = nil, timeZone: String? = nil) {
        self.name = name
        self.role = role
        self.scope = scope
        self.channel = channel
        self.timeZone = timeZone
    }
}

/// `POST /v1/admin/users/edit`: changes a user's role, scope or channel (what is given).
public struct AdminUserEditRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var name: String
    public var role: String?
    public var scope: String?
    public var channel: String?
    /// An IANA zone name, or empty to leave the zone to the laptop.
    public var timeZone: String?

    public init(name: String, role: String? = nil, scope: String? = nil, channel: String? = nil, timeZone: String? = nil) {
        self.name = name
        self.role = role
        self.scope = scope
        self.channel = channel
        self.timeZone = timeZone
    }
}

/// `POST /v1/admin/devices/revoke`: the device's token stops working everywhere in the tree.
public struct AdminRevokeRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var device: String

    public init(device: String) { self.device = device }
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
    /// The software it synced with last (`outpost 0.10.0`).
    public var appVersion: String?
    /// Its own writes it declared at its last hello that this server has not acknowledged.
    public var pendingUp: Int?
    /// About how many changes this server held that it had not pulled, as of its last hello
    /// (the `seen` it sent then, before that sync's pull).
    public var pendingDown: Int?
    /// How far its clock was from this server's at its last hello, in milliseconds (positive:
    /// ahead), when more than a minute; nil when they agree.
    public var clockSkewMillis: Int64?

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
    /// `both` (the default), `head-office` or `branch`.
    public var channel: String?
    /// An IANA zone name (`Asia/Tashkent`), or nil to leave the zone to the laptop.
    public var timeZone: String?

    public init(name: String, role: String, scope: String, channel: String? = nil, timeZone: String? = nil) {
        self.name = name
        self.role = role
        self.scope = scope
        self.channel = channel
        self.timeZone = timeZone
    }
}

/// `POST /v1/admin/devices`: a one-time enrollment code for a user.
public struct AdminEnrollRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var user: String
    /// How long the code works, in hours (24 unless said; at most 720).
    public var expiresHours: Double?

    public init(user: String, expiresHours: Double? = nil) {
        self.user = user
        self.expiresHours = expiresHours
    }
}

/// One side of a conflict, as the admin sees it.
public struct ConflictSide: Codable, Hashable, Sendable {
    /// The write's dot (what `--take` names), and its value as in `protocol/merge.md`.
    public var dot: String
    public var value: JSONValue
    /// The value as people read it.
    public var text: String
    /// Who wrote it, on which device, and when (ISO 8601 from its HLC).
    public var user: String
    public var device: String
    public var at: String
    /// The branch server the write came up through (absent: written at head office).
    public var branch: String?

    public init(dot: String, value: JSONValue, text: String, user: String, device: String, at: String, branch: String? = nil) {
        self.branch = branch
        self.dot = dot
        self.value = value
        self.text = text
        self.user = user
        self.device = device
        self.at = at
    }
}

/// A conflict waiting for an admin (`GET /v1/admin/conflicts`).
public struct ConflictInfo: Codable, Hashable, Sendable {
    public var id: String
    public var collection: String
    public var record: String
    /// The field or field group (`_presence` for a delete-versus-update clash).
    public var key: String
    /// `concurrent-values`, `delete-vs-update` or `orphan`, and the rule that picked the provisional winner.
    public var kind: String
    public var rule: String
    public var sides: [ConflictSide]
    /// The dot of the side shown until an admin decides.
    public var winner: String
    /// The record around it (`conflicts show`): its visible values as text.
    public var recordValues: [String: String]?
    /// How it closed (`conflicts list --resolved`); absent while it is open.
    public var closed: ConflictClosing?

    public init(id: String, collection: String, record: String, key: String, kind: String, rule: String, sides: [ConflictSide], winner: String,
                recordValues: [String: String]? = nil) {
        self.id = id
        self.collection = collection
        self.record = record
        self.key = key
        self.kind = kind
        self.rule = rule
        self.sides = sides
        self.winner = winner
        self.recordValues = recordValues
    }
}

/// How a conflict closed: an admin's settlement, or a later edit that had seen every side
/// (`protocol/merge.md`, section 8).
public struct ConflictClosing: Codable, Hashable, Sendable {
    /// `settled` (by an admin) or `later-edit`.
    public var how: String
    /// Who wrote the closing write, on which device, when (ISO 8601), and its dot.
    public var user: String
    public var device: String
    public var at: String
    public var dot: String
    /// What it left, as people read it.
    public var outcome: String

    public init(how: String, user: String, device: String, at: String, dot: String, outcome: String) {
        self.how = how
        self.user = user
        self.device = device
        self.at = at
        self.dot = dot
        self.outcome = outcome
    }
}

/// `POST /v1/admin/conflicts/resolve`: one conflict (`id`), or every open conflict on
/// `collection`.`field` (bulk), settled by taking a side or giving a value.
public struct ConflictResolveRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var id: String?
    public var collection: String?
    public var field: String?
    /// A side's dot, its number in the listing (1, 2, ...), a writer's user name, or for many
    /// conflicts at once `newest`, `oldest`, `highest`.
    public var take: String?
    /// A value of the admin's own, as JSON (`"won"`, `{"group": {...}}`) …
    public var value: JSONValue?
    /// … or as people type it (`won`, `2026-12-01`).
    public var valueText: String?

    public init(id: String? = nil, collection: String? = nil, field: String? = nil, take: String? = nil, value: JSONValue? = nil, valueText: String? = nil) {
        self.id = id
        self.collection = collection
        self.field = field
        self.take = take
        self.value = value
        self.valueText = valueText
    }
}

/// One entry of the audit trail: a resolution, merge or dismissal, by whom, when, what was
/// chosen and what was there before.
public struct AuditEntry: Codable, Hashable, Sendable {
    public var at: String
    public var who: String
    /// `conflict-resolved`, …
    public var action: String
    public var collection: String
    public var record: String
    public var key: String
    /// The conflict (or pair) it settled.
    public var subject: String
    /// What was chosen, and every side that was there before, as text.
    public var chosen: String
    public var before: [String]
    /// The dot of the write that carried it.
    public var dot: String?

    public init(at: String, who: String, action: String, collection: String, record: String, key: String, subject: String,
                chosen: String, before: [String], dot: String?) {
        self.at = at
        self.who = who
        self.action = action
        self.collection = collection
        self.record = record
        self.key = key
        self.subject = subject
        self.chosen = chosen
        self.before = before
        self.dot = dot
    }
}

/// Two records that are probably one (`GET /v1/admin/duplicates`).
public struct DuplicateInfo: Codable, Hashable, Sendable {
    public var collection: String
    /// Their ids, and their visible values as text.
    public var a: String, b: String
    public var aValues: [String: String], bValues: [String: String]
    /// What they share, and how sure (0–1).
    public var reasons: [String]
    public var score: Double

    public init(collection: String, a: String, b: String, aValues: [String: String], bValues: [String: String], reasons: [String], score: Double) {
        self.collection = collection
        self.a = a
        self.b = b
        self.aValues = aValues
        self.bValues = bValues
        self.reasons = reasons
        self.score = score
    }
}

/// `POST /v1/admin/duplicates/merge`: merge `other` into `keep`; `take` names, per field, the
/// side whose value wins (`keep` or `other`; by default empty fields of `keep` are filled).
public struct DuplicateMergeRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var keep: String
    public var other: String
    public var take: [String: String]?

    public init(keep: String, other: String, take: [String: String]? = nil) {
        self.keep = keep
        self.other = other
        self.take = take
    }
}

/// `POST /v1/admin/duplicates/dismiss`: `a` and `b` are not duplicates, for good.
public struct DuplicateDismissRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    public var a: String
    public var b: String

    public init(a: String, b: String) {
        self.a = a
        self.b = b
    }
}
