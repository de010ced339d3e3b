import OutpostCore

extension CollectionSpec {
    /// Parses what a user typed (command line, CSV cell) into a typed value for `field`.
    ///
    /// An empty text is null. Sets are comma-separated; `\,` and `\\` escape a comma or a
    /// backslash inside an element. Booleans accept true/false, yes/no, 1/0. A time typed
    /// without a zone is the wall clock of `zone`.
    public func parse(_ text: String, for field: String, zone: LocalZone = .utc) throws(SchemaError) -> FieldValue {
        let spec = try knownField(field)
        if text.isEmpty { return .null }
        func wrong(_ expected: String) -> SchemaError {
            SchemaError(.wrongType, "\(name).\(field) is \(expected); '\(text)' is not.")
        }
        switch spec.type {
        case .string, .text: return .string(text)
        case .integer:
            guard let n = Int64(text) else { throw wrong("a whole number") }
            return .integer(n)
        case .decimal:
            do { return .decimal(try DecimalNumber(text)) } catch { throw wrong("a decimal number such as 1250.50") }
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "1": return .bool(true)
            case "false", "no", "0": return .bool(false)
            default: throw wrong("true or false")
            }
        case .date:
            guard FieldValue.isValidDate(text) else { throw wrong("a date YYYY-MM-DD") }
            return .date(text)
        case .timestamp:
            guard let ms = zone.parseMillis(text) else { throw wrong("a time such as 2026-11-24 09:30 (your time zone) or 2026-11-24T09:30Z") }
            return .timestamp(ms)
        case .uuid, .reference:
            let lower = text.lowercased()
            guard FieldValue.isValidUUID(lower) else { throw wrong("a record id (UUID)") }
            return spec.type == .uuid ? .uuid(lower) : .reference(lower)
        case .set:
            return FieldValue.makeSet(Self.splitSet(text))
        }
    }

    /// Formats a value as `parse` reads it back (export, `show`, `list`).
    public static func format(_ value: FieldValue) -> String {
        switch value {
        case .null: ""
        case .bool(let b): b ? "true" : "false"
        case .integer(let n): String(n)
        case .decimal(let d): d.description
        case .string(let s), .date(let s), .uuid(let s), .reference(let s): s
        case .timestamp(let ms): CivilTime.iso8601(millis: ms)
        case .set(let items): items.map { $0.replacingAll("\\", with: "\\\\").replacingAll(",", with: "\\,") }.joined(separator: ",")
        case .group(let parts): parts.keys.sorted().map { "\($0)=\(format(parts[$0]!))" }.joined(separator: " ")
        }
    }

    /// Formats a value as `parse` reads it back, a time with the offset of `zone` (export).
    public static func format(_ value: FieldValue, zone: LocalZone) -> String {
        if case .timestamp(let ms) = value { return zone.iso8601(ms) }
        return format(value)
    }

    /// A value as a person reads it: a time on the wall clock of `zone` (`2026-11-25 10:00`).
    public static func display(_ value: FieldValue, zone: LocalZone) -> String {
        if case .timestamp(let ms) = value { return zone.display(ms) }
        return format(value)
    }

    /// Checks a typed value for `field` (type and, with `strict`, the pick list).
    public func check(_ value: FieldValue, for field: String, strict: Bool = true) throws(SchemaError) {
        let spec = try knownField(field)
        guard spec.type.accepts(value) else {
            throw SchemaError(.wrongType, "\(name).\(field) is of type \(spec.type.rawValue), not \(value.typeName).")
        }
        if let problem = ValueLimits.problem(value, type: spec.type, field: "\(name).\(field)") {
            throw SchemaError(.tooLarge, problem)
        }
        // A time no four-digit year shows is not written here; one received from elsewhere
        // (strict off) is kept as the merge protocol allows, and shown clamped.
        if strict, case .timestamp(let ms) = value, !CivilTime.representable(ms) {
            throw SchemaError(.wrongType, "\(name).\(field) is a time between the years 0000 and 9999; \(ms) ms since 1970 is not.")
        }
        if strict, let allowed = spec.allowedValues, case .string(let s) = value, !allowed.contains(s) {
            throw SchemaError(.notAllowedValue, "\(name).\(field) cannot be '\(s)'; use one of: \(allowed.joined(separator: ", ")).")
        }
    }

    /// The field, or an error listing the collection's fields.
    public func knownField(_ field: String) throws(SchemaError) -> FieldSpec {
        guard let spec = self.field(field) else {
            throw SchemaError(.unknownField, "\(name) has no field '\(field)'. Its fields: \(fields.map(\.name).joined(separator: ", ")).")
        }
        return spec
    }

    static func splitSet(_ text: String) -> [String] {
        var items: [String] = []
        var current = ""
        var escaped = false
        for ch in text {
            if escaped { current.append(ch); escaped = false }
            else if ch == "\\" { escaped = true }
            else if ch == "," { items.append(current); current = "" }
            else { current.append(ch) }
        }
        items.append(current)
        return items.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }
}

extension DuplicateKey.Normalization {
    /// The normalized form of a value's text; nil when nothing is left to compare.
    public func apply(_ text: String) -> String? {
        let result: String
        switch self {
        case .alnum: result = String(text.uppercased().filter { $0.isLetter || $0.isNumber })
        case .phone: result = PhoneMatching.matchForm(text) ?? ""
        case .email: result = text.trimmingSpaces().lowercased()
        case .text: result = NameMatching.matchForm(text) ?? ""
        }
        return result.isEmpty ? nil : result
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
