/// The token that tells a replica folder from its copies.
///
/// A dot names one write only while one folder writes under its replica id. The server keeps
/// one token per replica and replaces it at every hello with the one the folder proposes; the
/// folder commits the new token when the hello succeeds. A copy or a restored backup still holds
/// an older token, and its next hello shows it. Tokens are `EPOCH.RANDOM`: the epoch grows by
/// one at every hello, so a server restored from a backup (which holds an older token than its
/// replicas) can tell that the folder is ahead of it rather than a copy behind it.
public enum SyncToken {
    /// A new token one epoch after `previous` (epoch 1 when there is none).
    public static func next(after previous: String?, using generator: inout some RandomNumberGenerator) -> String {
        let epoch = previous.flatMap(epoch(of:)) ?? 0
        let random = String(generator.next() as UInt64, radix: 16)
        return "\(epoch + 1).\(String(repeating: "0", count: 16 - random.count))\(random)"
    }

    /// The epoch of a token, or nil if it is not one.
    public static func epoch(of token: String) -> UInt64? {
        guard let dot = token.firstIndex(of: ".") else { return nil }
        return UInt64(token[..<dot])
    }

    /// Whether a token is well formed (an epoch, a dot, 16 lowercase hex digits).
    public static func isValid(_ token: String) -> Bool {
        guard epoch(of: token) != nil, let dot = token.firstIndex(of: ".") else { return false }
        let random = token[token.index(after: dot)...]
        return random.utf8.count == 16 && random.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// What the server makes of a hello's tokens.
    public enum Verdict: Equatable, Sendable {
        /// The folder is the latest of its line; store `rotateTo` if there is one.
        case accept(rotateTo: String?)
        /// The folder is ahead of the server: the server was restored from an older backup.
        /// Accept it and store `rotateTo`; its feed cursor may point past what the server now
        /// holds, so it must pull from the start (re-applying is a no-op).
        case serverBehind(rotateTo: String?)
        /// The folder holds an older token than the server: it is a copy or a restore.
        case forked
    }

    /// Compares the tokens a hello presents with the one the server stores.
    public static func check(stored: String?, presented: String?, next: String?) -> Verdict {
        guard let stored else { return .accept(rotateTo: next) }
        if presented == stored { return .accept(rotateTo: next) }
        // The server stored `next` at an earlier hello whose answer the folder never received.
        if let next, next == stored { return .accept(rotateTo: nil) }
        if let presented, let mine = epoch(of: presented), let theirs = epoch(of: stored), mine > theirs {
            // The server went back (restored from a backup); the folder is ahead, not a copy.
            return .serverBehind(rotateTo: next)
        }
        return .forked
    }
}
