import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import Testing

/// Bad input to the server gets a specific error and changes nothing.
@Suite(.serialized)
struct BadInputTests {
    struct Raw {
        let status: Int
        let body: String
    }

    static let client = HTTPClient(eventLoopGroupProvider: .singleton)

    func post(_ url: String, _ body: String, token: String?, headers: [(String, String)] = []) async throws -> Raw {
        try await post(url, bytes: Array(body.utf8), token: token, headers: headers)
    }

    func post(_ url: String, bytes body: [UInt8], token: String?, headers: [(String, String)] = []) async throws -> Raw {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 1 << 24)
        return Raw(status: Int(response.status.code), body: String(buffer: data))
    }

    func validChange(_ replica: String, counter: UInt64, collection: String = "deals", field: String = "title", value: FieldValue = .string("ok"),
                     context extra: [ReplicaID: UInt64] = [:]) throws -> String {
        var change = try RecordState().write([.set(field, value)],
                                             stamp: WriteStamp(dot: Dot(try ReplicaID(replica), counter), hlc: HLCTimestamp(wallMillis: UInt64(Date().timeIntervalSince1970 * 1000)), author: Author(user: "aigerim", device: "d")),
                                             rules: CollectionRules(collection: collection, fields: [field: .lww]), recordID: "0190a000-0000-7000-8000-00000000beef")
        if !extra.isEmpty {
            var presence = change.presence.context
            for (r, n) in extra { presence.record(Dot(r, n)) }
            let p = try FieldState(entries: Array(change.presence.entries.values), context: presence)
            change = try Change(collection: change.collection, recordID: change.recordID, dot: change.dot, hlc: change.hlc, author: change.author, fields: change.fields, presence: p)
        }
        return change.json.canonicalText
    }

    @Test func everyBadInputIsNamedAndChangesNothing() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let replica = try await server.enroll(folder, user: "aigerim")
        let token = try replica.setting(ClientSettings.token)!
        let url = server.url
        let syncToken = try replica.setting(ClientSettings.syncToken)!
        let hello = #"{"protocol":1,"replica":"r-aigerim","counter":10,"schemaVersion":1,"position":{"cursor":0,"seen":{}},"syncToken":""# + syncToken + #""}"#
        #expect(try await post(url + "/v1/sync/hello", hello, token: token).status == 200)
        let feedBefore = try server.storage.replica.feed(after: 0).count

        func expectError(_ path: String, _ body: String, token: String?, status: Int, code: String, mentions: String? = nil,
                         headers: [(String, String)] = [], sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let r = try await post(url + path, body, token: token, headers: headers)
            #expect(r.status == status, "\(path): \(r.body)", sourceLocation: sourceLocation)
            #expect(r.body.contains("\"code\":\"\(code)\""), "\(r.body)", sourceLocation: sourceLocation)
            if let mentions { #expect(r.body.contains(mentions), "\(r.body)", sourceLocation: sourceLocation) }
        }
        try await expectError("/v1/sync/push", "{not json", token: token, status: 400, code: "malformed-request")
        try await expectError("/v1/sync/push", String(repeating: "[", count: 100_000), token: token, status: 400, code: "malformed-request", mentions: "nesting too deep")
        let invalidUTF8 = try await post(url + "/v1/sync/push", bytes: Array(#"{"protocol":1,"replica":"r-"#.utf8) + [0xFF, 0xFE] + Array(#"","changes":[]}"#.utf8), token: token)
        #expect(invalidUTF8.status == 400 && invalidUTF8.body.contains("invalid UTF-8"), "\(invalidUTF8.body)")
        try await expectError("/v1/sync/pull", #"{"protocol":1,"replica":"r-someone-else","cursor":0,"limit":10}"#, token: token, status: 400, code: "wrong-replica")
        try await expectError("/v1/admin/users", #"{"protocol":1,"name":"eve","role":"admin","scope":"all"}"#, token: token, status: 401, code: "unauthorized",
                              mentions: "admin token is required")
        try await expectError("/v1/sync/push", #"{"protocol":2,"replica":"r-aigerim","changes":[]}"#, token: token, status: 400, code: "unsupported-protocol", mentions: "protocol 2; this server speaks 1 to 1")
        try await expectError("/v1/sync/push", #"{"replica":"r-aigerim","changes":[]}"#, token: token, status: 400, code: "missing-protocol")
        try await expectError("/v1/sync/push", #"{"protocol":1,"replica":"r-aigerim","changes":[{"c":"deals"}]}"#, token: token, status: 400, code: "malformed-change")
        try await expectError("/v1/sync/push", #"{"protocol":1,"replica":"r-aigerim","changes":[]}"#, token: nil, status: 401, code: "unauthorized")
        try await expectError("/v1/sync/push", #"{"protocol":1,"replica":"r-aigerim","changes":[]}"#, token: "opd_forged", status: 401, code: "unauthorized")
        let huge = #"{"protocol":1,"replica":"r-aigerim","changes":[],"pad":""# + String(repeating: "x", count: WireLimits.maxBodyBytes) + #""}"#
        try await expectError("/v1/sync/push", huge, token: token, status: 413, code: "body-too-large")
        try await expectError("/v1/sync/push", String(repeating: "x", count: 100), token: token, status: 413, code: "body-too-large", headers: [("Content-Encoding", "gzip")])

        // Per-change refusals: the rest of the page would still apply; these change nothing.
        func pushOne(_ change: String) async throws -> ChangeResult {
            let r = try await post(url + "/v1/sync/push", #"{"protocol":1,"replica":"r-aigerim","changes":["# + change + "]}", token: token)
            #expect(r.status == 200, "\(r.body)")
            return try JSONDecoder().decode(PushResponse.self, from: Data(r.body.utf8)).results[0]
        }
        let unknown = try await pushOne(validChange("r-aigerim", counter: 1, collection: "spaceships", field: "name"))
        #expect(unknown.status == .rejected && unknown.code == "unknown-collection")
        let wrongType = try await pushOne(validChange("r-aigerim", counter: 2, field: "probability", value: .string("very likely")))
        #expect(wrongType.status == .rejected && wrongType.code == "wrong-type")
        let ahead = try await pushOne(validChange("r-aigerim", counter: 1_000_000))
        #expect(ahead.status == .deferred && ahead.code == "beyond-declared-counter")
        let poisoned = try await pushOne(validChange("r-aigerim", counter: 3, context: [try ReplicaID("r-victim"): 999_999_999]))
        #expect(poisoned.status == .deferred && poisoned.code == "unseen-context")
        let foreign = try await pushOne(validChange("r-someone-else", counter: 1))
        #expect(foreign.status == .rejected && foreign.code == "foreign-origin")
        // Oversized values are refused, known field or not, so no laptop receives them.
        let hugeName = try await pushOne(validChange("r-aigerim", counter: 3, field: "title", value: .string(String(repeating: "я", count: 3_000))))
        #expect(hugeName.status == .rejected && hugeName.code == "too-large", "\(hugeName)")
        let hugeNotes = try await pushOne(validChange("r-aigerim", counter: 4, collection: "contacts", field: "notes", value: .string(String(repeating: "n", count: 300_000))))
        #expect(hugeNotes.status == .rejected && hugeNotes.code == "too-large")
        let hugeUnknown = try await pushOne(validChange("r-aigerim", counter: 5, field: "from_a_newer_schema", value: .string(String(repeating: "u", count: 300_000))))
        #expect(hugeUnknown.status == .rejected && hugeUnknown.code == "too-large")
        let longNotes = try await pushOne(validChange("r-aigerim", counter: 6, collection: "contacts", field: "notes", value: .string(String(repeating: "n", count: 100_000))))
        #expect(longNotes.status == .applied, "a long note within the bound is fine: \(longNotes)")
        let manyTags = try await pushOne(validChange("r-aigerim", counter: 7, collection: "accounts", field: "name", value: .set((0..<1_001).map { "t\($0)" })))
        #expect(manyTags.status == .rejected && manyTags.code == "too-large")

        #expect(try server.storage.replica.feed(after: 0).count == feedBefore + 1, "only the long note within the bound was applied")
        #expect(try server.storage.replica.query("deals").isEmpty)
        try await server.stop()
    }

    @Test func aRepeatedPushChangesNothing() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let replica = try await server.enroll(folder, user: "aigerim")
        for n in 0..<5 { _ = try replica.insert("tasks", ["title": .string("T\(n)")]) }
        let transport = SyncTransport(baseURL: server.url, token: try replica.setting(ClientSettings.token))
        _ = try await transport.post("/v1/sync/hello", HelloRequest(replica: "r-aigerim", counter: try replica.counter(), schemaVersion: 1, position: .start,
                                                                    syncToken: try replica.setting(ClientSettings.syncToken)), as: HelloResponse.self)
        let page = PushRequest(replica: "r-aigerim", changes: try replica.localChanges(after: 0, limit: 100).map(\.json))
        let first = try await transport.post("/v1/sync/push", page, as: PushResponse.self).0
        let before = try server.storage.replica.feed(after: 0).count
        let stateBefore = try snapshot(server.storage.replica)
        let second = try await transport.post("/v1/sync/push", page, as: PushResponse.self).0
        #expect(first.results.allSatisfy { $0.status == .applied })
        #expect(second.results.allSatisfy { $0.status == .duplicate })
        #expect(second.acknowledged == 5)
        #expect(try server.storage.replica.feed(after: 0).count == before)
        #expect(try snapshot(server.storage.replica) == stateBefore)
        try await server.stop()
    }
}
