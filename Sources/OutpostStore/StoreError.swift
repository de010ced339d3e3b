import OutpostCore
import OutpostSchema

/// Why the replica refused an operation; `description` is a sentence that says what to do.
public struct StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable code for scripts and tests.
    public enum Code: String, Sendable {
        case notFound, invalidInput, readOnly, noReplica, replicaExists, incompatibleSchema, corrupt, storageFull, replicaForked
    }

    /// What went wrong.
    public let code: Code
    /// The user-facing sentence.
    public let description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    /// Wraps a schema error (unknown field, wrong type, ...) as invalid input.
    init(_ error: SchemaError) { self.init(.invalidInput, error.description) }

    /// Wraps a core error as invalid input.
    init(_ error: CoreError) { self.init(.invalidInput, error.description) }

    /// A write the disk had no room for.
    static let diskFull = StoreError(.storageFull, "The disk is full: the last step was not written and everything before it is kept. Free some space and run the command again; it goes on from where it stopped.")

    static func notFound(_ collection: String, _ id: String) -> StoreError {
        StoreError(.notFound, "There is no \(collection) record with id \(id) (it may have been deleted); `outpost list \(collection)` shows the ones there are.")
    }
}
