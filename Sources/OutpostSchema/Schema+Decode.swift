import Foundation
import OutpostCore

extension Schema {
    /// Reads and validates a schema file's JSON; the error names the first problem found.
    public init(json data: Data) throws(SchemaError) {
        let file: SchemaFile
        do {
            file = try JSONDecoder().decode(SchemaFile.self, from: data)
        } catch let error as DecodingError {
            throw SchemaError.malformed(Self.describe(error))
        } catch {
            throw SchemaError.malformed("\(error)")
        }
        guard file.format == SchemaFile.currentFormat else {
            throw SchemaError.malformed("format is '\(file.format)', this program reads '\(SchemaFile.currentFormat)'.")
        }
        var seen = Set<String>()
        var collections: [CollectionSpec] = []
        for c in file.collections {
            guard seen.insert(c.name).inserted else { throw SchemaError.malformed("collection '\(c.name)' is declared twice.") }
            collections.append(try Self.validate(c))
        }
        let names = Set(collections.map(\.name))
        for c in collections {
            for f in c.fields where f.type == .reference {
                guard let target = f.references, names.contains(target) else {
                    throw SchemaError.malformed("\(c.name).\(f.name) references collection '\(f.references ?? "")', which is not declared.")
                }
            }
        }
        self.init(version: file.version, collections: collections, fileJSON: String(decoding: data, as: UTF8.self))
    }

    /// Reads a schema file from disk.
    public init(contentsOf url: URL) throws(SchemaError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SchemaError.malformed("cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(json: data)
    }

    /// Names are SQL identifiers users type: lowercase, digits, underscores, not reserved.
    static func checkName(_ name: String, _ what: String) throws(SchemaError) {
        let bytes = Array(name.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 63 && (bytes[0] >= 0x61 && bytes[0] <= 0x7A)
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
        guard valid else { throw SchemaError.malformed("\(what) '\(name)' must start with a-z and use only a-z, 0-9 and '_'.") }
        guard !name.hasPrefix("outpost_"), !["id", "rowid", "oid"].contains(name) else {
            throw SchemaError.malformed("\(what) '\(name)' is reserved.")
        }
    }

    private static func validate(_ c: SchemaFile.Collection) throws(SchemaError) -> CollectionSpec {
        try checkName(c.name, "collection")
        var groupOf: [String: SchemaFile.Group] = [:]
        for g in c.groups ?? [] {
            try checkName(g.name, "group")
            guard g.members.count >= 2 else { throw SchemaError.malformed("group \(c.name).\(g.name) needs at least two members.") }
            for m in g.members {
                guard groupOf[m] == nil else { throw SchemaError.malformed("\(c.name).\(m) is in two groups.") }
                groupOf[m] = g
            }
        }
        var fields: [FieldSpec] = []
        for f in c.fields {
            try checkName(f.name, "field")
            guard fields.allSatisfy({ $0.name != f.name }) else { throw SchemaError.malformed("\(c.name).\(f.name) is declared twice.") }
            guard (c.groups ?? []).allSatisfy({ $0.name != f.name }) else { throw SchemaError.malformed("\(c.name).\(f.name) has the name of a group.") }
            guard let type = FieldType(rawValue: f.type) else {
                throw SchemaError.malformed("\(c.name).\(f.name) has type '\(f.type)'; use one of \(FieldType.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            var rule = type.defaultRule
            if let r = f.rule {
                guard let parsed = MergeRule(rawValue: r) else {
                    throw SchemaError.malformed("\(c.name).\(f.name) has rule '\(r)'; use one of \(MergeRule.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                rule = parsed
            }
            if let g = groupOf[f.name] {
                guard f.rule == nil else { throw SchemaError.malformed("\(c.name).\(f.name) is in group \(g.name); set the rule on the group.") }
                rule = MergeRule(rawValue: g.rule ?? "lww") ?? .lww
                guard rule == .lww || rule == .manual else { throw SchemaError.malformed("group \(c.name).\(g.name) must use lww or manual.") }
                guard type != .set else { throw SchemaError.malformed("\(c.name).\(f.name) is a set and cannot be in a group.") }
            }
            guard type.allows(rule) else { throw SchemaError.malformed("\(c.name).\(f.name) of type \(type.rawValue) cannot use rule \(rule.rawValue).") }
            if type == .reference, f.collection == nil {
                throw SchemaError.malformed("\(c.name).\(f.name) is a reference; say which collection it points to with \"collection\".")
            }
            if f.values != nil, type != .string { throw SchemaError.malformed("\(c.name).\(f.name): \"values\" is only for string fields.") }
            let spec = FieldSpec(name: f.name, type: type, required: f.required ?? false, rule: rule,
                                 references: f.collection, allowedValues: f.values, defaultText: f.default)
            if let text = f.default, !(text == "now" && (type == .timestamp || type == .date)) {
                let probe = CollectionSpec(name: c.name, fields: [spec], groups: [], deleteRule: .updateWins, parentField: nil,
                                           scopeFields: [], duplicateKeys: [], isReferenceData: false)
                do { try probe.check(try probe.parse(text, for: f.name), for: f.name) } catch {
                    throw SchemaError.malformed("\(c.name).\(f.name) has default '\(text)', which is not a value of the field: \(error)")
                }
            }
            fields.append(spec)
        }
        for g in c.groups ?? [] {
            for m in g.members where !fields.contains(where: { $0.name == m }) {
                throw SchemaError.malformed("group \(c.name).\(g.name) names \(m), which is not a field.")
            }
        }
        if let p = c.parent {
            guard let f = fields.first(where: { $0.name == p }), f.type == .reference else {
                throw SchemaError.malformed("\(c.name): parent '\(p)' must be a reference field of the collection.")
            }
        }
        for s in c.scope ?? [] where !fields.contains(where: { $0.name == s }) {
            throw SchemaError.malformed("\(c.name): scope field '\(s)' is not a field.")
        }
        var keys: [DuplicateKey] = []
        for d in c.duplicates ?? [] {
            guard let n = DuplicateKey.Normalization(rawValue: d.normalize) else {
                throw SchemaError.malformed("\(c.name): duplicate key \(d.name) has normalization '\(d.normalize)'; use alnum, phone, email or text.")
            }
            for f in d.fields where !fields.contains(where: { $0.name == f }) {
                throw SchemaError.malformed("\(c.name): duplicate key \(d.name) names \(f), which is not a field.")
            }
            keys.append(DuplicateKey(name: d.name, fields: d.fields, normalize: n))
        }
        let deleteRule: DeleteRule
        if let d = c.delete {
            guard let parsed = DeleteRule(rawValue: d) else { throw SchemaError.malformed("\(c.name): delete rule '\(d)'; use update-wins or delete-wins.") }
            deleteRule = parsed
        } else {
            deleteRule = .updateWins
        }
        let groups = (c.groups ?? []).map { GroupSpec(name: $0.name, members: $0.members, rule: MergeRule(rawValue: $0.rule ?? "lww") ?? .lww) }
        return CollectionSpec(name: c.name, fields: fields, groups: groups, deleteRule: deleteRule, parentField: c.parent,
                              scopeFields: c.scope ?? [], duplicateKeys: keys, isReferenceData: c.reference_data ?? false)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "the top level" : String(p.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)) lacks \"\(key.stringValue)\"."
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context)) has the wrong type."
        case .dataCorrupted(let context): return "not valid JSON (\(context.debugDescription))."
        @unknown default: return "\(error)"
        }
    }
}

/// The schema file as written (see protocol/schema.md).
struct SchemaFile: Decodable {
    static let currentFormat = "outpost-schema/1"

    struct Field: Decodable {
        let name: String
        let type: String
        let required: Bool?
        let rule: String?
        let collection: String?
        let values: [String]?
        let `default`: String?
    }

    struct Group: Decodable {
        let name: String
        let members: [String]
        let rule: String?
    }

    struct Duplicate: Decodable {
        let name: String
        let fields: [String]
        let normalize: String
    }

    struct Collection: Decodable {
        let name: String
        let fields: [Field]
        let groups: [Group]?
        let delete: String?
        let parent: String?
        let scope: [String]?
        let duplicates: [Duplicate]?
        // swiftlint:disable:next identifier_name
        let reference_data: Bool?
    }

    let format: String
    let version: Int
    let collections: [Collection]
}
