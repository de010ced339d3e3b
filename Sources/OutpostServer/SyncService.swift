import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// The server side of the sync protocol, with no HTTP in it: hello, push and pull for an
/// authenticated device, over any ``ServerStorage``.
public struct SyncService: Sendable {
    let storage: any ServerStorage

    /// Creates the service.
    public init(storage: any ServerStorage) { self.storage = storage }

    /// Opens a session: records the device's counter, says what is acknowledged and where to pull from.
    public func hello(_ request: HelloRequest, device: AuthenticatedDevice) throws -> HelloResponse {
        guard request.replica == device.replica else {
            throw WireError(code: "wrong-replica", message: "This device is enrolled for replica \(device.replica), not \(request.replica).")
        }
        let processed = try storage.processedCounter(of: device.replica)
        guard request.counter >= processed else {
            throw WireError(code: "counter-went-back",
                            message: "Replica \(device.replica) says its counter is \(request.counter), but this server has already seen \(processed). The replica was restored from an old copy; enroll a fresh replica folder to avoid reusing change names.")
        }
        try storage.recordHello(device: device.id, counter: request.counter)
        let cursor = request.position.server == storage.serverReplica ? request.position.cursor : 0
        return HelloResponse(server: storage.serverReplica, schemaVersion: storage.schema.version, acknowledged: processed,
                             cursor: cursor, pageChanges: WireLimits.pageChanges)
    }

    /// Applies a page of the device's changes; returns one result per change.
    public func push(_ request: PushRequest, device: AuthenticatedDevice) throws -> PushResponse {
        guard request.replica == device.replica else {
            throw WireError(code: "wrong-replica", message: "This device is enrolled for replica \(device.replica), not \(request.replica).")
        }
        guard request.changes.count <= WireLimits.pageChanges else {
            throw WireError(code: "page-too-large", message: "A push page holds at most \(WireLimits.pageChanges) changes; this one has \(request.changes.count).")
        }
        var changes: [Change] = []
        for (i, json) in request.changes.enumerated() {
            do { changes.append(try Change(json: json)) } catch {
                throw WireError(code: "malformed-change", message: "Change \(i) of the page is malformed: \(error). Nothing was applied.", details: ["index \(i)"])
            }
        }
        let declared = try storage.declaredCounter(device: device.id)
        var known: [String: UInt64] = [:]
        let schema = storage.schema
        let report = try storage.apply(changes, from: device.replica) { change in
            if change.dot.replica.rawValue != device.replica {
                return ("foreign-origin", "A device may only send changes made on it; this one was made on \(change.dot.replica).")
            }
            if change.dot.counter > declared {
                return ("forged-dot", "The change is named \(change.dot), beyond the replica's own counter \(declared).")
            }
            for state in Array(change.fields.values) + [change.presence] {
                for (replica, counter) in state.context.counters {
                    let limit: UInt64
                    if replica.rawValue == device.replica {
                        limit = declared
                    } else {
                        if known[replica.rawValue] == nil { known[replica.rawValue] = (try? storage.processedCounter(of: replica.rawValue)) ?? 0 }
                        limit = known[replica.rawValue]!
                    }
                    if counter > limit {
                        return ("forged-dot", "The change claims to have seen write \(replica):\(counter), which this server has never seen.")
                    }
                }
            }
            if (try? schema.collection(change.collection)) == nil {
                return ("unknown-collection", "Head office has no collection '\(change.collection)'.")
            }
            return nil
        }
        let results = changes.map { change -> ChangeResult in
            switch report.outcomes[change.dot] {
            case .applied?: ChangeResult(dot: change.dot.description, status: .applied)
            case .duplicate?, nil: ChangeResult(dot: change.dot.description, status: .duplicate)
            case .rejected(let code, let reason)?: ChangeResult(dot: change.dot.description, status: .rejected, code: code, reason: reason)
            }
        }
        return PushResponse(results: results, acknowledged: try storage.processedCounter(of: device.replica))
    }

    /// The next page after the cursor, without the device's own changes, bounded in count and bytes.
    public func pull(_ request: PullRequest, device: AuthenticatedDevice) throws -> PullResponse {
        let limit = max(1, min(request.limit, WireLimits.pageChanges))
        let page = try storage.feedPage(after: request.cursor, limit: limit)
        var changes: [JSONValue] = []
        var bytes = 0
        var cursor = request.cursor
        var stoppedForSize = false
        for entry in page {
            if entry.change.dot.replica.rawValue == device.replica {
                cursor = entry.seq
                continue
            }
            let json = entry.change.json
            // Exact only for ASCII-heavy text, which is what the bound is for.
            let size = 200 + 60 * (entry.change.fields.count + 1)
            if !changes.isEmpty && bytes + size > WireLimits.pageBytes {
                stoppedForSize = true
                break
            }
            changes.append(json)
            bytes += size
            cursor = entry.seq
        }
        let more = stoppedForSize || page.count == limit
        // The feed's sequence numbers are dense, so the last one minus the cursor is the backlog
        // (counting this device's own changes, which are skipped): cheap, and enough for progress.
        return PullResponse(changes: changes, cursor: cursor, more: more, remaining: more ? try storage.feedCount(after: cursor) : 0)
    }
}
