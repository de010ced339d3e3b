import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// What a comparison with the server found.
public struct VerifyReport: Sendable {
    /// Records that differ (other values here than at the server, or held by one side only).
    public var differing: [RecordRef] = []
    /// Live records compared on this side.
    public var records = 0
    /// True when everything agreed.
    public var agrees: Bool { differing.isEmpty }
}

extension SyncEngine {
    /// Compares this replica with its server (`protocol/sync.md`, "Digests"): each collection's
    /// 256 bucket digests first, then the fingerprints of the records in the buckets that
    /// differ. Run it right after a sync, so both sides stand at the same point.
    public func verify() async throws -> VerifyReport {
        // A bucket that starts to differ between the two steps (a write arrived meanwhile) is
        // not named in the second: the comparison is made again, a few times at most.
        for _ in 0..<3 {
            let (report, settled) = try await compare()
            if settled { return report }
        }
        return try await compare().report
    }

    private func compare() async throws -> (report: VerifyReport, settled: Bool) {
        var report = VerifyReport()
        var held: [String: [(id: String, fingerprint: UInt64)]] = [:]
        var buckets: [String: [String]] = [:]
        for collection in replica.schema.collections {
            let records = try replica.recordFingerprints(collection.name)
            held[collection.name] = records
            buckets[collection.name] = RecordDigest.bucketDigests(records)
            report.records += records.count
        }
        let id = replica.replicaID.rawValue
        let (first, _, _) = try await call("/v1/sync/digest", DigestRequest(replica: id, buckets: buckets), DigestResponse.self, opening: true)
        guard !first.differingBuckets.isEmpty else { return (report, true) }
        var named: [String: [String: String]] = [:]
        for (collection, apart) in first.differingBuckets {
            let apart = Set(apart)
            named[collection] = Dictionary(uniqueKeysWithValues: (held[collection] ?? []).filter { apart.contains(RecordDigest.bucket(of: $0.id)) }
                .map { ($0.id, RecordDigest.hex($0.fingerprint)) })
        }
        let (second, _, _) = try await call("/v1/sync/digest", DigestRequest(replica: id, buckets: buckets, records: named), DigestResponse.self)
        for (collection, ids) in (second.differing ?? [:]).sorted(by: { $0.key < $1.key }) {
            report.differing += ids.map { RecordRef(collection: collection, id: $0) }
        }
        let settled = second.differingBuckets.allSatisfy { collection, buckets in Set(buckets).isSubset(of: first.differingBuckets[collection] ?? []) }
        return (report, settled)
    }

    /// Fetches again, from the server, every change of the records a comparison named, and
    /// rebuilds each from the changes now held: only what differs travels. Returns how many
    /// changes came.
    @discardableResult
    public func repair(_ report: VerifyReport) async throws -> Int {
        let server = try replica.setting(ClientSettings.serverID) ?? "server"
        let before = try replica.changeCount()
        try await fetchHistory(replica, report.differing, through: Int64.max, from: server)
        try replica.rebuild(report.differing.map { ($0.collection, $0.id) })
        return max(0, try replica.changeCount() - before)
    }
}
