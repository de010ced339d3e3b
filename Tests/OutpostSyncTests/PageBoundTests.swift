import Foundation
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import Testing

/// Pages keep their size promise: about 1 MiB of change JSON however long the notes, and a
/// change larger than that still travels, alone.
struct PageBoundTests {
    /// A visit report of `kilobytes` KiB (text fields take up to 256 KiB).
    static func notes(_ n: Int, kilobytes: Int) -> FieldValue {
        .string(String(repeating: "Встреча прошла хорошо, клиент просит скидку. ", count: kilobytes * 1024 / 80) + "#\(n)")
    }

    @Test func longNotesGoUpAndComeDownInPagesOfAboutOneMebibyte() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let writer = try await server.enroll(folder, user: "aigerim")
        let account = try writer.insert("accounts", ["name": s("Тумэн ХХК")])
        // 200 reports of 100 KiB: 20 MB, more than a request body may be (16 MiB) if sent
        // as one page of 500 changes.
        for n in 0..<200 {
            _ = try writer.insert("activities", ["account_id": .reference(account), "kind": s("visit"),
                                                 "at": .timestamp(1_795_000_000_000), "summary": Self.notes(n, kilobytes: 100)])
        }
        // One change larger than a page (three fields near their 256 KiB bound).
        let huge = try writer.insert("activities", ["account_id": .reference(account), "kind": s("visit"), "at": .timestamp(1_795_000_000_000),
                                                    "summary": Self.notes(-1, kilobytes: 200), "outcome": Self.notes(-2, kilobytes: 200)])
        _ = try writer.update("accounts", id: account, [.set("phone", s("+976 9911 2233"))])
        let pushed = try await SyncEngine(replica: writer).sync()
        #expect(pushed.pushed == 203 && pushed.deferred == 0)
        #expect(try server.storage.replica.count("activities") == 201)

        // Every pull page, read as the server answers it: at most the bound, or one change.
        let service = SyncService(storage: server.storage)
        let bolor = try await server.enroll(folder, user: "bolor")
        let token = try #require(try bolor.setting(ClientSettings.token))
        let device = try #require(try server.storage.store.device(token: token))
        var cursor: Int64 = 0, pages = 0, changes = 0
        while true {
            let page = try await service.pull(PullRequest(replica: bolor.replicaID.rawValue, cursor: cursor, limit: WireLimits.pageChanges), device: device).response()
            let bytes = page.changes.reduce(0) { $0 + $1.canonicalBytes.count + 1 }
            #expect(bytes <= WireLimits.pageBytes || page.changes.count == 1, "a page of \(page.changes.count) changes is \(bytes) bytes")
            pages += 1
            changes += page.changes.count
            cursor = page.cursor
            if !page.more { break }
        }
        #expect(changes == 203 && pages >= 20)
        // And the whole way down, through HTTP.
        let reader = try await server.enroll(folder, user: "dilnoza")
        let pulled = try await SyncEngine(replica: reader).sync()
        #expect(pulled.pulled == 203)
        #expect(try reader.get("activities", id: huge)?.values["outcome"] == Self.notes(-2, kilobytes: 200))
        try await server.stop()
    }

    @Test func theSizeOfAValueIsCountedAsItIsWritten() throws {
        let values: [JSONValue] = [.null, .bool(true), .bool(false), .int(0), .int(-7), .int(Int64.min), .int(Int64.max), .string(""),
                                   .string("Тумэн \"ХХК\"\n\t\u{01}\\"), .array([]), .array([.int(1), .string("a")]),
                                   .object([:]), .object(["b": .int(1), "a": .array([.null])])]
        for value in values { #expect(value.canonicalSize == value.canonicalBytes.count, "\(value)") }
    }
}
