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
            The file may be what Excel saves in any office: cells separated by ',', ';' or tab;
            UTF-8 with or without a byte-order mark, UTF-16, or Windows-1251; decimal commas
            (1 250 000,50) where cells are separated by ';'; dates as 25.11.2026. All of it is
            detected; --delimiter and --encoding say it when detection guesses wrong. Times
            without a zone are on your clock (see --tz).

            An `id` column keeps record ids (a row whose id exists updates that record); without
            it every row is a new record. If any row is bad, every bad row is listed with its
            line, field and reason, and nothing is imported; --skip-bad imports the good rows.
            --dry-run shows what would happen and writes nothing.

            Examples:
              outpost import accounts customers.csv --dry-run
              outpost import accounts customers.csv
              outpost import deals deals.csv --encoding windows-1251 --skip-bad
            """)

    @ParentCommand var root: OutpostCommand
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The CSV file.") var file: String
    @Option(help: ArgumentHelp("The cell separator: ',', ';' or tab (default: detected).", valueName: "SEPARATOR")) var delimiter: String?
    @Option(help: ArgumentHelp("utf-8, utf-16 or windows-1251 (default: detected).", valueName: "ENCODING")) var encoding: String?
    @Flag(help: "Show what would be imported and write nothing.") var dryRun = false
    @Flag(help: "Import the good rows even when some are bad (the bad ones are listed).") var skipBad = false
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        let spec = try spec(replica, collection)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLIError("Cannot read \(file): \(FileManager.default.fileExists(atPath: file) ? "permission denied" : "there is no such file").")
        }
        let chosenEncoding = try encoding.map { name in
            guard let e = TextEncoding(name: name) else { throw CLIError("--encoding takes utf-8, utf-16 or windows-1251, not '\(name)'.") }
            return e
        }
        let chosenDelimiter = try delimiter.map { text -> Unicode.Scalar in
            switch text {
            case ",", ";": return text.unicodeScalars.first!
            case "tab", "\\t", "\t": return "\t"
            default: throw CLIError("--delimiter takes ',', ';' or tab, not '\(text)'.")
            }
        }
        let decoded: (text: String, encoding: TextEncoding)
        do { decoded = try TextEncoding.decode([UInt8](data), as: chosenEncoding) } catch { throw CLIError("\(file), \(error.description).") }
        let dialect = SpreadsheetDialect(delimiter: chosenDelimiter ?? CSV.detectDelimiter(decoded.text), encoding: decoded.encoding)
        let records: [CSV.Record]
        do { records = try CSV.parse(text: decoded.text, delimiter: dialect.delimiter) } catch { throw CLIError("\(file), \(error.description).") }
        guard let header = records.first else { throw CLIError("\(file) is empty; its first line must name the fields.") }
        let columns = header.cells.map { $0.trimmingCharacters(in: .whitespaces) }
        for name in columns where name != "id" && spec.field(name) == nil {
            let other = CSV.delimiters.first { $0 != dialect.delimiter && name.unicodeScalars.contains($0) }
            let hint = other.map { " The header seems to separate cells with \(SpreadsheetDialect(delimiter: $0, encoding: .utf8).delimiterName): give --delimiter '\($0 == "\t" ? "tab" : String($0))'." } ?? ""
            throw CLIError("\(file), line \(header.line): \(collection) has no field '\(name)'. Its fields: \(spec.fields.map(\.name).joined(separator: ", ")).\(hint)")
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
                do {
                    let cell = try dialect.normalize(text, type: spec.field(name)!.type)
                    values[name] = try spec.parse(cell, for: name, zone: Output.zone)
                } catch let error as SpreadsheetDialect.Ambiguous {
                    bad = ImportProblem(line: record.line, field: name, reason: error.description + ".")
                    break
                } catch {
                    bad = ImportProblem(line: record.line, field: name, reason: "\(error)")
                    break
                }
            }
            if let bad { problems.append(bad) } else { rows.append(ImportRow(line: record.line, id: id, values: values)) }
        }
        // Rows the file itself makes bad are known before the replica is asked: with any of
        // them and no --skip-bad, the replica only says what else it would refuse.
        let refuseAll = !skipBad && !problems.isEmpty
        var report = try replica.importRows(collection, rows, dryRun: dryRun || refuseAll, allOrNothing: !skipBad)
        report.problems = (problems + report.problems).sorted { $0.line < $1.line }
        // Refused whole: nothing was created or updated (a dry run says what would be).
        if !dryRun && !report.written && !report.problems.isEmpty { (report.created, report.updated, report.unchanged) = (0, 0, 0) }
        let how = "\(dialect.encoding.rawValue), cells separated by \(dialect.delimiterName)\(dialect.decimalComma ? ", decimal commas" : "")"
        if output.json {
            Output.printJSON(.object([
                "created": .int(Int64(report.created)), "updated": .int(Int64(report.updated)), "unchanged": .int(Int64(report.unchanged)),
                "written": .bool(report.written), "dry_run": .bool(dryRun),
                "encoding": .string(dialect.encoding.rawValue), "delimiter": .string(String(dialect.delimiter)),
                "problems": .array(report.problems.map { .object(["line": .int(Int64($0.line)), "field": $0.field.map { .string($0) } ?? .null, "reason": .string($0.reason)]) }),
            ]))
        } else {
            let counts = "\(report.created) new, \(report.updated) updated, \(report.unchanged) unchanged, \(report.problems.count) bad"
            if dryRun {
                print("Would import \(file) into \(collection) (\(how)): \(counts). Nothing was written.")
                for row in rows.prefix(3) {
                    print("  line \(row.line): " + columns.filter { $0 != "id" && (row.values[$0] ?? .null) != .null }
                        .map { "\($0)=\(Output.text(row.values[$0]!))" }.joined(separator: "  "))
                }
            } else if report.written || report.problems.isEmpty {
                print("Imported \(file) into \(collection) (\(how)): \(counts).")
            }
            for p in report.problems {
                FileHandle.standardError.write(Data("  line \(p.line)\(p.field.map { ", field \($0)" } ?? ""): \(p.reason)\n".utf8))
            }
            if !dryRun && !report.problems.isEmpty && !skipBad {
                FileHandle.standardError.write(Data("Nothing was imported: \(report.problems.count) of \(records.count - 1) rows are bad (listed above). Fix them, or import the good rows with --skip-bad.\n".utf8))
            }
        }
        if !report.problems.isEmpty && !skipBad && !dryRun { throw ExitCode(3) }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a collection to a CSV file (one column per field plus id).",
        discussion: """
            Without --excel the file is plain CSV: UTF-8, commas, times in ISO 8601 with your
            offset. With --excel it is what Excel in Russian, Uzbek, Kazakh, Mongolian or
            Vietnamese offices opens correctly: UTF-8 with a byte-order mark, ';' between cells,
            decimal commas, times on your clock, and ids, tax ids and phone numbers kept as
            text. Both import back unchanged.

            Examples:
              outpost export deals deals.csv
              outpost export accounts customers.csv --excel
            """)

    @ParentCommand var root: OutpostCommand
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The CSV file to write (replaced if it exists).") var file: String
    @Flag(help: "Write for Excel: ';', decimal commas, UTF-8 with a byte-order mark, CRLF.") var excel = false

    func run() throws {
        let replica = try root.openReplica()
        let spec = try spec(replica, collection)
        let records = try replica.query(collection)
        var data: Data
        if excel {
            let dialect = SpreadsheetDialect.excel
            var text = CSV.line(["id"] + spec.fields.map(\.name), delimiter: dialect.delimiter, end: "\r\n")
            for r in records {
                text += CSV.line([r.id] + spec.fields.map { dialect.cell(r.values[$0.name] ?? .null, zone: Output.zone) }, delimiter: dialect.delimiter, end: "\r\n")
            }
            data = Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)
        } else {
            var text = CSV.line(["id"] + spec.fields.map(\.name))
            for r in records { text += CSV.line([r.id] + spec.fields.map { CollectionSpec.format(r.values[$0.name] ?? .null, zone: Output.zone) }) }
            data = Data(text.utf8)
        }
        do { try data.write(to: URL(fileURLWithPath: file), options: .atomic) } catch {
            throw CLIError("Cannot write \(file): \((error as NSError).localizedFailureReason ?? "check that its folder exists and you may write there").")
        }
        FileHandle.standardError.write(Data("Exported \(records.count) \(collection) records to \(file)\(excel ? " for Excel" : "").\n".utf8))
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
