import ArgumentParser
import Foundation
import OutpostClient
import OutpostCore
import OutpostTerminal
import OutpostWire

/// `outpost-admin conflicts`: list, show and settle disagreements between reps' offline edits.
struct Conflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts", abstract: "List, show and settle conflicts (concurrent edits that disagree, delete-versus-update clashes).",
        subcommands: [List.self, Show.self, Resolve.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List open conflicts, oldest first (or, with --resolved, closed ones and how they closed).",
            discussion: """
                Kinds: concurrent-values (reps wrote different values offline), delete-vs-update (one
                deleted a record another edited), orphan (a record whose parent was deleted elsewhere).

                Examples:
                  outpost-admin conflicts list
                  outpost-admin conflicts list --collection deals --field stage --json
                  outpost-admin conflicts list --user aigerim --older-than 7
                  outpost-admin conflicts list --branch almaty
                  outpost-admin conflicts list --resolved
                """)
        @ParentCommand var root: OutpostAdminCommand
        @Option(help: "Only this collection.") var collection: String?
        @Option(help: "Only this field (or field group; _presence for delete-versus-update).") var field: String?
        @Option(help: "Only conflicts with a side written by this user.") var user: String?
        @Option(help: ArgumentHelp("Only conflicts with a side that came up through this branch (its user name; head-office for writes made there).", valueName: "BRANCH")) var branch: String?
        @Option(help: ArgumentHelp("Only conflicts whose newest side is at least this many days old.", valueName: "DAYS")) var olderThan: Double?
        @Flag(help: "Closed conflicts instead: settled by an admin or closed by a later edit, and by whom.") var resolved = false
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            var query: [String] = []
            for (name, value) in [("collection", collection), ("field", field), ("user", user), ("branch", branch),
                                  ("older_than_days", olderThan.map { String($0) }), ("resolved", resolved ? "true" : nil)] {
                if let value { query.append("\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? value)") }
            }
            let path = "/v1/admin/conflicts" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            let conflicts = try await perform { try await transport.get(path, as: [ConflictInfo].self) }
            if output.json { try printJSON(conflicts); return }
            if conflicts.isEmpty { print(resolved ? "No conflicts have closed yet." : "No open conflicts."); return }
            let sides = { (c: ConflictInfo) in
                c.sides.map { "\($0.text) (\($0.user)\($0.branch.map { ", " + $0 } ?? ""))" }.joined(separator: " vs ")
            }
            if resolved {
                printTable(["id", "record", "field", "closed", "by", "outcome", "sides"], conflicts.map { c in
                    let closed = c.closed
                    let how = closed?.how == "settled" ? "settled by admin" : "later edit"
                    return [c.id, "\(c.collection) \(c.record)", c.key, "\(how) \(closed?.at ?? "")",
                            "\(closed?.user ?? "?")@\(closed?.device ?? "?")", closed?.outcome ?? "", sides(c)]
                })
            } else {
                printTable(["id", "kind", "record", "field", "sides"], conflicts.map { c in
                    [c.id, c.kind, "\(c.collection) \(c.record)", c.key, sides(c)]
                })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Show one conflict: every side with writer, device and time, the rule, the provisional winner and the record.",
            discussion: "Example:\n  outpost-admin conflicts show 62b585947c3df141")
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The conflict's id (from `conflicts list`).") var id: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let c = try await perform { try await transport.get("/v1/admin/conflicts/\(id)", as: ConflictInfo.self) }
            if output.json { try printJSON(c); return }
            print("Conflict \(c.id) on \(c.collection).\(c.key) of record \(c.record) (\(c.kind), rule \(c.rule))")
            if c.kind == "orphan" { print("  This \(c.collection) record is alive, but its parent was deleted elsewhere.") }
            for (n, side) in c.sides.enumerated() {
                let shown = side.dot == c.winner ? "  ← shown until you decide" : ""
                let via = side.branch.map { " via \($0)" } ?? ""
                print("  \(n + 1). \(side.text)  by \(side.user) on \(side.device)\(via) at \(side.at)  [\(side.dot)]\(shown)")
            }
            if let values = c.recordValues, !values.isEmpty {
                print("The record now:")
                for key in values.keys.sorted() { print("  \(key): \(values[key]!)") }
            }
            if c.kind == "orphan" {
                print("Settle it: outpost-admin conflicts resolve \(c.id) --take restore (the parent), --take delete (this record), or --value ID (move it under another parent)")
            } else if c.kind == "delete-vs-update" {
                print("Settle it: outpost-admin conflicts resolve \(c.id) --take restore (keep the record) or --take delete")
            } else {
                print("Settle it: outpost-admin conflicts resolve \(c.id) --take 1   (or --value VALUE)")
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resolve", abstract: "Settle one conflict, or every open one on a field, with a write that syncs everywhere.",
            discussion: """
                SIDE is a side's number in `conflicts show`, its dot, or a writer's user name; for many
                conflicts at once also newest, oldest or highest. A delete-versus-update clash is settled
                with --take restore (keep the record) or --take delete. An orphan (a record whose parent
                was deleted elsewhere) with --take restore (bring the parent back), --take delete (delete
                the record too), or --value PARENT_ID (move it under another parent).

                Examples:
                  outpost-admin conflicts resolve 62b585947c3df141 --take 2
                  outpost-admin conflicts resolve 62b585947c3df141 --value won
                  outpost-admin conflicts resolve --collection deals --field stage --take newest
                  outpost-admin conflicts resolve 9f1c03d2a4b5e6f7 --take restore
                """)
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The conflict's id; leave out with --collection and --field.") var id: String?
        @Option(help: "Settle every open conflict of this collection…") var collection: String?
        @Option(help: "…on this field.") var field: String?
        @Option(help: ArgumentHelp("The side to keep.", valueName: "SIDE")) var take: String?
        @Option(help: ArgumentHelp("A value of your own instead: as typed (won, 2026-12-01) or JSON.", valueName: "VALUE")) var value: String?
        @OptionGroup var output: JSONFlag

        func validate() throws {
            if id == nil && (collection == nil || field == nil) {
                throw ValidationError("Give a conflict id, or --collection and --field to settle many at once.")
            }
            if (take == nil) == (value == nil) { throw ValidationError("Give --take SIDE or --value VALUE (one of them).") }
        }

        func run() async throws {
            let transport = try root.transport()
            var request = ConflictResolveRequest(id: id, collection: collection, field: field, take: take)
            if let value {
                // JSON only when it looks like JSON: `--value 12.5` on a decimal field, or `2026`
                // on a text field, are typed values.
                if let first = value.first, "{\"[".contains(first), let json = try? JSONValue.parse(Array(value.utf8)) {
                    request.value = json
                } else {
                    request.valueText = value
                }
            }
            let settled = try await perform { try await transport.post("/v1/admin/conflicts/resolve", request, as: [AuditEntry].self).0 }
            if output.json { try printJSON(settled); return }
            if settled.isEmpty { print("No open conflicts matched; nothing was written."); return }
            for entry in settled {
                print("Settled \(entry.subject) on \(entry.collection).\(entry.key) of \(entry.record): \(entry.chosen) (write \(entry.dot ?? "?")); it reaches every replica at its next sync.")
            }
        }
    }
}

/// `outpost-admin audit`: every resolution, merge and dismissal, who, when, what was chosen and what was there.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "List every resolution: who, when, what was chosen, what was there before.",
        discussion: "Example:\n  outpost-admin audit --json")
    @ParentCommand var root: OutpostAdminCommand
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let transport = try root.transport()
        let entries = try await perform { try await transport.get("/v1/admin/audit", as: [AuditEntry].self) }
        if output.json { try printJSON(entries); return }
        if entries.isEmpty { print("Nothing settled yet."); return }
        printTable(["when", "who", "what", "record", "chosen", "before"], entries.map {
            [$0.at, $0.who, $0.action, "\($0.collection).\($0.key) \($0.record)", $0.chosen, $0.before.joined(separator: " | ")]
        })
    }
}
