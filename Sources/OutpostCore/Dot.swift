/// The name of one write: the replica that originated it and that replica's counter at the time.
///
/// A dot is unique across the whole tree and survives relaying unchanged, so every replica
/// recognizes the same write. Written on the wire as `"replica:counter"`.
public struct Dot: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The replica that originated the write.
    public let replica: ReplicaID
    /// The replica's write counter; the first write is 1.
    public let counter: UInt64

    /// Creates a dot.
    public init(_ replica: ReplicaID, _ counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    /// Parses `"replica:counter"`.
    public init(parsing text: String) throws(CoreError) {
        guard let colon = text.lastIndex(of: ":"),
              let counter = UInt64(text[text.index(after: colon)...]), counter > 0
        else { throw CoreError.malformed("dot", text) }
        self.replica = try ReplicaID(String(text[..<colon]))
        self.counter = counter
    }

    public static func < (lhs: Dot, rhs: Dot) -> Bool {
        lhs.replica == rhs.replica ? lhs.counter < rhs.counter : lhs.replica < rhs.replica
    }

    public var description: String { "\(replica.rawValue):\(counter)" }
}
