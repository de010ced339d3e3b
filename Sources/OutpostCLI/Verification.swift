import ArgumentParser
import Foundation
import OutpostClient
import OutpostCore
import OutpostStore
import OutpostTerminal
import OutpostWire

/// `outpost status --verify [--repair]`: the laptop compared with its server, record by record.
struct Verification {
    /// What the first comparison found.
    var found: VerifyReport
    /// After a repair: changes fetched again, and what a second comparison found.
    var fetched: Int?
    var after: VerifyReport?
    /// A short label per differing record (its name or title where this replica has one).
    var labels: [RecordRef: String] = [:]

    /// True when the replica agrees with its server now.
    var agrees: Bool { (after ?? found).agrees }

    /// Syncs (so both sides stand at the same point), compares, and with `repair` fetches what
    /// differs again and compares once more.
    static func check(_ replica: Replica, repair: Bool) async throws -> Verification {
        let engine = try SyncEngine(replica: replica)
        do {
            _ = try await engine.sync()
            var result = Verification(found: try await engine.verify())
            // Records the rep's own waiting or refused changes keep apart from the server: a
            // repair cannot make them agree, and the rep is told why.
            let waiting = Set(try replica.localChanges(after: try replica.acknowledgedByServer(), limit: 100_000).map { RecordRef(collection: $0.collection, id: $0.recordID) })
                .union(try replica.rejections().map { RecordRef(collection: $0.collection, id: $0.recordID) })
            for ref in result.found.differing {
                let values = try replica.get(ref.collection, id: ref.id)?.values
                result.labels[ref] = ((values?["name"] ?? values?["title"] ?? values?["summary"]).map(Output.text) ?? "not held here")
                    + (waiting.contains(ref) ? " (your changes to it wait or were refused: see above)" : "")
            }
            if repair, !result.found.agrees {
                result.fetched = try await engine.repair(result.found)
                result.after = try await engine.verify()
            }
            return result
        } catch let error as TransportError {
            throw CLIError("Could not compare with the server: \(error.description)")
        }
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "records": .int(Int64(found.records)), "agrees": .bool(agrees),
            "differing": .array(found.differing.map { .object(["collection": .string($0.collection), "id": .string($0.id)]) }),
        ]
        if let fetched { o["fetched"] = .int(Int64(fetched)) }
        if let after { o["differing_after_repair"] = .int(Int64(after.differing.count)) }
        return .object(o)
    }

    func printReport() {
        if found.agrees {
            print("Verified against the server: all \(found.records) records agree.")
            return
        }
        print(Style.alert("Verified against the server: \(found.differing.count) of \(found.records) records differ:"))
        for ref in found.differing { print("  \(ref.collection) \(ref.id)  \(labels[ref] ?? "")") }
        if let after, let fetched {
            print(after.agrees
                  ? "Repaired: the records were fetched again from the server (\(fetched) changes were missing here) and rebuilt; they now agree."
                  : Style.alert("Repaired what could be, but \(after.differing.count) records still differ; tell your admin."))
        } else {
            print("Run `outpost status --verify --repair` to fetch them again from the server.")
        }
    }
}
