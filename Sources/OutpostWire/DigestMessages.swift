/// `POST /v1/sync/digest`: a device compares what it holds with the server, in two steps
/// (`protocol/sync.md`, "Digests"). First the 256 bucket digests of each collection; then, for
/// the buckets the server named, each record's fingerprint.
public struct DigestRequest: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// The replica comparing itself.
    public var replica: String
    /// Per collection, its 256 bucket digests (`count:sum`).
    public var buckets: [String: [String]]
    /// Second step: per collection, each record of the differing buckets and its fingerprint (16 hex digits).
    public var records: [String: [String: String]]?

    /// The most records a second step may name.
    public static let recordLimit = 200_000

    public init(replica: String, buckets: [String: [String]], records: [String: [String: String]]? = nil) {
        self.replica = replica
        self.buckets = buckets
        self.records = records
    }
}

/// The server's side of a comparison.
public struct DigestResponse: Codable, Sendable {
    public var `protocol` = ProtocolVersion.current
    /// Per collection, the buckets whose digests differ (collections that agree are absent).
    public var differingBuckets: [String: [Int]]
    /// Second step: per collection, the records that differ (other values, or held by one side only).
    public var differing: [String: [String]]?

    public init(differingBuckets: [String: [Int]], differing: [String: [String]]? = nil) {
        self.differingBuckets = differingBuckets
        self.differing = differing
    }
}
