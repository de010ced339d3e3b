import ArgumentParser
import Foundation
import OutpostClient
import OutpostTerminal
import OutpostWire

/// `outpost-admin schema`: show the schema in force, or put a newer one in force at head office.
struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema", abstract: "Show the schema, or put a newer one in force (head office).",
        subcommands: [Set.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Put a newer schema file in force at head office; it flows down to branches and laptops at their next sync.",
            discussion: """
                The file's "version" must be higher than the one in force. Fields and collections may be
                added; a field's type cannot change. Replicas that have not received it yet keep and relay
                values of the new fields.

                Example:
                  outpost-admin schema set crm-with-loyalty.json
                """)
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The schema file (protocol/schema.md).") var file: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw AdminError(description: "Could not read \(file): \(error.localizedDescription)")
            }
            guard let data = text.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let version = object["version"] as? Int else {
                throw AdminError(description: "\(file) is not a schema file: it needs a JSON object with an integer \"version\".")
            }
            let answer = try await perform {
                try await transport.post("/v1/admin/schema", SchemaMessage(version: version, schema: text), as: SchemaMessage.self).0
            }
            if output.json { try printJSON(["version": answer.version]) } else {
                print("Schema version \(answer.version) is in force; branches and laptops receive it at their next sync.")
            }
        }
    }
}

/// `outpost-admin stats`: what the server holds, and how a branch's link to its parent stands.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show what the server holds and, for a branch, its link to its parent.",
        discussion: "Example:\n  outpost-admin --server http://almaty:7421 stats")
    @ParentCommand var root: OutpostAdminCommand
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let transport = try root.transport()
        let stats = try await perform { try await transport.get("/v1/admin/stats", as: ServerStats.self) }
        if output.json { try printJSON(stats); return }
        print("Server \(stats.server) (\(stats.role)), schema version \(stats.schemaVersion)")
        print("  users \(stats.users ?? 0), devices \(stats.devices ?? 0), changes in feed \(stats.feedChanges ?? 0), \((stats.storageBytes ?? 0) / 1_048_576) MiB stored")
        print("  open conflicts \(stats.openConflicts ?? 0), probable duplicates \(stats.probableDuplicates ?? 0), refused changes kept \(stats.rejectedChanges ?? 0)")
        if let perDay = stats.changesPerDay, !perDay.isEmpty {
            print("  changes per day: " + perDay.keys.sorted().map { "\($0) \(perDay[$0]!)" }.joined(separator: ", "))
        }
        if let replicas = stats.replicas, !replicas.isEmpty {
            printTable(["replica", "user", "last sync", "waiting to come up", "last verified"], replicas.map {
                [$0.replica, $0.user, $0.lastSeen ?? "never", String($0.pendingUp), Self.verified($0)]
            })
            let failed = replicas.filter { ($0.verifyDiffering ?? 0) > 0 }
            if !failed.isEmpty {
                print(Style.alert("  \(failed.count) replica\(failed.count == 1 ? "'s" : "s'") last verification found records that differ from this server: \(failed.map(\.replica).joined(separator: ", ")). Their users run `outpost status --verify --repair`."))
            }
        }
        guard let up = stats.upstream else { return }
        print("Upstream \(up.url)\(up.server.map { " (\($0))" } ?? ""): \(up.state.rawValue)")
        print("  last success \(up.lastSuccess ?? "never"), last attempt \(up.lastAttempt ?? "never")")
        print("  waiting to go up: \(up.pendingUp) changes; left to come down at the last round: \(up.pendingDown.map(String.init) ?? "unknown")")
        print("  since start: \(up.rounds) rounds, \(up.pushed) changes up, \(up.pulled) down")
        if let error = up.lastError { print("  last error: \(error)") }
    }

    /// "never", "ok at …", or "3 differ at …" (buckets before the records are named).
    static func verified(_ lag: ReplicaLag) -> String {
        guard let at = lag.verifiedAt else { return "never" }
        let differing = lag.verifyDiffering ?? 0
        return differing == 0 ? "ok at \(at)" : Style.alert("\(differing) differ at \(at)")
    }
}

/// `outpost-admin snapshot`: a ready replica file for a new laptop.
struct Snapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Write a ready replica file for a user's new laptop (`outpost init --from-snapshot FILE`).",
        discussion: """
            The file holds every record with its history and the server's position; a laptop started
            from it and enrolled syncs only what came after, instead of downloading everything.

            Example:
              outpost-admin snapshot aigerim --out aigerim.outpost
            """)
    @ParentCommand var root: OutpostAdminCommand
    @Argument(help: "The user the laptop is for.") var user: String
    @Option(help: ArgumentHelp("The file to write (must not exist).", valueName: "FILE")) var out: String

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: out) else { throw AdminError(description: "\(out) already exists; choose another --out file.") }
        let transport = try root.transport()
        let query = user.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? user
        let bytes = try await perform { try await transport.download("/v1/admin/snapshot?user=\(query)", to: out) }
        print("Wrote \(out) (\(bytes / 1024) KiB) for \(user): `outpost init --from-snapshot \(out)` on the new laptop, then `outpost enroll`.")
    }
}
