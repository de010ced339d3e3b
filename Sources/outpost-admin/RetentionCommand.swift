import ArgumentParser
import Foundation
import OutpostClient
import OutpostTerminal
import OutpostWire

/// `outpost-admin retention`: where the purge of history stands, the expiry of silent devices,
/// and a purge now.
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Show the low-water mark, deleted records held, devices holding the purge back and expired ones; set the expiry; purge now.",
        discussion: """
            History every active device has pulled is purged at head office: a deleted record's
            whole history once every device has seen the delete (its last state stays as its
            tombstone), and the older changes of a record changed more than once (folded into
            its state then; head office's `history` of it starts there, laptops keep theirs). A
            device silent longer than the expiry no longer holds the purge back: when it comes
            back it sends what it holds and starts again from the server's copy. Head office
            purges every `outpost-server --purge-interval` seconds (a day by default) and when
            an admin asks; this command without --purge changes nothing.

            Examples:
              outpost-admin retention
              outpost-admin retention --expire-after 60
              outpost-admin retention --purge
            """)
    @ParentCommand var root: OutpostAdminCommand
    @OptionGroup var output: JSONFlag
    @Option(help: ArgumentHelp("Expire devices silent this many days (1 to 3650; 90 unless set).", valueName: "DAYS")) var expireAfter: Int?
    @Flag(help: "Purge now the history every active device has pulled (head office only).") var purge = false

    func run() async throws {
        let transport = try root.transport()
        let figures: RetentionFigures
        if expireAfter != nil || purge {
            figures = try await perform { try await transport.post("/v1/admin/retention", RetentionRequest(expireAfterDays: expireAfter, purge: purge), as: RetentionFigures.self).0 }
        } else {
            figures = try await perform { try await transport.get("/v1/admin/retention", as: RetentionFigures.self) }
        }
        if output.json { try printJSON(figures); return }
        print("Devices expire after \(figures.expireAfterDays) days of silence.")
        print("Low-water mark: feed position \(figures.lowWaterMark) of \(figures.feedEnd) (every active device has pulled up to it).")
        print("Deleted records held: \(figures.tombstones)" + (purge ? "; purged now: \(figures.purgedTombstones) whole, kept whole: \(figures.keptTombstones)" : ""))
        if purge {
            print("Records whose older history was purged now: \(figures.purgedRecords ?? 0); history entries removed: \(figures.purgedFeedEntries).")
        }
        if !figures.holdingBack.isEmpty {
            print("Holding the mark back: " + figures.holdingBack.map { "\($0.replica) (\($0.user), last sync \($0.lastSeen ?? "never"))" }.joined(separator: ", "))
        }
        if !figures.expired.isEmpty {
            print(Style.alert("Expired (start again from the server's copy at their next sync): ") + figures.expired.map { "\($0.replica) (\($0.user), last sync \($0.lastSeen ?? "never"))" }.joined(separator: ", "))
        }
    }
}
