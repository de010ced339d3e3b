import GRDB
import OutpostCore
import OutpostSchema

extension Replica {
    /// Shortest part of an id accepted in its place.
    public static let shortIDMinimum = 4

    /// The full id of the one record of `collection` (live or deleted) whose id starts with
    /// `text`, so a rep may type the first characters of an id instead of all 36. A full id,
    /// or text no id starts with, comes back as typed (the caller says it was not found);
    /// text several ids start with is refused with a sentence naming some of them.
    public func resolveID(_ collection: String, _ text: String) throws -> String {
        let typed = text.lowercased()
        guard !FieldValue.isValidUUID(typed), typed.count >= Self.shortIDMinimum,
              typed.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { return text }
        let matches = try read { db in
            try String.fetchAll(db, sql: "SELECT id FROM outpost_records WHERE collection = ? AND id >= ? AND id < ? ORDER BY live DESC, id LIMIT 6",
                                arguments: [collection, typed, typed + "~"])
        }
        switch matches.count {
        case 0: return text
        case 1: return matches[0]
        default:
            let shown = matches.prefix(5).joined(separator: ", ") + (matches.count > 5 ? ", …" : "")
            throw StoreError(.invalidInput, "'\(text)' is the start of several \(collection) ids (\(shown)); type more of the id.")
        }
    }
}
