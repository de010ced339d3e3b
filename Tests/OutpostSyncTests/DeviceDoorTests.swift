import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import OutpostClient
import OutpostCore
@testable import OutpostServer
import OutpostStore
import OutpostWire
import Testing

/// Who gets in, and what a server tells those who do not: revoked devices, channel policy,
/// enrollment codes (once, for a time, not guessed), unknown calls and oversized bodies.
@Suite(.serialized)
struct DeviceDoorTests {
    let raw = BadInputTests()

    func get(_ url: String) async throws -> BadInputTests.Raw {
        let response = try await BadInputTests.client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        return BadInputTests.Raw(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test func aRevokedDeviceIsToldSoAndKeepsNoCustomerData() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let replica = try await server.enroll(folder, user: "aigerim")
        _ = try replica.insert("accounts", ["name": s("ТОО «Алтын-Ай»")])
        _ = try await SyncEngine(replica: replica).sync()
        _ = try replica.insert("accounts", ["name": s("not sent")])
        let device = try #require(try server.storage.store.devices().first { $0.user == "aigerim" })
        _ = try server.storage.store.revoke(device: device.id)
        do {
            _ = try await SyncEngine(replica: replica).sync()
            Issue.record("a revoked device synced")
        } catch TransportError.server(let error, let status) {
            #expect(status == 401 && error.error.code == "device-revoked")
            #expect(error.error.message.contains("1 changes made here had not reached the server"), "\(error.error.message)")
        }
        #expect(try replica.query("accounts").isEmpty && replica.changeCount() == 0, "the laptop keeps no customer data")
        let file = try Data(contentsOf: URL(fileURLWithPath: replica.path))
        #expect(file.range(of: Data("Алтын-Ай".utf8)) == nil, "not even in the file's free pages")
        #expect(try replica.setting(ClientSettings.token) == nil)
        #expect(try server.storage.replica.query("accounts").count == 1, "and pushed nothing more")
        try await server.stop()
    }

    @Test func aUserIsKeptToTheirChannel() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let replica = try await server.enroll(folder, user: "aigerim")
        _ = try server.storage.store.editUser(AdminUserEditRequest(name: "aigerim", channel: "branch"))
        do {
            _ = try await SyncEngine(replica: replica).sync()
            Issue.record("a branch-only user synced with head office")
        } catch TransportError.server(let error, let status) {
            #expect(status == 403 && error.error.code == "wrong-channel")
        }
        let direct = try await raw.post(server.url + "/v1/sync/pull", #"{"protocol":1,"replica":"r-aigerim","cursor":0,"limit":10}"#,
                                        token: try replica.setting(ClientSettings.token))
        #expect(direct.status == 403 && direct.body.contains("wrong-channel"), "every call, not only hello: \(direct.body)")
        // At enrollment, before the code is spent.
        try server.storage.store.addUser(UserInfo(name: "dana", role: "rep", scope: "all", channel: "branch"))
        let code = try server.storage.store.createEnrollmentCode(user: "dana")
        let enroll = EnrollRequest(code: code, device: "dana-laptop", replica: "r-dana")
        let refused = try await raw.post(server.url + "/v1/enroll", String(decoding: try JSONEncoder().encode(enroll), as: UTF8.self), token: nil)
        #expect(refused.status == 403 && refused.body.contains("wrong-channel"), "\(refused.body)")
        _ = try server.storage.store.editUser(AdminUserEditRequest(name: "dana", channel: "both"))
        let accepted = try await raw.post(server.url + "/v1/enroll", String(decoding: try JSONEncoder().encode(enroll), as: UTF8.self), token: nil)
        #expect(accepted.status == 200, "the code was not spent by the refusal: \(accepted.body)")
        try await server.stop()
    }

    @Test func codesWorkOnceForATimeAndCannotBeGuessed() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        try server.storage.store.addUser(UserInfo(name: "aigerim", role: "rep", scope: "all"))
        func enroll(_ code: String, _ replica: String) async throws -> BadInputTests.Raw {
            let body = EnrollRequest(code: code, device: "laptop", replica: replica)
            return try await raw.post(server.url + "/v1/enroll", String(decoding: try JSONEncoder().encode(body), as: UTF8.self), token: nil)
        }
        let brief = try server.storage.store.createEnrollmentCode(user: "aigerim", hours: 0.5 / 3_600)
        try await Task.sleep(for: .seconds(1))
        #expect(try await enroll(brief, "r-one").body.contains("invalid-code"), "an expired code")
        let code = try server.storage.store.createEnrollmentCode(user: "aigerim")
        #expect(try await enroll(code, "r-two").status == 200)
        #expect(try await enroll(code, "r-three").body.contains("invalid-code"), "a used code")
        for n in 0..<8 { _ = try await enroll("WRONG-CODE-\(n)", "r-guess\(n)") }
        let fresh = try server.storage.store.createEnrollmentCode(user: "aigerim")
        let limited = try await enroll(fresh, "r-four")
        #expect(limited.status == 429 && limited.body.contains("too-many-attempts"), "ten wrong codes stop the address: \(limited.body)")
        let big = #"{"protocol":1,"code":"x","device":"d","replica":"r-big","pad":""# + String(repeating: "x", count: 9_000) + #""}"#
        let tooBig = try await raw.post(server.url + "/v1/enroll", big, token: nil)
        #expect(tooBig.status == 413 || tooBig.status == 429)
        try await server.stop()
    }

    @Test func unknownCallsAndOversizedBodiesGetTheEnvelope() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let replica = try await server.enroll(folder, user: "aigerim")
        let token = try replica.setting(ClientSettings.token)
        let unknown = try await get(server.url + "/v1/nothing-here")
        #expect(unknown.status == 404 && unknown.body.contains("\"code\":\"unknown-path\""), "\(unknown.body)")
        let wrongMethod = try await get(server.url + "/v1/sync/push")
        #expect([404, 405].contains(wrongMethod.status) && wrongMethod.body.contains("unknown-path"), "\(wrongMethod.body)")
        let enroll = try await raw.post(server.url + "/v1/enroll", #"{"protocol":1,"code":"x","device":"d","replica":"r-x","pad":""# + String(repeating: "y", count: 20_000) + #""}"#, token: nil)
        #expect(enroll.status == 413 && enroll.body.contains("body-too-large"), "an unauthenticated enrollment reads a few KiB at most")
        // Gzip that inflates just past the limit: counted after inflating.
        let inflated = #"{"protocol":1,"replica":"r-aigerim","changes":[],"pad":""# + String(repeating: "z", count: WireLimits.maxBodyBytes) + #""}"#
        var plain = ByteBuffer(string: inflated)
        let zipped = try plain.compress(with: .gzip())
        var request = HTTPClientRequest(url: server.url + "/v1/sync/push")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token ?? "")")
        request.headers.add(name: "Content-Encoding", value: "gzip")
        request.body = .bytes(zipped)
        let response = try await BadInputTests.client.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(response.status.code == 413 && body.contains("body-too-large"), "\(body)")
        try await server.stop()
    }
}

/// The wrong-code counter: per address, bounded, and not a door a flood opens.
struct FailedAttemptsTests {
    @Test func aPeerWaitsAfterTooManyAndAFloodNeitherGrowsNorOpens() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let attempts = FailedAttempts(limit: 3, window: 60, peersKept: 5)
        for n in 0..<3 { attempts.failed("10.0.0.1", now: start.addingTimeInterval(Double(n))) }
        #expect(attempts.wait(for: "10.0.0.1", now: start.addingTimeInterval(5)) == 55)
        #expect(attempts.wait(for: "10.0.0.2", now: start.addingTimeInterval(5)) == nil)
        #expect(attempts.wait(for: "10.0.0.1", now: start.addingTimeInterval(61)) == nil, "the window passes")
        for n in 0..<10 { attempts.failed("flood-\(n)", now: start.addingTimeInterval(100)) }
        #expect(attempts.wait(for: "newcomer", now: start.addingTimeInterval(101)) != nil, "a full table makes newcomers wait")
        #expect(attempts.wait(for: "newcomer", now: start.addingTimeInterval(200)) == nil, "and forgets the flood once it is old")
    }
}

/// The history of records that entered a scope comes in bounded pages.
@Suite(.serialized)
struct RecordsPagingTests {
    @Test func aLongHistoryComesInPages() async throws {
        let folder = TempFolder()
        let server = try await TestServer.start(folder)
        let replica = try await server.enroll(folder, user: "aigerim")
        let account = try server.storage.replica.insert("accounts", ["name": s("Алтын-Ай")])
        for n in 0..<600 { try server.storage.replica.update("accounts", id: account, [.set("city", s("city \(n)"))]) }
        let transport = SyncTransport(baseURL: server.url, token: try replica.setting(ClientSettings.token))
        var request = RecordsRequest(replica: "r-aigerim", records: [RecordRef(collection: "accounts", id: account)], through: .max)
        let first = try await transport.post("/v1/sync/records", request, as: RecordsResponse.self).0
        #expect(first.changes.count == WireLimits.pageChanges && first.next != nil)
        request.after = first.next
        let second = try await transport.post("/v1/sync/records", request, as: RecordsResponse.self).0
        #expect(second.changes.count == 601 - WireLimits.pageChanges && second.next == nil)
        try await server.stop()
    }
}
