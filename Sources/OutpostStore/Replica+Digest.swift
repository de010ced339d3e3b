import Foundation
import GRDB
import OutpostCore

/// Anti-entropy digests (`protocol/sync.md`, "Digests"): a fingerprint of each live record as
/// every replica shows it (its id and the canonical JSON of its values), summed into 256 buckets
/// per collection, so a laptop and its server find the records they disagree on by exchanging a
/// few kilobytes, then only the fingerprints of the buckets that differ.
public enum RecordDigest {
    /// Buckets per collection.
    public static let bucketCount = 256

    /// 64-bit FNV-1a: not a defence against a forger (a device only compares itself), a
    /// cheap, stable, language-neutral hash.
    public static func fnv1a<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The bucket of a record: the top byte of its id's hash.
    public static func bucket(of id: String) -> Int { Int(fnv1a(id.utf8) >> 56) }

    /// A record's fingerprint: the hash of its id, a line feed and the canonical JSON of its values.
    public static func fingerprint(id: String, values: [String: FieldValue]) -> UInt64 {
        fnv1a(Array(id.utf8) + [0x0A] + Array(JSONValue.object(values.mapValues(\.json)).canonicalText.utf8))
    }

    /// Each bucket as `count:sum` (the wrapping sum of its fingerprints, 16 hex digits).
    public static func bucketDigests(_ records: [(id: String, fingerprint: UInt64)]) -> [String] {
        var counts = [Int](repeating: 0, count: bucketCount), sums = [UInt64](repeating: 0, count: bucketCount)
        for r in records {
            let b = bucket(of: r.id)
            counts[b] += 1
            sums[b] = sums[b] &+ r.fingerprint
        }
        return (0..<bucketCount).map { "\(counts[$0]):\(hex(sums[$0]))" }
    }

    /// 16 lower-case hex digits.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension Replica {
    /// Every live record of a collection with its fingerprint (``RecordDigest``).
    public func recordFingerprints(_ collection: String) throws -> [(id: String, fingerprint: UInt64)] {
        try query(collection).map { ($0.id, RecordDigest.fingerprint(id: $0.id, values: $0.values)) }
    }

    /// Rebuilds records from the changes this replica holds of them (the feed): state, plain
    /// row, conflicts and orphan marks, whatever happened to them behind Outpost's back.
    /// A repair calls it after fetching the server's changes of the records that differed.
    public func rebuild(_ records: [(collection: String, id: String)]) throws {
        try write { db in
            for record in records { try rebuild(db, collection: record.collection, id: record.id) }
        }
    }
}
