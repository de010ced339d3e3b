import OutpostCore
import OutpostSchema

/// One `--where` condition of `outpost list`: a field, how it is compared, and the value.
struct Condition {
    /// How a field's value is compared with the condition's.
    enum Operator: String, CaseIterable {
        case greaterOrEqual = ">=", lessOrEqual = "<=", equal = "=", contains = "~", greater = ">", less = "<"
    }

    let field: String
    let op: Operator
    let value: FieldValue
    /// The text of a `~` condition, in search form.
    let needle: String

    /// Reads `field=value`, `field~text`, `field>value` and the like; the value is typed by the
    /// field (a time without a zone is on the rep's clock).
    static func parse(_ text: String, spec: CollectionSpec) throws -> Condition {
        guard let start = text.firstIndex(where: { "=~<>".contains($0) }) else {
            throw CLIError("'\(text)' is not a condition; write field=value, field~text or field>value (see `outpost list --help`).")
        }
        let field = String(text[..<start])
        let rest = text[start...]
        let op = Operator.allCases.first { rest.hasPrefix($0.rawValue) }!
        let valueText = String(rest.dropFirst(op.rawValue.count))
        let fieldSpec: FieldSpec
        do { fieldSpec = try spec.knownField(field) } catch { throw CLIError(error.description) }
        switch op {
        case .equal:
            guard case .set(let f, let v) = try Assignments.parse([text], spec: spec).first! else { throw CLIError("--where takes field=value.") }
            return Condition(field: f, op: op, value: v, needle: "")
        case .contains:
            let needle = NameMatching.searchForm(valueText)
            guard !needle.isEmpty else { throw CLIError("\(field)~ needs some letters or digits to look for.") }
            return Condition(field: field, op: op, value: .null, needle: needle)
        default:
            guard [.integer, .decimal, .date, .timestamp, .string].contains(fieldSpec.type) else {
                throw CLIError("\(spec.name).\(field) is of type \(fieldSpec.type.rawValue) and cannot be compared with \(op.rawValue); use = or ~.")
            }
            let value: FieldValue
            do { value = try spec.parse(valueText, for: field, zone: Output.zone) } catch { throw CLIError(error.description) }
            guard value != .null else { throw CLIError("\(field)\(op.rawValue) needs a value to compare with.") }
            return Condition(field: field, op: op, value: value, needle: "")
        }
    }

    /// Whether a record's value meets the condition (an empty value meets no comparison).
    func holds(for actual: FieldValue) -> Bool {
        switch op {
        case .equal: return actual == value
        case .contains:
            switch actual {
            case .null: return false
            case .set(let items): return items.contains { NameMatching.searchForm($0).contains(needle) }
            default: return NameMatching.searchForm(Output.text(actual)).contains(needle)
            }
        case .greater: return actual != .null && value < actual
        case .less: return actual != .null && actual < value
        case .greaterOrEqual: return actual != .null && !(actual < value)
        case .lessOrEqual: return actual != .null && !(value < actual)
        }
    }
}
