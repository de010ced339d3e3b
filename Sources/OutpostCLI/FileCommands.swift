import ArgumentParser
import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import records from a CSV file whose header names the fields.",
        discussion: """
            An `id` column keeps record ids (a row whose id exists updates that record); without
            it every row is a new record. A bad row is reported with its line, field and reason,
            and nothing of it is written; the good rows are imported.

            Example:
              outpost import accounts customers.csv
            """)

    @ParentCommand var root: OutpostCommand
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The CSV file (UTF-8).") var file: String
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        let spec = try spec(replica, collection)
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("Cannot read \(file).") }
        let records: [CSV.Record]
        do { records = try CSV.parse([UInt8](data)) } catch { throw CLIError("\(file), \(error.description).") }
        guard let header = records.first else { throw CLIError("\(file) is empty; its first line must name the fields.") }
        let columns = header.cells.map { $0.trimmingCharacters(in: .whitespaces) }
        for name in columns where name != "id" && spec.field(name) == nil {
            throw CLIError("\(file), line \(header.line): \(collection) has no field '\(name)'. Its fields: \(spec.fields.map(\.name).joined(separator: ", ")).")
        }
        if Set(columns).count != columns.count { throw CLIError("\(file), line \(header.line): a column name appears twice.") }
        var rows: [ImportRow] = []
        var problems: [ImportProblem] = []
        for record in records.dropFirst() {
            guard record.cells.count == columns.count else {
                problems.append(ImportProblem(line: record.line, field: nil, reason: "has \(record.cells.count) cells, the header has \(columns.count)"))
                continue
            }
            var id: String?
            var values: [String: FieldValue] = [:]
            var bad: ImportProblem?
            for (name, text) in zip(columns, record.cells) {
                if name == "id" { id = text.isEmpty ? nil : text.lowercased(); continue }
                do { values[name] = try spec.parse(text, for: name, zone: Output.zone) } catch {
                    bad = ImportProblem(line: record.line, field: name, reason: error.description)
                    break
                }
            }
            if let bad { problems.append(bad) } else { rows.append(ImportRow(line: record.line, id: id, values: values)) }
        }
        var report = try replica.importRows(collection, rows)
        report.problems = (problems + report.problems).sorted { $0.line < $1.line }
        if output.json {
            Output.printJSON(.object([
                "created": .int(Int64(report.created)), "updated": .int(Int64(report.updated)), "unchanged": .int(Int64(report.unchanged)),
                "problems": .array(report.problems.map { .object(["line": .int(Int64($0.line)), "field": $0.field.map { .string($0) } ?? .null, "reason": .string($0.reason)]) }),
            ]))
        } else {
            print("Imported \(file) into \(collection): \(report.created) created, \(report.updated) updated, \(report.unchanged) unchanged, \(report.problems.count) refused.")
            for p in report.problems {
                FileHandle.standardError.write(Data("  line \(p.line)\(p.field.map { ", field \($0)" } ?? ""): \(p.reason)\n".utf8))
            }
        }
        if !report.problems.isEmpty { throw ExitCode(3) }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a collection to a CSV file (UTF-8, one column per field plus id).",
        discussion: "Example:\n  outpost export deals deals.csv")

    @ParentCommand var root: OutpostCommand
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The CSV file to write (replaced if it exists).") var file: String

    func run() throws {
        let replica = try root.openReplica()
        let spec = try spec(replica, collection)
        let records = try replica.query(collection)
        var text = CSV.line(["id"] + spec.fields.map(\.name))
        for r in records { text += CSV.line([r.id] + spec.fields.map { CollectionSpec.format(r.values[$0.name] ?? .null, zone: Output.zone) }) }
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
            throw CLIError("Cannot write \(file): \(error.localizedDescription)")
        }
        FileHandle.standardError.write(Data("Exported \(records.count) \(collection) records to \(file).\n".utf8))
    }
}

/// Applies changes from a file of JSON lines (protocol form) in one transaction. For tests and
/// recovery; hidden from help.
struct ApplyFileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_apply", abstract: "Apply changes from a JSON-lines file.", shouldDisplay: false)

    @ParentCommand var root: OutpostCommand
    @Argument var file: String
    @Option var origin = "file"

    func run() throws {
        let replica = try root.openReplica()
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("Cannot read \(file).") }
        let decoder = JSONDecoder()
        let changes = try data.split(separator: 0x0A).map { try Change(json: try decoder.decode(JSONValue.self, from: Data($0))) }
        FileHandle.standardError.write(Data("applying \(changes.count) changes\n".utf8))
        let report = try replica.apply(changes, from: origin)
        print("applied \(report.applied), already had \(report.alreadyApplied), rejected \(report.rejected.count)")
    }
}
