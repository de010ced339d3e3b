import ArgumentParser
import Foundation
import OutpostClient
import OutpostCore
import OutpostTerminal
import OutpostWire

/// `outpost-admin`: users, devices and (later) conflicts, over a server's admin API.
@main
struct OutpostAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost-admin",
        abstract: "Administer an Outpost server: users, devices, the schema, statistics.",
        discussion: """
            The server and token default to $OUTPOST_SERVER and $OUTPOST_TOKEN.

            Examples:
              outpost-admin --server http://127.0.0.1:7420 --token $T users add aigerim --role rep --scope "owner=aigerim"
              outpost-admin devices enroll aigerim
              outpost-admin devices list --json
              outpost-admin users add almaty-branch --role branch --scope all
              outpost-admin schema set crm-with-loyalty.json
              outpost-admin stats
              outpost-admin conflicts list
              outpost-admin conflicts resolve --collection deals --field stage --take newest
            """,
        subcommands: [Users.self, Devices.self, Conflicts.self, Duplicates.self, Audit.self, SchemaCommand.self, Stats.self, Retention.self, Snapshot.self]
    )

    @Option(help: ArgumentHelp("The server's URL.", valueName: "URL")) var server: String?
    @Option(help: ArgumentHelp("An admin token (from `outpost-server token`).", valueName: "T")) var token: String?
    @Option(help: ArgumentHelp("Trust the server's certificate if this CA (PEM) signed it ($OUTPOST_CA).", valueName: "FILE")) var ca: String?

    func transport() throws -> SyncTransport {
        let env = ProcessInfo.processInfo.environment
        guard let url = server ?? env["OUTPOST_SERVER"] else { throw ValidationError("Give the server with --server URL or $OUTPOST_SERVER.") }
        guard let token = token ?? env["OUTPOST_TOKEN"] else { throw ValidationError("Give an admin token with --token T or $OUTPOST_TOKEN (create one with `outpost-server token --data DIR`).") }
        let caFile = ca ?? env["OUTPOST_CA"]
        do {
            return SyncTransport(baseURL: url, token: token, trustedCA: try caFile.map(ClientTLS.readCA))
        } catch let error as TransportError {
            throw ValidationError(error.description)
        }
    }
}

/// Prints as JSON or as text, and turns transport errors into one sentence.
func perform<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let error as TransportError {
        throw AdminError(description: error.description)
    }
}

struct AdminError: Error, CustomStringConvertible {
    let description: String
}

struct JSONFlag: ParsableArguments {
    @Flag(help: "Print one JSON document on stdout and nothing else.") var json = false
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users", abstract: "Add, edit and list users.", subcommands: [Add.self, Edit.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add a user with a role and a scope.",
            discussion: "Examples:\n  outpost-admin users add aigerim --role rep --scope \"branch=almaty\"\n  outpost-admin users add dilnoza --role rep --scope \"owner=me\" --tz Asia/Tashkent")
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The user's name.") var name: String
        @Option(help: "rep, manager, admin, or branch (for a branch server's enrollment).") var role: String
        @Option(help: "The scope expression (for example all, owner=aigerim, branch=almaty).") var scope: String
        @Option(help: "Where the user may sync from: both (default), head-office or branch.") var channel: String?
        @Option(name: .customLong("tz"), help: ArgumentHelp("The user's time zone (IANA name), used where their laptop is given none.", valueName: "ZONE"))
        var timeZone: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let user = try await perform {
                try await transport.post("/v1/admin/users", AdminUserRequest(name: name, role: role, scope: scope, channel: channel, timeZone: timeZone), as: UserInfo.self).0
            }
            if output.json { try printJSON(user) } else {
                print("Added \(user.name) (\(user.role), scope \(user.scope), channel \(user.channel ?? "both")\(user.timeZone.map { ", time zone \($0)" } ?? "")).")
            }
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "edit", abstract: "Change a user's role, scope or channel (head office).",
            discussion: "Examples:\n  outpost-admin users edit aigerim --scope \"branch=almaty\" --channel branch\n  outpost-admin users edit dilnoza --tz Asia/Tashkent\n  outpost-admin users edit dilnoza --tz \"\"     (the laptop's own zone again)")
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The user's name.") var name: String
        @Option(help: "rep, manager, admin or branch.") var role: String?
        @Option(help: "The scope expression.") var scope: String?
        @Option(help: "both, head-office or branch.") var channel: String?
        @Option(name: .customLong("tz"), help: ArgumentHelp("The user's time zone (IANA name); empty to clear.", valueName: "ZONE")) var timeZone: String?
        @OptionGroup var output: JSONFlag

        func validate() throws {
            if role == nil && scope == nil && channel == nil && timeZone == nil { throw ValidationError("Give at least one of --role, --scope, --channel, --tz.") }
        }

        func run() async throws {
            let transport = try root.transport()
            let user = try await perform {
                try await transport.post("/v1/admin/users/edit", AdminUserEditRequest(name: name, role: role, scope: scope, channel: channel, timeZone: timeZone), as: UserInfo.self).0
            }
            if output.json { try printJSON(user) } else {
                print("\(user.name): \(user.role), scope \(user.scope), channel \(user.channel ?? "both"), time zone \(user.timeZone ?? "the laptop's").")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List users.", discussion: "Example:\n  outpost-admin users list --json")
        @ParentCommand var root: OutpostAdminCommand
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let users = try await perform { try await transport.get("/v1/admin/users", as: [UserInfo].self) }
            if output.json { try printJSON(users); return }
            printTable(["name", "role", "scope", "channel", "time zone"], users.map { [$0.name, $0.role, $0.scope, $0.channel ?? "both", $0.timeZone ?? "laptop's"] })
        }
    }
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "Enroll, list and revoke devices.", subcommands: [Enroll.self, List.self, Revoke.self])

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke", abstract: "Cut a device off: its token stops working here at once and everywhere in the tree soon after.",
            discussion: "Example:\n  outpost-admin devices revoke dev-3f9a1c2b7d4e")
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The device id (from `devices list`).") var device: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let info = try await perform { try await transport.post("/v1/admin/devices/revoke", AdminRevokeRequest(device: device), as: DeviceInfo.self).0 }
            if output.json { try printJSON(info) } else { print("Revoked \(info.id) (\(info.user), \(info.name)); it can no longer sync.") }
        }
    }

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enroll", abstract: "Print a one-time enrollment code for a user's new device (its only stdout line).",
            discussion: """
                The code works once, for a day unless --expires says otherwise (at most 30 days).

                Examples:
                  outpost-admin devices enroll aigerim
                  outpost-admin devices enroll aigerim --expires 3d
                """)
        @ParentCommand var root: OutpostAdminCommand
        @Argument(help: "The user.") var user: String
        @Option(help: ArgumentHelp("How long the code works: minutes, hours or days (90m, 24h, 3d).", valueName: "DURATION")) var expires: String?
        @OptionGroup var output: JSONFlag

        func validate() throws {
            if let expires, Self.hours(expires) == nil { throw ValidationError("--expires takes a duration such as 90m, 24h or 3d, not '\(expires)'.") }
        }

        /// A duration as typed (`90m`, `24h`, `3d`, or hours alone) in hours.
        static func hours(_ text: String) -> Double? {
            let units: [Character: Double] = ["m": 1.0 / 60, "h": 1, "d": 24]
            if let unit = text.last.flatMap({ units[$0] }), let n = Double(text.dropLast()), n > 0 { return n * unit }
            return Double(text).flatMap { $0 > 0 ? $0 : nil }
        }

        func run() async throws {
            let transport = try root.transport()
            let request = AdminEnrollRequest(user: user, expiresHours: expires.flatMap(Self.hours))
            let answer = try await perform { try await transport.post("/v1/admin/devices", request, as: [String: String].self).0 }
            guard let code = answer["code"] else { throw AdminError(description: "The server did not return a code.") }
            if output.json { try printJSON(["code": code]) } else { print(code) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List enrolled devices.", discussion: "Example:\n  outpost-admin devices list")
        @ParentCommand var root: OutpostAdminCommand
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let transport = try root.transport()
            let devices = try await perform { try await transport.get("/v1/admin/devices", as: [DeviceInfo].self) }
            if output.json { try printJSON(devices); return }
            if devices.isEmpty { print("No devices enrolled."); return }
            printTable(["id", "user", "name", "replica", "app", "last sync", "to push", "to pull", "clock", "state"], devices.map { d in
                let copies = d.copies.map { " (+ copies \($0.joined(separator: ",")))" } ?? ""
                return [d.id, d.user, d.name, d.replica + copies, d.appVersion ?? "-", d.lastSeen ?? "never",
                        d.pendingUp.map(String.init) ?? "-", d.pendingDown.map { "~\($0)" } ?? "-", Self.clock(d.clockSkewMillis),
                        d.revoked ? Style.alert("revoked") : "active"]
            })
            let skewed = devices.filter { !$0.revoked && $0.clockSkewMillis != nil }
            if !skewed.isEmpty {
                print(Style.alert("\(skewed.count) device\(skewed.count == 1 ? "'s clock is" : "s' clocks are") wrong (column clock): their changes are stamped with the server's time, but their owners should set the date and time right."))
            }
        }

        /// "ok", or how far the clock was off at its last hello ("3d 2h ahead").
        static func clock(_ skew: Int64?) -> String {
            guard let skew else { return "ok" }
            return Style.alert(TimeSpan.short(skew) + (skew > 0 ? " ahead" : " behind"))
        }
    }
}
