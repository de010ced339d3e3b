import ArgumentParser
import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore

/// `outpost rejected`: the changes a server refused (or this replica refused), kept here until
/// the rep acts: send one again, or drop it.
struct RejectedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejected",
        abstract: "List, send again or drop changes that were refused (out of your scope, read-only, ...).",
        discussion: """
            A refused change stays applied on this laptop and is never dropped without you.

            Examples:
              outpost rejected list
              outpost rejected retry r-aigerim:42      (after an admin widened your scope)
              outpost rejected discard r-aigerim:42    (put the record back as the server has it)
            """,
        subcommands: [List.self, Retry.self, Discard.self],
        defaultSubcommand: List.self)

    @ParentCommand var root: OutpostCommand

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List refused changes with their reasons.")
        @ParentCommand var parent: RejectedCommand
        @OptionGroup var output: JSONOption

        func run() throws {
            let replica = try parent.root.openReplica()
            let rejected = try replica.rejections()
            if output.json {
                Output.printJSON(.array(rejected.map {
                    .object(["dot": .string($0.dot.description), "collection": .string($0.collection), "record": .string($0.recordID),
                             "code": .string($0.code), "reason": .string($0.reason), "origin": .string($0.origin),
                             "deleted": .bool($0.isDelete), "fields": .object($0.fields.mapValues(Output.json))])
                }))
                return
            }
            if rejected.isEmpty { print("No refused changes."); return }
            for r in rejected {
                let wrote = r.isDelete ? "deleted it" : r.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Output.text($0.value))" }.joined(separator: "  ")
                print("\(r.dot)  \(r.collection) \(r.recordID)  \(wrote)")
                print("    \(r.code): \(r.reason)")
            }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry", abstract: "Write a refused change again as a new change, sent at the next sync.",
            discussion: "Example:\n  outpost rejected retry r-aigerim:42")
        @ParentCommand var parent: RejectedCommand
        @Argument(help: "The refused change's dot (from `outpost rejected list`).") var dot: String

        func run() throws {
            let replica = try parent.root.openReplica()
            try replica.retryRejected(try parseDot(dot))
            print("Written again; `outpost sync` sends it.")
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "discard", abstract: "Drop a refused change: the record goes back to what the other changes make it.",
            discussion: "Example:\n  outpost rejected discard r-aigerim:42")
        @ParentCommand var parent: RejectedCommand
        @Argument(help: "The refused change's dot (from `outpost rejected list`).") var dot: String

        func run() throws {
            let replica = try parent.root.openReplica()
            try replica.discardRejected(try parseDot(dot))
            print("Dropped \(dot).")
        }
    }
}

/// A dot as typed (`r-aigerim:42`), or a sentence saying what one looks like.
func parseDot(_ dot: String) throws -> Dot {
    do { return try Dot(parsing: dot) } catch {
        throw CLIError("'\(dot)' is not a change's dot; dots look like r-aigerim:42 (`outpost rejected list` shows them).")
    }
}
