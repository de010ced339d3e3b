import ArgumentParser
import Foundation
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostStore
import OutpostTerminal

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List records of a collection.",
        discussion: """
            --where keeps records that meet a condition; repeat it to combine conditions:
              field=value    equals (for a set field: contains the value)
              field~text     contains the text, in any case, script or diacritics
              field>value    greater than (also <, >=, <=): numbers, dates and times;
                             a day compared with a time means the start of that day,
                             on your clock

            Examples:
              outpost list accounts --where city=Алматы --order-by name
              outpost list accounts --where name~тумэн
              outpost list deals --where amount>1000000 --where stage=proposal --json
              outpost list tasks --where due_at<2026-12-01
            """)

    @ParentCommand var root: OutpostCommand
    @Argument(help: "The collection.") var collection: String
    @Option(name: .customLong("where"), help: ArgumentHelp("A condition: field=value, field~text, field>value, field<value, field>=value, field<=value.", valueName: "condition"))
    var conditions: [String] = []
    @Option(help: "Sort by this field.") var orderBy: String?
    @Flag(help: "Sort descending.") var desc = false
    @Option(help: "At most this many records.") var limit: Int?
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        let spec = try spec(replica, collection)
        let parsed = try conditions.map { try Condition.parse($0, spec: spec) }
        let equal = parsed.compactMap { $0.op == .equal ? ($0.field, $0.value) : nil }
        let others = parsed.filter { $0.op != .equal }
        var records = try replica.query(collection, where: equal, orderBy: orderBy, descending: desc, limit: others.isEmpty ? limit : nil)
        if !others.isEmpty {
            records = records.filter { record in others.allSatisfy { $0.holds(for: record.values[$0.field] ?? .null) } }
            if let limit { records = Array(records.prefix(max(0, limit))) }
        }
        if output.json {
            Output.printJSON(.array(records.map(Output.json)))
        } else if records.isEmpty {
            print("No \(collection) records\(parsed.isEmpty ? "" : " match").")
        } else {
            print(Output.table(records, spec: spec))
        }
    }
}

extension Assignments {
    /// Like `parse`, but an empty list is fine (for optional conditions).
    static func parse(_ arguments: [String], spec: CollectionSpec, allowEmpty: Bool) throws -> [FieldWrite] {
        arguments.isEmpty && allowEmpty ? [] : try parse(arguments, spec: spec)
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one record with its conflicts and any fields your schema does not know.",
        discussion: "Example:\n  outpost show deals 0190c2a4-...")

    @ParentCommand var root: OutpostCommand
    @OptionGroup var record: RecordArguments
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        let (collection, id) = (record.collection, try record.fullID(in: replica))
        let spec = try spec(replica, collection)
        guard let shown = try replica.get(collection, id: id), let resolved = try replica.resolved(collection, id: id) else {
            throw CLIError("There is no \(collection) record with id \(id); `outpost list \(collection)` shows the ones there are.")
        }
        // An admin's settlements and merges on this record, so the rep sees why a value changed.
        let settlements = try replica.history(collection, id: id).filter { $0.author.device == Replica.adminDevice }
        if output.json {
            Output.printJSON(.object([
                "collection": .string(collection), "id": .string(id),
                "values": .object(shown.values.mapValues(Output.json)),
                "unknown": .object(resolved.unknownFields.mapValues(Output.json)),
                "conflicts": .array(resolved.conflicts.map(\.json)),
                "settled": .array(settlements.map { e in
                    .object(["by": .string(e.author.user), "at": .string(Output.zone.iso8601(Int64(e.hlc.wallMillis))),
                             "deleted": .bool(e.isDelete), "fields": .object(e.fields.mapValues(Output.json))])
                }),
            ]))
            return
        }
        print("\(collection) \(id)")
        let width = spec.fields.map(\.name.count).max() ?? 0
        for f in spec.fields {
            let value = shown.values[f.name] ?? .null
            guard value != .null else { continue }
            print("  \(f.name)\(String(repeating: " ", count: width - f.name.count))  \(Output.text(value))")
        }
        for (name, value) in resolved.unknownFields.sorted(by: { $0.key < $1.key }) {
            print("  \(name) (not in your schema)  \(Output.text(value))")
        }
        for c in resolved.conflicts {
            print("  conflict on \(c.key): " + c.sides.map { "\(Output.text($0.value)) by \($0.author.user)@\($0.author.device)" }
                .joined(separator: " vs ") + " (an admin decides; showing the provisional winner)")
        }
        for e in settlements {
            let what = e.isDelete ? "deleted it" : e.fields.isEmpty ? "restored it"
                : e.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Output.text($0.value))" }.joined(separator: "  ")
            print("  " + Style.ok("settled by \(e.author.user)") + " at \(Output.time(Int64(e.hlc.wallMillis))): \(what)")
        }
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show every change of a record, field by field, with who, when and where.",
        discussion: "Example:\n  outpost history deals 0190c2a4-...")

    @ParentCommand var root: OutpostCommand
    @OptionGroup var record: RecordArguments
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        let (collection, id) = (record.collection, try record.fullID(in: replica))
        _ = try spec(replica, collection)
        let entries = try replica.history(collection, id: id)
        guard !entries.isEmpty else { throw CLIError("This replica has no history of \(collection) \(id).") }
        if output.json {
            Output.printJSON(.array(entries.map { e in
                .object([
                    "at": .string(Output.zone.iso8601(Int64(e.hlc.wallMillis))), "hlc": .string(e.hlc.description),
                    "dot": .string(e.dot.description), "replica": .string(e.dot.replica.rawValue),
                    "user": .string(e.author.user), "device": .string(e.author.device), "origin": .string(e.origin),
                    "deleted": .bool(e.isDelete), "fields": .object(e.fields.mapValues(Output.json)),
                ])
            }))
            return
        }
        for e in entries {
            let what = e.isDelete ? "deleted" : e.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Output.text($0.value))" }.joined(separator: "  ")
            let settlement = e.author.device == Replica.adminDevice ? Style.ok("  [admin's settlement]") : ""
            print("\(Output.time(Int64(e.hlc.wallMillis)))  \(e.author.user)@\(e.author.device) (replica \(e.dot.replica), \(e.origin))  \(what)\(settlement)")
        }
    }
}

struct TasksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "Show open tasks due today or overdue, on your local day (works offline).",
        discussion: """
            A task is overdue when its due day has passed in your time zone, and due today when
            it falls on today there; times show on your clock (see --tz).

            Examples:
              outpost tasks --due
              outpost tasks --at 2026-11-30
            """)

    @ParentCommand var root: OutpostCommand
    @Flag(help: "Only tasks due today or earlier (the default and, for now, only view).") var due = false
    @Option(help: ArgumentHelp("Treat this day or time as now (for planning).", valueName: "TIME")) var at: String?
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        let zone = Output.zone
        var now = Int64(Replica.systemClock())
        if let at {
            guard let t = zone.parseMillis(at) else { throw ValidationError("--at takes a day or a time such as 2026-11-30 or 2026-11-30 18:00.") }
            now = t
        }
        let today = zone.day(of: now)
        let endOfToday = zone.endOfDay(containing: now)
        let tasks = try replica.dueTasks(atOrBefore: endOfToday)
        if output.json { Output.printJSON(.array(tasks.map(Output.json))); return }
        if tasks.isEmpty { print("Nothing due today."); return }
        for t in tasks {
            guard case .timestamp(let dueAt)? = t.values["due_at"] else { continue }
            let late = zone.day(of: dueAt) < today ? Style.alert("OVERDUE") : dueAt < now ? "now    " : "today  "
            let title = Output.text(t.values["title"] ?? .null)
            let assignee = t.values["assignee"].map { $0 == .null ? "" : " (\(Output.text($0)))" } ?? ""
            print("\(late)  \(zone.display(dueAt))  \(title)\(assignee)  \(t.id)")
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this replica: identity, records, changes, conflicts, orphans and rejected changes.",
        discussion: """
            With --verify, syncs and then compares every record with the server, naming the ones
            that differ (exit status 1 if any do); --repair fetches those again and rebuilds them.

            Examples:
              outpost status --json
              outpost status --verify --repair
            """)

    @ParentCommand var root: OutpostCommand
    @OptionGroup var output: JSONOption
    @Flag(help: "Sync, then compare every record with the server and name the ones that differ.") var verify = false
    @Flag(help: "With --verify: fetch the records that differ again from the server and rebuild them.") var repair = false

    func run() async throws {
        if repair && !verify { throw ValidationError("--repair goes with --verify.") }
        let replica = try root.openReplica()
        let verification = verify ? try await Verification.check(replica, repair: repair) : nil
        var counts: [String: JSONValue] = [:]
        for c in replica.schema.collections { counts[c.name] = .int(Int64(try replica.count(c.name))) }
        let local = try replica.changesMadeHere()
        let total = try replica.changeCount()
        let previous = try replica.previousReplicaIDs()
        let open = try replica.openConflicts()
        let conflicts = open.count
        // What the rep should hear about their own edits: clashes waiting for an admin, and
        // what an admin settled or merged.
        let mine = open.filter { $0.sides.contains { $0.author.user == replica.author.user } }
        let settled = try replica.settlementsTouchingMyEdits()
        let orphans = try replica.orphans()
        let rejected = try replica.rejections()
        let serverURL = try replica.setting(ClientSettings.serverURL)
        let lastSync = try replica.setting(ClientSettings.lastSuccess)
        let pending = try replica.pendingChangeCount()
        if output.json {
            Output.printJSON(.object([
                "replica": .string(replica.replicaID.rawValue), "user": .string(replica.author.user),
                "device": .string(replica.author.device), "role": .string(replica.role.rawValue),
                "folder": .string(root.replicaFolder), "records": .object(counts),
                "local_changes": .int(Int64(local)), "changes": .int(Int64(total)),
                "conflicts": .int(Int64(conflicts)), "orphans": .int(Int64(orphans.count)),
                "rejected": .array(rejected.map { .object(["dot": .string($0.dot.description), "collection": .string($0.collection), "record": .string($0.recordID), "code": .string($0.code), "reason": .string($0.reason)]) }),
                "server": serverURL.map { .string($0) } ?? .null, "last_sync": lastSync.map { .string($0) } ?? .null,
                "pending": .int(Int64(pending)), "previous_replicas": .array(previous.map { .string($0) }),
                "clock_offset_ms": .int(replica.clockOffset),
                "verify": verification?.json ?? .null,
                "my_conflicts": .array(mine.map { c in
                    .object(["id": .string(c.id), "collection": .string(c.collection), "record": .string(c.recordID), "key": .string(c.key),
                             "sides": .array(c.sides.map { .object(["user": .string($0.author.user), "value": $0.value.json]) })])
                }),
                "settled": .array(settled.map { s in
                    .object(["collection": .string(s.collection), "record": .string(s.recordID), "admin": .string(s.admin),
                             "at": .string(Output.zone.iso8601(s.at)), "fields": .array(s.fields.map { .string($0) }), "deleted": .bool(s.deleted)])
                }),
            ]))
            if verification?.agrees == false { throw ExitCode(1) }
            return
        }
        print("Replica \(replica.replicaID) (\(replica.role.rawValue)) of \(replica.author.user)@\(replica.author.device) in \(root.replicaFolder)")
        if !previous.isEmpty {
            print("This folder was copied or restored and wrote as \(previous.joined(separator: ", then ")) before; its writes were kept or sent again under its own id.")
        }
        if let serverURL {
            print("Server: \(serverURL); last successful sync: \(lastSync ?? "never")")
            print("Pending local changes (not yet acknowledged by the server): \(pending)")
            if let warning = ClockWarning.sentence(offset: replica.clockOffset) { print(Style.alert(warning)) }
        } else {
            print("Server: not enrolled (`outpost enroll --server URL --code CODE`)")
        }
        print("Records: " + replica.schema.collections.map { "\($0.name) \(counts[$0.name]!.canonicalText)" }.joined(separator: ", "))
        print("Changes: \(local) made here, \(total - local) received")
        print("Conflicts waiting for an admin: " + (conflicts == 0 ? "0" : Style.alert("\(conflicts)")))
        for c in mine {
            if c.kind == .orphan, let deletion = c.sides.first(where: { $0.value == .bool(false) }) {
                let who = deletion.author.user == replica.author.user ? "you" : deletion.author.user
                print("  \(c.collection) \(c.recordID) stands under a record \(who) deleted; an admin restores that record, moves this one or deletes it")
                continue
            }
            let sides = c.sides.map { "\(Output.text($0.value)) (\($0.author.user == replica.author.user ? "yours" : $0.author.user))" }
            print("  your edit of \(c.collection).\(c.key) on \(c.recordID): \(sides.joined(separator: " vs ")); an admin decides")
        }
        for s in settled {
            let what = s.deleted ? "deleted it (merged into another record, or settled a clash so)"
                : s.fields.isEmpty ? "restored it" : "set \(s.fields.joined(separator: ", "))"
            print(Style.ok("Settled by \(s.admin)") + " at \(Output.time(s.at)) on \(s.collection) \(s.recordID), which you edited: \(what) (`outpost show \(s.collection) \(s.recordID)`)")
        }
        if !orphans.isEmpty { print("Records whose parent is missing: \(orphans.count)") }
        if !rejected.isEmpty {
            print(Style.alert("Rejected changes (kept here; an admin or you must act): \(rejected.count)"))
            for r in rejected { print("  \(r.collection) \(r.recordID) [\(r.dot)] \(r.code): \(r.reason)") }
            print("  Send one again after your rights change: outpost rejected retry DOT; drop it: outpost rejected discard DOT")
        }
        if let verification {
            verification.printReport()
            if !verification.agrees { throw ExitCode(1) }
        }
    }
}

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the schema file this replica uses.",
        discussion: "Example:\n  outpost schema > my-schema.json")

    @ParentCommand var root: OutpostCommand

    func run() throws {
        print(try root.openReplica().schema.fileJSON)
    }
}
