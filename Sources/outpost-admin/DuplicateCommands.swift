import ArgumentParser
import Foundation
import OutpostClient
import OutpostTerminal
import OutpostWire

/// `outpost-admin duplicates`: probable duplicates, found across scripts and spellings, merged or dismissed.
struct Duplicates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "duplicates", abstract: "List probable duplicates, merge them, or mark a pair as different (docs/matching.md).",
        subcommands: [List.self, Merge.self, Dismiss.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List pairs of records that are probably one, surest first, with what they share.",
            discussion: "Examples:\n  outpost-admin duplicates list\n  outpost-admin duplicates list --collection accounts --json")
        @ParentCommand var root: OutpostAdminCommand
        @Option(help: "Only this collection.") var collection: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let path = "/v1/admin/duplicates" + (collection.map { "?collection=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $0)" } ?? "")
            let pairs = try await perform { try await transport.get(path, as: [DuplicateInfo].self) }
            if output.json { try printJSON(pairs); return }
            if pairs.isEmpty { print("No probable duplicates."); return }
            printTable(["score", "collection", "a", "b", "why"], pairs.map { p in
                [String(format: "%.2f", p.score), p.collection, "\(p.a) \(p.aValues["name"] ?? "")", "\(p.b) \(p.bValues["name"] ?? "")",
                 p.reasons.joined(separator: "; ")]
            })
            print("Merge one: outpost-admin duplicates merge KEEP OTHER   (or dismiss A B)")
        }
    }

    struct Merge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge", abstract: "Merge OTHER into KEEP: fields filled, children moved, OTHER retired.",
            discussion: """
                KEEP keeps its values; its empty fields take OTHER's, sets are united, and --take
                FIELD=other (or keep) decides a field. Contacts, deals, activities and tasks of OTHER
                move to KEEP; OTHER is deleted. A laptop that still writes under OTHER offline has its
                new records moved to KEEP when it syncs.

                Examples:
                  outpost-admin duplicates merge 01a2…aa 01a2…bb
                  outpost-admin duplicates merge 01a2…aa 01a2…bb --take phone=other --take city=keep
                """)
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The record to keep.") var keep: String
        @Argument(help: "The record to merge into it and retire.") var other: String
        @Option(help: ArgumentHelp("Which side's value a field takes.", valueName: "FIELD=keep|other")) var take: [String] = []
        @OptionGroup var output: JSONFlag

        func run() async throws {
            var sides: [String: String] = [:]
            for item in take {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, ["keep", "other"].contains(parts[1]) else {
                    throw ValidationError("--take wants FIELD=keep or FIELD=other, not '\(item)'.")
                }
                sides[parts[0]] = parts[1]
            }
            let transport = try root.transport()
            let entry = try await perform {
                try await transport.post("/v1/admin/duplicates/merge", DuplicateMergeRequest(keep: keep, other: other, take: sides), as: AuditEntry.self).0
            }
            if output.json { try printJSON(entry) } else { print("Merged: \(entry.chosen). Every replica gets it at its next sync.") }
        }
    }

    struct Dismiss: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dismiss", abstract: "Mark two records as different customers for good.",
            discussion: "Example:\n  outpost-admin duplicates dismiss 01a2…aa 01a2…bb")
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "One record.") var a: String
        @Argument(help: "The other.") var b: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let entry = try await perform { try await transport.post("/v1/admin/duplicates/dismiss", DuplicateDismissRequest(a: a, b: b), as: AuditEntry.self).0 }
            if output.json { try printJSON(entry) } else { print("Dismissed: \(entry.subject) are not duplicates.") }
        }
    }
}
