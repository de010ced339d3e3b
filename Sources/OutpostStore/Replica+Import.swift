import GRDB
import OutpostCore
import OutpostSchema

/// One row to import: values already parsed from text, and the record id if the file has one.
public struct ImportRow: Sendable {
    /// The row's line in the file (for messages).
    public let line: Int
    /// The record id from the file, or nil for a new record.
    public let id: String?
    /// Typed values by field.
    public let values: [String: FieldValue]

    /// Creates a row.
    public init(line: Int, id: String?, values: [String: FieldValue]) {
        self.line = line
        self.id = id
        self.values = values
    }
}

/// A row that was not imported, and why.
public struct ImportProblem: Hashable, Sendable {
    /// The row's line in the file.
    public let line: Int
    /// The field at fault, if one is.
    public let field: String?
    /// A sentence saying what is wrong.
    public let reason: String

    /// Creates a problem report.
    public init(line: Int, field: String?, reason: String) {
        self.line = line
        self.field = field
        self.reason = reason
    }
}

/// What an import did.
public struct ImportReport: Sendable {
    /// New records created.
    public var created = 0
    /// Existing records whose fields changed.
    public var updated = 0
    /// Rows identical to what the replica already holds.
    public var unchanged = 0
    /// Rows refused (nothing of them was written).
    public var problems: [ImportProblem] = []
    /// Whether the import wrote anything (false for a dry run, or a refused all-or-nothing one).
    public var written = false
}

extension Replica {
    /// Imports rows in one transaction: a row whose id exists updates that record with the
    /// fields that differ; other rows create records (keeping the file's id when it has one).
    /// A row with any problem is reported and nothing of it is written; good rows are imported,
    /// unless `allOrNothing` (then one bad row means nothing is written) or `dryRun` (nothing is
    /// written, the report says what would be). `report.written` says whether anything was.
    public func importRows(_ collection: String, _ rows: [ImportRow], dryRun: Bool = false, allOrNothing: Bool = false) throws -> ImportReport {
        let table = try table(collection)
        try checkWritable(table.spec)
        var report = ImportReport()
        try writeOrRollBack { db in
            for row in rows {
                var problem: ImportProblem?
                for (field, value) in row.values.sorted(by: { $0.key < $1.key }) {
                    do { try table.spec.check(value, for: field) } catch {
                        problem = ImportProblem(line: row.line, field: field, reason: "\(error)")
                        break
                    }
                }
                if let problem { report.problems.append(problem); continue }
                if let id = row.id, !FieldValue.isValidUUID(id) {
                    report.problems.append(ImportProblem(line: row.line, field: "id", reason: "'\(id)' is not a record id (a lowercase UUID)."))
                    continue
                }
                let id = row.id ?? UUIDv7.make(millis: wallClock())
                let loaded = try RecordIO.load(db, table: table, collection: collection, id: id)
                if loaded.live {
                    let current = loaded.state.resolve(table.rules, recordID: id).values
                    let writes = row.values.filter { current[$0.key] ?? .null != $0.value }.sorted { $0.key < $1.key }
                        .map { FieldWrite.set($0.key, $0.value) }
                    if let missing = writes.first(where: { if case .set(let f, .null) = $0 { table.spec.field(f)?.required == true } else { false } }) {
                        report.problems.append(ImportProblem(line: row.line, field: missing.field, reason: "\(collection).\(missing.field) is required and cannot be emptied."))
                        continue
                    }
                    if writes.isEmpty { report.unchanged += 1; continue }
                    try commitLocal(db, table: table, id: id, loaded: loaded) { state, stamp in
                        try state.write(writes, stamp: stamp, rules: table.rules, recordID: id)
                    }
                    report.updated += 1
                } else {
                    if let missing = table.spec.fields.first(where: { $0.required && (row.values[$0.name] ?? .null) == .null }) {
                        report.problems.append(ImportProblem(line: row.line, field: missing.name, reason: "\(collection).\(missing.name) is required; the row leaves it empty."))
                        continue
                    }
                    let writes = row.values.filter { $0.value != .null }.sorted { $0.key < $1.key }.map { FieldWrite.set($0.key, $0.value) }
                    try commitLocal(db, table: table, id: id, loaded: loaded) { state, stamp in
                        try state.write(writes, stamp: stamp, rules: table.rules, recordID: id)
                    }
                    report.created += 1
                }
            }
            report.written = !dryRun && !(allOrNothing && !report.problems.isEmpty) && report.created + report.updated > 0
            return report.written
        }
        return report
    }
}
