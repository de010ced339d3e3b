import ArgumentParser
import Foundation
import OutpostCore
import OutpostSchema
import OutpostStore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a standalone replica (for work before enrollment, tests and demos).",
        discussion: """
            With --from-snapshot, the replica starts from a file an admin made for you
            (`outpost-admin snapshot USER --out FILE`): every record is there at once; enroll it
            (`outpost enroll`), and its first sync pulls only what changed since the file was made.

            Examples:
              outpost init --user aigerim --device aigerim-laptop
              outpost init --from-snapshot aigerim.outpost --device aigerim-laptop
              outpost --replica ./hq init --role head-office --user admin
            """)

    @ParentCommand var root: OutpostCommand
    @Option(help: "Your user name (stamped on every write).") var user = ProcessInfo.processInfo.environment["USER"] ?? "user"
    @Option(help: "This device's name.") var device = ProcessInfo.processInfo.hostName
    @Option(help: "field, branch or head-office.") var role = "field"
    @Option(help: ArgumentHelp("A schema file instead of the built-in CRM schema.", valueName: "FILE")) var schema: String?
    @Option(help: ArgumentHelp("Start from a snapshot file made by `outpost-admin snapshot`.", valueName: "FILE")) var fromSnapshot: String?

    func run() throws {
        if let fromSnapshot {
            guard !FileManager.default.fileExists(atPath: root.replicaFile) else {
                throw CLIError("A replica already exists in \(root.replicaFolder); choose another folder with --replica (nothing was changed).")
            }
            try FileManager.default.createDirectory(atPath: root.replicaFolder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.copyItem(atPath: fromSnapshot, toPath: root.replicaFile)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: root.replicaFile)
            let replica: Replica
            do { replica = try Replica.open(at: root.replicaFile) } catch {
                try? FileManager.default.removeItem(atPath: root.replicaFile)
                let why = (error as? StoreError)?.description ?? "the file is damaged or of another kind"
                throw CLIError("\(fromSnapshot) is not an Outpost snapshot (\(why)); ask your admin for a new one (`outpost-admin snapshot`). Nothing was created.")
            }
            print("Created replica \(replica.replicaID) for \(replica.author.user) from \(fromSnapshot): \(try replica.count("accounts")) accounts. Enroll it with `outpost enroll --server URL --code CODE`; its first sync pulls only what came after the snapshot.")
            return
        }
        guard let role = ReplicaRole(rawValue: role) else { throw ValidationError("--role must be field, branch or head-office.") }
        let chosen = try schema.map { try Schema(contentsOf: URL(fileURLWithPath: $0)) } ?? .crm
        try FileManager.default.createDirectory(atPath: root.replicaFolder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let replica = try Replica.create(at: root.replicaFile, schema: chosen, options: ReplicaOptions(user: user, device: device, role: role))
        print("Created replica \(replica.replicaID) for \(user) in \(root.replicaFolder).")
    }
}

struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a record; prints its new id.",
        discussion: """
            Values are typed by the schema: decimals as 1250.50, dates as 2026-12-01, times as
            2026-12-01T09:30Z or "2026-12-01 09:30", sets as a,b,c.

            Examples:
              outpost add accounts name="Тумэн ХХК" kind=customer city=Улаанбаатар tags=vip
              outpost add deals account_id=0190c2a4-... title="Fleet renewal" amount=1250000 currency=KZT stage=lead
            """)

    @ParentCommand var root: OutpostCommand
    @Argument(help: "The collection (accounts, contacts, deals, activities, tasks, ...).") var collection: String
    @Argument(help: "field=value pairs.") var assignments: [String] = []
    @OptionGroup var output: JSONOption

    func run() throws {
        let replica = try root.openReplica()
        let spec = try spec(replica, collection)
        var values: [String: FieldValue] = [:]
        for write in try Assignments.parse(assignments, spec: spec, replica: replica) {
            switch write {
            case .set(let f, let v): values[f] = v
            case .add(let f, let item):
                if case .set(let items)? = values[f] { values[f] = .makeSet(items + [item]) } else { values[f] = .makeSet([item]) }
            default: throw CLIError("'\(write.field)' can only be set when adding a record.")
            }
        }
        let id = try replica.insert(collection, values)
        if output.json { Output.printJSON(.object(["id": .string(id)])) } else { print(id) }
    }
}

struct EditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Change fields of a record.",
        discussion: """
            A set field takes field+=item (add), field-=item (remove) or field=a,b (replace).

            Examples:
              outpost edit deals 0190c2a4-... stage=negotiation probability=60
              outpost edit deals 01a20edd-d4 stage=won     (a unique start of the id is enough)
              outpost edit accounts 0190c2a4-... tags+=export tags-=prospect
            """)

    @ParentCommand var root: OutpostCommand
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id, or its first characters (at least 4, enough to tell it apart).") var id: String
    @Argument(help: "field=value, field+=item, field-=item.") var assignments: [String] = []

    func run() throws {
        let replica = try root.openReplica()
        let spec = try spec(replica, collection)
        try replica.update(collection, id: try replica.resolveID(collection, id), try Assignments.parse(assignments, spec: spec, replica: replica))
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a record (the delete replicates; its history stays).",
        discussion: "Example:\n  outpost delete tasks 0190c2a4-...")

    @ParentCommand var root: OutpostCommand
    @OptionGroup var record: RecordArguments

    func run() throws {
        let replica = try root.openReplica()
        _ = try spec(replica, record.collection)
        let (collection, id) = (record.collection, try record.fullID(in: replica))
        try replica.delete(collection, id: id)
    }
}

/// The collection's spec, or the store's sentence listing the known collections.
func spec(_ replica: Replica, _ collection: String) throws -> CollectionSpec {
    do { return try replica.schema.collection(collection) } catch { throw CLIError(error.description) }
}
