import OutpostCore
import OutpostSchema
import OutpostStore

/// Reads `field=value`, `field+=item` and `field-=item` arguments into typed writes.
enum Assignments {
    /// With `replica`, a reference may be given by a unique start of the record's id.
    static func parse(_ arguments: [String], spec: CollectionSpec, replica: Replica? = nil) throws -> [FieldWrite] {
        guard !arguments.isEmpty else {
            throw CLIError("Give at least one field=value. Fields of \(spec.name): \(spec.fields.map(\.name).joined(separator: ", ")).")
        }
        return try arguments.map { argument in
            guard let eq = argument.firstIndex(of: "=") else {
                throw CLIError("'\(argument)' is not field=value (use field+=item or field-=item for sets).")
            }
            var field = String(argument[..<eq])
            let text = String(argument[argument.index(after: eq)...])
            var op: Character?
            if let last = field.last, last == "+" || last == "-" {
                op = last
                field.removeLast()
            }
            do {
                let spec0 = try spec.knownField(field)
                switch op {
                case "+"?, "-"?:
                    if spec0.rule == .counter {
                        guard let n = Int64(text) else { throw CLIError("\(spec.name).\(field) is a counter; '\(text)' is not a whole number.") }
                        return .increment(field, op == "+" ? n : -n)
                    }
                    guard spec0.type == .set else {
                        throw CLIError("\(spec.name).\(field) is not a set; use \(field)=value.")
                    }
                    return op == "+" ? .add(field, text) : .remove(field, text)
                default:
                    var text = text
                    if let replica, spec0.type == .reference, let target = spec0.references { text = try replica.resolveID(target, text) }
                    return .set(field, try spec.parse(text, for: field, zone: Output.zone))
                }
            } catch let error as SchemaError {
                throw CLIError(error.description)
            }
        }
    }
}
