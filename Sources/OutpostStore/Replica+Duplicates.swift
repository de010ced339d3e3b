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
                                           score: ((1 - entry.miss) * 100).rounded() / 100))
            }
        }
        return pairs.sorted { ($0.score, $1.a) > ($1.score, $0.a) }
    }

    /// Merges `other` into `keep`, in one transaction: empty fields of `keep` take `other`'s
    /// values (a field group is taken whole from one side, never mixed; sets are united; `take`
    /// decides a field or a group's member), every record that references `other` is moved to
    /// `keep`, and `other` is deleted. Each step is a write stamped with `author` that syncs like
    /// any other.
    ///
    /// - warning: A value filled from `other` is a newer write than an edit of `keep` a rep made
    ///   offline before the merge reached them: the merge's value wins under `lww`.
    public func merge(_ collection: String, keep: String, other: String, take: [String: MergeSide] = [:], author: Author) throws -> MergeReport {
        let table = try table(collection)
        guard keep != other else { throw StoreError(.invalidInput, "A record cannot be merged into itself.") }
        for field in take.keys where table.spec.field(field) == nil {
            throw StoreError(.invalidInput, "\(collection) has no field '\(field)'.")
        }
        let referrers = referringFields(to: collection)
        return try write { db in
            let loadedKeep = try RecordIO.load(db, table: table, collection: collection, id: keep)
            let loadedOther = try RecordIO.load(db, table: table, collection: collection, id: other)
            guard loadedKeep.live else { throw StoreError.notFound(collection, keep) }
            guard loadedOther.live else { throw StoreError.notFound(collection, other) }
            let mine = loadedKeep.state.resolve(table.rules, recordID: keep).values
            let theirs = loadedOther.state.resolve(table.rules, recordID: other).values
            var writes: [FieldWrite] = []
            var decided = Set<String>()
            // A group comes whole from the side that has it (keep's if both do).
            for (_, members) in table.rules.groups {
                let side = members.compactMap { take[$0] }.first
                    ?? (members.allSatisfy { (mine[$0] ?? .null) == .null } ? .other : .keep)
                if side == .other {
                    for m in members where (theirs[m] ?? .null) != (mine[m] ?? .null) { writes.append(.set(m, theirs[m] ?? .null)) }
                }
                decided.formUnion(members)
            }
            for field in table.spec.fields where !decided.contains(field.name) {
                let a = mine[field.name] ?? .null, b = theirs[field.name] ?? .null
                let chosen: FieldValue
                switch take[field.name] {
                case .other?: chosen = b
                case .keep?: chosen = a
                case nil:
                    if case .set(let x) = a, case .set(let y) = b { chosen = .makeSet(x + y) } else { chosen = a == .null ? b : a }
                }
                if chosen != a { writes.append(.set(field.name, chosen)) }
            }
            if !writes.isEmpty {
                try commitLocal(db, table: table, id: keep, loaded: loadedKeep, author: author) { state, stamp in
                    try state.write(writes, stamp: stamp, rules: table.rules, recordID: keep)
                }
            }
            let moved = try repoint(db, referrers, from: other, to: keep, author: author)
            let retired = try RecordIO.load(db, table: table, collection: collection, id: other)
            try commitLocal(db, table: table, id: other, loaded: retired, author: author) { state, stamp in
                try state.delete(stamp: stamp, rules: table.rules, recordID: other)
            }
            return MergeReport(fieldsTaken: writes.map(\.field), childrenMoved: moved)
        }
    }

    /// Every (collection, field) whose reference points into `collection`.
    func referringFields(to collection: String) -> [(collection: String, field: String)] {
        schema.collections.flatMap { spec in
            spec.fields.filter { $0.type == .reference && $0.references == collection }.map { (spec.name, $0.name) }
        }
    }

    /// Moves every live record that references `from` to `to`; returns how many moved.
    func repoint(_ db: Database, _ referrers: [(collection: String, field: String)], from: String, to: String, author: Author) throws -> Int {
        var moved = 0
        for (child, field) in referrers {
            guard let childTable = tables[child] else { continue }
            let ids = try String.fetchAll(db, sql: "SELECT id FROM \(child.quotedDatabaseIdentifier) WHERE \(field.quotedDatabaseIdentifier) = ?", arguments: [from])
            for id in ids {
                let loaded = try RecordIO.load(db, table: childTable, collection: child, id: id)
                guard loaded.live else { continue }
                try commitLocal(db, table: childTable, id: id, loaded: loaded, author: author) { state, stamp in
                    try state.write([.set(field, .reference(to))], stamp: stamp, rules: childTable.rules, recordID: id)
                }
                moved += 1
            }
        }
        return moved
    }

    /// Moves orphans (records whose parent is not live here) whose parent was merged away to
    /// the record it was merged into: a child written offline under a retired record arrives
    /// after the merge. `redirects` maps (collection, retired id) to the kept id. Returns how many moved.
    public func repairOrphans(redirects: [String: String], author: Author) throws -> Int {
        guard !redirects.isEmpty else { return 0 }
        let orphans = try read { db in
            try Row.fetchAll(db, sql: "SELECT collection, record_id, parent_collection, parent_id FROM outpost_orphans").map {
                ($0["collection"] as String, $0["record_id"] as String, $0["parent_collection"] as String, $0["parent_id"] as String)
            }
        }
        var moved = 0
        for (child, id, parentCollection, parentID) in orphans {
            guard let to = redirects[parentCollection + "\u{1F}" + parentID], to != parentID,
                  let field = childCollections(of: parentCollection).first(where: { $0.collection == child })?.field else { continue }
            try update(child, id: id, [.set(field, .reference(to))], author: author)
            moved += 1
        }
        return moved
    }
}
