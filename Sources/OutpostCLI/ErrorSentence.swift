import Foundation
import GRDB

/// Failures from below the CLI (SQLite, the file system) told as one sentence a rep can act
/// on: what happened and what to do, without the library's words. The library's words go to
/// the log (OUTPOST_LOG_LEVEL=debug).
enum ErrorSentence {
    /// The sentence for `error`, or nil when the error already speaks to the rep.
    static func sentence(for error: any Error, folder: String) -> String? {
        if let error = error as? DatabaseError { return databaseSentence(error, folder: folder) }
        if let error = error as? CocoaError {
            let path = (error.userInfo[NSFilePathErrorKey] as? String) ?? error.userInfo[NSURLErrorKey].map { "\($0)" } ?? "the file"
            switch error.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: return "There is no file \(path); check the path."
            case .fileReadNoPermission, .fileWriteNoPermission: return "You may not read or write \(path); check its permissions."
            case .fileWriteOutOfSpace: return "The disk is full; \(path) was not written completely. Free some space and try again."
            default: return "\(path) could not be read or written (\(error.localizedDescription))."
            }
        }
        return nil
    }

    static func databaseSentence(_ error: DatabaseError, folder: String) -> String {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return "The replica in \(folder) is busy: another outpost command (a sync?) is writing it. Try again in a moment."
        case .SQLITE_FULL:
            return "The disk is full: the last step was not written and everything before it is kept. Free some space and run the command again; it goes on from where it stopped."
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN, .SQLITE_AUTH:
            return "Cannot write the replica in \(folder): check that the folder is yours and not read-only (or give another with --replica)."
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return "The replica file in \(folder) is damaged or is not an Outpost replica. Keep a copy of the folder and ask your admin; do not delete it, it may hold changes not yet synced."
        case .SQLITE_IOERR:
            return "The disk holding \(folder) failed to read or write; check the disk (or free space), then try again."
        default:
            return "The replica in \(folder) could not be read or written (SQLite error \(error.resultCode.rawValue)); try again, and tell your admin if it happens again."
        }
    }
}
