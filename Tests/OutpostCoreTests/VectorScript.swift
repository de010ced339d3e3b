//! A small language for writing merge test vectors: replicas write and sync, and each
//! scenario states by hand what a user must see. The vectors in protocol/vectors are generated
//! from these scenarios, so both the hand-written expectations and the stored vectors are checked.
import Foundation
import OutpostCore
import OutpostTestSupport

/// What a scenario's author expects a user to see.
struct Expectation: Sendable {
    var exists = true
    /// Every listed field must resolve to this value (unlisted fields are not checked).
    var values: [String: FieldValue] = [:]
    /// Fields the reader's schema does not know, with their values.
    var unknown: [String: FieldValue] = [:]
    /// Conflicts as (key, kind), in key order.
    var conflicts: [(String, ConflictKind)] = []
    /// The value of each conflict's provisional winner, by key.
    var winners: [String: FieldValue] = [:]
}

/// Replicas writing and syncing one record.
struct VectorScript {
    static let recordID = "0190a000-0000-7000-8000-0000000000aa"
    let rules: CollectionRules
    private(set) var replicas: [String: SimulatedReplica] = [:]
    /// Every change written, in write order.
    private(set) var changes: [Change] = []
    /// When set, the vector merges these two replicas' states instead of applying changes.
    var mergeOf: (String, String)?

    init(rules: CollectionRules) { self.rules = rules }

    private mutating func replica(_ name: String, skew: Int64 = 0) -> SimulatedReplica {
        if let r = replicas[name] { return r }
        let r = SimulatedReplica(id: try! ReplicaID(name), skewMillis: skew)
        replicas[name] = r
        return r
    }

    /// Gives a replica a wall clock that is off by `skew` ms (call before its first write).
    mutating func clock(_ name: String, skew: Int64) { replicas[name] = SimulatedReplica(id: try! ReplicaID(name), skewMillis: skew) }

    /// `name` writes at true time `at` (seconds after the base time).
    mutating func write(_ name: String, at: UInt64, _ writes: [FieldWrite], rules writerRules: CollectionRules? = nil) {
        var r = replica(name)
        let change = try! r.write(writes, delete: false, rules: writerRules ?? rules, recordID: Self.recordID, trueMillis: Self.base + at * 1000)
        replicas[name] = r
        changes.append(change)
    }

    /// `name` deletes the record at true time `at`.
    mutating func delete(_ name: String, at: UInt64) {
        var r = replica(name)
        let change = try! r.write([], delete: true, rules: rules, recordID: Self.recordID, trueMillis: Self.base + at * 1000)
        replicas[name] = r
        changes.append(change)
    }

    /// Delivers everything `from` knows to `to`, in dot order, at true time `at`.
    mutating func sync(_ from: String, to: String, at: UInt64) {
        let source = replica(from)
        var target = replica(to)
        for change in source.known.values.sorted(by: { $0.dot < $1.dot }) {
            target.receive(change, trueMillis: Self.base + at * 1000)
        }
        replicas[to] = target
    }

    static let base: UInt64 = 1_764_000_000_000
}

/// One named merge scenario.
struct Scenario: Sendable {
    let name: String
    let covers: [String]
    let summary: String
    let rules: CollectionRules
    let script: @Sendable (inout VectorScript) -> Void
    let expect: Expectation

    /// The vector file's JSON: inputs, and the outputs the implementation computes.
    func vector() -> JSONValue {
        var s = VectorScript(rules: rules)
        script(&s)
        var doc: [String: JSONValue] = [
            "name": .string(name), "covers": .array(covers.map { .string($0) }), "description": .string(summary),
            "rules": rules.vectorJSON, "record": .string(VectorScript.recordID),
        ]
        let result: RecordState
        if let (a, b) = s.mergeOf {
            let sa = s.replicas[a]!.state(SimulatedReplica.key(rules.collection, VectorScript.recordID))
            let sb = s.replicas[b]!.state(SimulatedReplica.key(rules.collection, VectorScript.recordID))
            doc["merge"] = .array([sa.json, sb.json])
            result = sa.merged(with: sb)
        } else {
            doc["changes"] = .array(s.changes.map(\.json))
            result = s.changes.reduce(RecordState()) { $0.applying($1) }
        }
        doc["expected"] = VectorFile.expectedJSON(result, rules: rules)
        return .object(doc)
    }
}

extension CollectionRules {
    /// The rules as a vector file spells them.
    var vectorJSON: JSONValue {
        var fields: [String: JSONValue] = [:]
        var groupsJSON: [String: JSONValue] = [:]
        for (key, rule) in rules {
            if let members = groups[key] {
                groupsJSON[key] = .object(["rule": .string(rule.rawValue), "members": .array(members.map { .string($0) })])
            } else {
                fields[key] = .string(rule.rawValue)
            }
        }
        return .object(["collection": .string(collection), "fields": .object(fields), "groups": .object(groupsJSON),
                        "delete": .string(deleteRule.rawValue)])
    }

    /// Reads rules from a vector file.
    init(vectorJSON json: JSONValue) throws {
        guard case .object(let o) = json, case .string(let collection)? = o["collection"],
              case .object(let fieldsJSON)? = o["fields"], case .object(let groupsJSON)? = o["groups"],
              case .string(let delete)? = o["delete"], let deleteRule = DeleteRule(rawValue: delete)
        else { throw VectorFile.Error.malformed("rules") }
        var fields: [String: MergeRule] = [:]
        for (k, v) in fieldsJSON {
            guard case .string(let r) = v, let rule = MergeRule(rawValue: r) else { throw VectorFile.Error.malformed("rule of \(k)") }
            fields[k] = rule
        }
        var groups: [String: (rule: MergeRule, members: [String])] = [:]
        for (k, v) in groupsJSON {
            guard case .object(let g) = v, case .string(let r)? = g["rule"], let rule = MergeRule(rawValue: r),
                  case .array(let m)? = g["members"] else { throw VectorFile.Error.malformed("group \(k)") }
            groups[k] = (rule, m.compactMap { if case .string(let s) = $0 { s } else { nil } })
        }
        self.init(collection: collection, fields: fields, groups: groups, deleteRule: deleteRule)
    }
}

/// Reading and checking vector files.
enum VectorFile {
    enum Error: Swift.Error { case malformed(String) }

    /// The folder holding the vectors, found from this source file (works in any clone).
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("protocol/vectors")

    /// The "expected" member: canonical state, existence, visible values, unknown fields, conflicts.
    static func expectedJSON(_ state: RecordState, rules: CollectionRules, recordID: String = VectorScript.recordID) -> JSONValue {
        let resolved = state.resolve(rules, recordID: recordID)
        return .object([
            "state": state.json,
            "exists": .bool(resolved.exists),
            "values": .object(resolved.values.mapValues(\.json)),
            "unknown": .object(resolved.unknownFields.mapValues(\.json)),
            "conflicts": .array(resolved.conflicts.map(\.json)),
        ])
    }
}
