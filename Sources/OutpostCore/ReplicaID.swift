/// The stable identity of one replica (a laptop, a branch server or head office).
///
/// Replica ids are compared bytewise; that order is the last tie-break of `lww`, so the
/// alphabet is restricted to lowercase ASCII letters, digits, `-` and `_` (1 to 64 characters).
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The id as written on the wire.
    public let rawValue: String

    /// Creates a replica id, or throws if it uses characters outside `[a-z0-9_-]` or has the wrong length.
    public init(_ rawValue: String) throws(CoreError) {
        guard Self.isValid(rawValue) else { throw CoreError.invalidReplicaID(rawValue) }
        self.rawValue = rawValue
    }

    /// Whether `text` is a well-formed replica id.
    public static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x5F
        }
    }

    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    public var description: String { rawValue }
}
