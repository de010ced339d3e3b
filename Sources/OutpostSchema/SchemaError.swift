/// Why a schema file, or a value checked against a schema, was refused. Descriptions are sentences
/// that name the problem and say what to do.
public struct SchemaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable code for scripts and tests.
    public enum Code: String, Sendable {
        case malformedSchema, unknownCollection, unknownField, wrongType, missingRequired, notAllowedValue, readOnlyField, tooLarge
    }

    /// What went wrong, as a stable code.
    public let code: Code
    /// The user-facing sentence.
    public let description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    static func malformed(_ what: String) -> SchemaError { SchemaError(.malformedSchema, "The schema is invalid: \(what)") }
}
