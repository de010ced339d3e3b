import ArgumentParser
import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostTerminal

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find records by any part of a name, phone, e-mail, tax id or note.",
        discussion: """
            Case and diacritics do not matter, and Cyrillic and Latin spellings of a name find
            each other: "тумэн", "Tumen" and "ТУМЭН" all find "Тумэн ХХК", "nguyen" finds
            "Nguyễn". Several words must all be found. A number finds phones and tax ids however
            they are written ("+7 701 123" finds "8 (701) 123-45-67").

            Examples:
              outpost search тумэн
              outpost search "almaty altyn" --in accounts
              outpost search 701123 --json
            """)

    @ParentCommand var root: OutpostCommand
    @Argument(help: "What to look for.") var text: [String]
    @Option(name: .customLong("in"), help: ArgumentHelp("Only this collection (repeat for several).", valueName: "COLLECTION"))
    var collections: [String] = []
    @Option(help: "At most this many records.") var limit = 50
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        for collection in collections { _ = try spec(replica, collection) }
        let query = text.joined(separator: " ")
        // The first search after a large sync indexes what it brought: say so when it is long.
        var announced = false
        try replica.updateSearchIndex { done, total in
            guard total >= 20_000, !output.json else { return }
            if !announced { FileHandle.standardError.write(Data("Indexing \(total) changed records for search…\n".utf8)); announced = true }
            if done == total { FileHandle.standardError.write(Data("Indexed \(total) records.\n".utf8)) }
        }
        let hits = try replica.search(query, in: collections.isEmpty ? nil : Set(collections), limit: limit)
        if output.json {
            Output.printJSON(.array(hits.map { hit in
                .object(["collection": .string(hit.collection), "id": .string(hit.record.id),
                         "found_in": .array(hit.fields.map { .string($0) }),
                         "values": .object(hit.record.values.filter { $0.value != .null }.mapValues(Output.json))])
            }))
            return
        }
        guard !hits.isEmpty else {
            print("Nothing found for \"\(query)\".")
            return
        }
        let rows = hits.map { hit -> [String] in
            let spec = try? replica.schema.collection(hit.collection)
            let label = spec?.fields.first { $0.type == .string }.flatMap { hit.record.values[$0.name] }.map(Output.text) ?? ""
            let found = hit.fields.map { field in
                let value = Output.text(hit.record.values[field] ?? .null).replacingOccurrences(of: "\n", with: " ")
                return value == label ? field : "\(field): \(value.count > 40 ? String(value.prefix(39)) + "…" : value)"
            }
            return [hit.collection, hit.record.id, label, found.joined(separator: "; ")]
        }
        printTable(["collection", "id", "name", "found in"], rows)
        if hits.count == limit { print(Style.dim("First \(limit) shown; --limit N shows more.")) }
    }
}
