import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// Two records that are probably the same customer (or contact, or product).
public struct DuplicatePair: Hashable, Sendable {
    /// Their collection, and their ids in byte order.
    public let collection: String
    public let a: String, b: String
    /// What they share, as sentences ("same phone (99112233)").
    public let reasons: [String]
    /// How sure: 1 − Π(1 − weight of each shared key); a tax id weighs most, a name least.
    public let score: Double
}

/// What merging two duplicates did.
public struct MergeReport: Hashable, Sendable {
    /// Fields the kept record took from the other one.
    public let fieldsTaken: [String]
    /// Child records (contacts, deals, activities, tasks) moved to the kept record.
    public let childrenMoved: Int
}

/// Which record a merged field's value comes from.
public enum MergeSide: String, Sendable {
    case keep, other
}

extension Replica {
    /// How much each kind of shared key says.
    static func weight(of key: DuplicateKey) -> Double {
        switch key.normalize {
        case .alnum: 0.95
        case .email: 0.85
        case .phone: 0.7
        case .text: key.fields.count > 1 ? 0.6 : 0.5
        }
    }

    /// Probable duplicates among live records, found on the schema's duplicate keys (and, for
    /// collections with a `name` field, on the name alone), after the matching of docs/matching.md.
    public func probableDuplicates(in only: String? = nil) throws -> [DuplicatePair] {
        var pairs: [DuplicatePair] = []
        for spec in schema.collections where (only == nil || spec.name == only) && !spec.duplicateKeys.isEmpty {
            var keys = spec.duplicateKeys
            if spec.field("name") != nil, !keys.contains(where: { $0.fields == ["name"] }) {
                keys.append(DuplicateKey(name: "name", fields: ["name"], normalize: .text))
            }
            var shared: [String: (reasons: [String], miss: Double)] = [:]
            let records = try query(spec.name)
            for key in keys {
                var groups: [String: [String]] = [:]
                for record in records {
                    let parts = key.fields.compactMap { f in record.values[f].flatMap { $0 == .null ? nil : key.normalize.apply(CollectionSpec.format($0)) } }
                    guard parts.count == key.fields.count else { continue }
                    groups[parts.joined(separator: " | "), default: []].append(record.id)
                }
                for (form, ids) in groups where ids.count > 1 {
                    let sorted = ids.sorted()
                    for i in 0..<sorted.count {
                        for j in (i + 1)..<sorted.count {
                            let pair = sorted[i] + "\u{1F}" + sorted[j]
                            var entry = shared[pair] ?? ([], 1)
                            entry.reasons.append("same \(key.fields.joined(separator: " and ")) (\(form))")
                            entry.miss *= 1 - Self.weight(of: key)
                            shared[pair] = entry
                        }
                    }
                }
            }
            for (pair, entry) in shared {
                let ids = pair.split(separator: "\u{1F}").map(String.init)
                pairs.append(DuplicatePair(collection: spec.name, a: ids[0], b: ids[1], reasons: entry.reasons,
                                           score: (1 - entry.miss) * 100 .rounded() / 100))
            }
        }
        return pairs.sorted { ($0.score, $1.a) > ($1.score, $0.a) }
    }

    /// Merges `other` into `keep`: empty fields of `keep` take `other`'s values (or, per field,
    /// the side `take` names; sets are united), every child record of `other` is moved to
    /// `keep`, and `other` is deleted. Each step is a write stamped with `author` that syncs like
    /// any other.
    public func merge(_ collection: String, keep: String, other: String, take: [String: MergeSide] = [:], author: Author) throws -> MergeReport {
        let table = try table(collection)
        guard keep != other else { throw StoreError(.invalidInput, "A record cannot be merged into itself.") }
        guard let kept = try get(collection, id: keep) else { throw StoreError.notFound(collection, keep) }
        guard let retired = try get(collection, id: other) else { throw StoreError.notFound(collection, other) }
        for field in take.keys where table.spec.field(field) == nil {
            throw StoreError(.invalidInput, "\(collection) has no field '\(field)'.")
        }
        var writes: [FieldWrite] = []
        for field in table.spec.fields {
            let mine = kept.values[field.name] ?? .null, theirs = retired.values[field.name] ?? .null
            let chosen: FieldValue
            switch take[field.name] {
            case .other?: chosen = theirs
            case .keep?: chosen = mine
            case nil:
                if case .set(let a) = mine, case .set(let b) = theirs { chosen = .makeSet(a + b) } else { chosen = mine == .null ? theirs : mine }
            }
            if chosen != mine { writes.append(.set(field.name, chosen)) }
        }
        if !writes.isEmpty { try update(collection, id: keep, writes, author: author) }
        let moved = try repoint(collection, from: other, to: keep, author: author)
        try delete(collection, id: other, author: author)
        return MergeReport(fieldsTaken: writes.map(\.field), childrenMoved: moved)
    }

    /// Moves every live child record of `from` to `to`; returns how many moved.
    @discardableResult
    public func repoint(_ collection: String, from: String, to: String, author: Author) throws -> Int {
        var moved = 0
        for (child, field) in childCollections(of: collection) {
            for record in try query(child, where: [(field, .reference(from))]) {
                try update(child, id: record.id, [.set(field, .reference(to))], author: author)
                moved += 1
            }
        }
        return moved
    }
}
