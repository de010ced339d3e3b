import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostWire

/// The admin's side of probable duplicates, with no HTTP in it: list, merge, dismiss, each
/// merge and dismissal written to the audit trail.
public struct DuplicateService: Sendable {
    let storage: any ServerStorage

    /// Creates the service.
    public init(storage: any ServerStorage) { self.storage = storage }

    /// Probable duplicates, surest first.
    public func list(collection: String?) async throws -> [DuplicateInfo] {
        var found: [DuplicateInfo] = []
        for pair in try await storage.probableDuplicates(in: collection) {
            found.append(DuplicateInfo(collection: pair.collection, a: pair.a, b: pair.b, aValues: try await values(pair.collection, pair.a),
                                       bValues: try await values(pair.collection, pair.b), reasons: pair.reasons, score: pair.score))
        }
        return found
    }

    /// Merges `other` into `keep`; returns the audit entry.
    public func merge(_ request: DuplicateMergeRequest, admin: String) async throws -> AuditEntry {
        guard let collection = try await storage.collectionHolding(request.keep) else {
            throw WireError(.notFound, message: "There is no record \(request.keep) to keep (`outpost-admin duplicates list` shows the pairs).")
        }
        guard try await storage.collectionHolding(request.other) == collection else {
            throw WireError(.notFound, message: "There is no \(collection) record \(request.other) to merge into \(request.keep); it may have been merged already.")
        }
        var take: [String: MergeSide] = [:]
        for (field, side) in request.take ?? [:] {
            guard let parsed = MergeSide(rawValue: side) else {
                throw WireError(.malformedRequest, message: "--take \(field)=\(side): the side is keep or other.")
            }
            take[field] = parsed
        }
        let before = ["keep: " + describe(try await values(collection, request.keep)), "other: " + describe(try await values(collection, request.other))]
        let report: MergeReport
        do {
            report = try await storage.merge(collection, keep: request.keep, other: request.other, take: take, author: Author(user: admin, device: Replica.adminDevice))
        } catch let error as StoreError {
            throw WireError(code: ConflictService.code(error), message: error.description)
        }
        let fields = report.fieldsTaken.isEmpty ? "no fields taken" : "took \(report.fieldsTaken.joined(separator: ", "))"
        let entry = AuditEntry(at: ISO8601DateFormatter().string(from: Date()), who: admin, action: "duplicates-merged", collection: collection,
                               record: request.keep, key: "", subject: "\(request.keep) ← \(request.other)",
                               chosen: "kept \(request.keep), \(fields), moved \(report.childrenMoved) child records, retired \(request.other)",
                               before: before, dot: nil)
        try await storage.addAudit(entry)
        return entry
    }

    /// Marks a pair as not duplicates for good; returns the audit entry.
    public func dismiss(_ request: DuplicateDismissRequest, admin: String) async throws -> AuditEntry {
        guard request.a != request.b else {
            throw WireError(.malformedRequest, message: "Name two different records.")
        }
        guard let collection = try await storage.collectionHolding(request.a), try await storage.collectionHolding(request.b) == collection else {
            throw WireError(.notFound, message: "\(request.a) and \(request.b) are not two records of one collection.")
        }
        try await storage.dismiss(collection: collection, request.a, request.b)
        let entry = AuditEntry(at: ISO8601DateFormatter().string(from: Date()), who: admin, action: "duplicates-dismissed", collection: collection,
                               record: request.a, key: "", subject: "\(request.a) ≠ \(request.b)", chosen: "not duplicates",
                               before: [describe(try await values(collection, request.a)), describe(try await values(collection, request.b))], dot: nil)
        try await storage.addAudit(entry)
        return entry
    }

    func values(_ collection: String, _ id: String) async throws -> [String: String] {
        (try await storage.recordValues(collection, id: id) ?? [:]).filter { $0.value != .null }.mapValues(CollectionSpec.format)
    }

    func describe(_ values: [String: String]) -> String {
        values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ", ")
    }
}
