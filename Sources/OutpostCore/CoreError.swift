/// Why the merge core refused an input; the description is a sentence safe to show a user.
public enum CoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A replica id with characters outside `[a-z0-9_-]` or of the wrong length.
    case invalidReplicaID(String)
    /// A value of the given kind could not be parsed from the given text.
    case malformed(String, String)
    /// A remote HLC is further ahead of this replica's clock than the allowed drift.
    case remoteClockTooFarAhead(remote: HLCTimestamp, limitMillis: UInt64)
    /// A write names a field whose merge rule does not allow that operation.
    case operationNotAllowed(field: String, operation: String, rule: MergeRule)
    /// A change whose parts contradict each other (an entry not covered by its context, a missing dot).
    case inconsistentChange(String)
    /// A write to a record that does not exist (never created, or deleted).
    case recordMissing

    public var description: String {
        switch self {
        case .invalidReplicaID(let id):
            "'\(id)' is not a valid replica id: use 1 to 64 characters from a-z, 0-9, '-' and '_'."
        case .malformed(let kind, _):
            "This is not a valid \(kind)."
        case .remoteClockTooFarAhead(let remote, let limit):
            "A change is stamped \(remote.wallMillis) ms, more than \(limit / 1000) s ahead of this clock; fix the sender's system clock and sync again."
        case .operationNotAllowed(let field, let operation, let rule):
            "Field '\(field)' uses the '\(rule.rawValue)' rule, which does not allow '\(operation)'."
        case .inconsistentChange(let why):
            "The change is inconsistent: \(why)."
        case .recordMissing:
            "The record does not exist or was deleted."
        }
    }
}
