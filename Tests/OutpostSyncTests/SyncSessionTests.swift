import Foundation
import OutpostCore
import OutpostTestSupport
import OutpostWire
import Testing

/// The session state machine, driven without sockets.
struct SyncSessionTests {
    let hello = HelloRequest(replica: "r-a", counter: 7, schemaVersion: 1, position: SyncPosition(server: "hq", cursor: 40, seen: [:]))

    func change(_ n: UInt64) throws -> Change {
        try RecordState().write([.set("title", .string("t\(n)"))],
                                stamp: WriteStamp(dot: Dot(try ReplicaID("r-a"), n), hlc: HLCTimestamp(wallMillis: n), author: Author(user: "a", device: "d")),
                                rules: CollectionRules(collection: "deals", fields: ["title": .lww]), recordID: "x")
    }

    @Test func fullSessionPushesThenPullsUntilDone() throws {
        var session = SyncSession(hello: hello, localAcknowledged: .max, pendingLocalChanges: 3)
        guard case .sendHello(let h) = try session.start() else { Issue.record("no hello"); return }
        #expect(h.position.cursor == 40)
        guard case .loadPushPage(let after, let through, _) = try session.received(HelloResponse(server: "hq", schemaVersion: 1, acknowledged: 4, cursor: 40, pageChanges: 2)) else {
            Issue.record("no push load"); return
        }
        #expect(after == 4 && through == 7)
        guard case .sendPush(let push) = try session.pushPageLoaded([try change(5), try change(6)]) else { Issue.record("no push"); return }
        #expect(push.changes.count == 2)
        guard case .recordPush = try session.received(PushResponse(results: [ChangeResult(dot: "r-a:5", status: .applied), ChangeResult(dot: "r-a:6", status: .rejected, code: "x", reason: "y")], acknowledged: 6)) else {
            Issue.record("no record"); return
        }
        guard case .loadPushPage(let after2, _, _) = try session.pushRecorded() else { Issue.record("no second load"); return }
        #expect(after2 == 6)
        guard case .sendPull(let pull) = try session.pushPageLoaded([]) else { Issue.record("no pull"); return }
        #expect(pull.cursor == 40)
        let page = PullResponse(changes: [], cursor: 45, more: true, remaining: 1)
        guard case .commitPull = try session.received(page) else { Issue.record("no commit"); return }
        guard case .sendPull(let pull2) = try session.pullCommitted(page) else { Issue.record("no second pull"); return }
        #expect(pull2.cursor == 45)
        let last = PullResponse(changes: [], cursor: 46, more: false, remaining: 0)
        _ = try session.received(last)
        guard case .finished(let progress) = try session.pullCommitted(last) else { Issue.record("not finished"); return }
        #expect(progress.pushed == 1 && progress.rejected == 1)
        #expect(session.state == .done)
    }

    /// A server that says more was acknowledged than this folder was told gets the difference
    /// pushed again (it may hold another folder's writes under these names); one that says less
    /// (restored from a backup) gets everything after its own word.
    @Test(arguments: [(UInt64(2), UInt64(6), UInt64(2)), (6, 2, 2), (4, 4, 4)])
    func pushingStartsAfterTheLowerAcknowledgement(local: UInt64, server: UInt64, expected: UInt64) throws {
        var session = SyncSession(hello: hello, localAcknowledged: local, pendingLocalChanges: 0)
        _ = try session.start()
        guard case .loadPushPage(let after, _, _) = try session.received(HelloResponse(server: "hq", schemaVersion: 1, acknowledged: server, cursor: 40, pageChanges: 10)) else {
            Issue.record("no push load"); return
        }
        #expect(after == expected)
    }

    /// A deferred change ends pushing for this session (the rest would be out of order); the
    /// session pulls and finishes instead of failing.
    @Test func aDeferredChangeEndsPushingAndTheSessionPulls() throws {
        var session = SyncSession(hello: hello, localAcknowledged: 4, pendingLocalChanges: 3)
        _ = try session.start()
        _ = try session.received(HelloResponse(server: "hq", schemaVersion: 1, acknowledged: 4, cursor: 40, pageChanges: 2))
        _ = try session.pushPageLoaded([try change(5), try change(6)])
        _ = try session.received(PushResponse(results: [ChangeResult(dot: "r-a:5", status: .applied),
                                                        ChangeResult(dot: "r-a:6", status: .deferred, code: "beyond-declared-counter", reason: "later")],
                                              acknowledged: 5))
        guard case .sendPull(let pull) = try session.pushRecorded() else { Issue.record("pushing went on after a deferral"); return }
        #expect(pull.cursor == 40)
        #expect(session.progress.pushed == 1 && session.progress.deferred == 1)
    }

    /// A server that acknowledges more than the page pushed (another folder's writes under the
    /// same names) does not make the session skip the folder's next writes: they are pushed so
    /// the server compares them, and the folder records only what it pushed.
    @Test func aHigherAcknowledgementDoesNotSkipTheFoldersWrites() throws {
        var session = SyncSession(hello: hello, localAcknowledged: 4, pendingLocalChanges: 3)
        _ = try session.start()
        _ = try session.received(HelloResponse(server: "hq", schemaVersion: 1, acknowledged: 4, cursor: 40, pageChanges: 1))
        _ = try session.pushPageLoaded([try change(5)])
        guard case .recordPush(_, let confirmed) = try session.received(PushResponse(results: [ChangeResult(dot: "r-a:5", status: .duplicate)], acknowledged: 7)) else {
            Issue.record("no record"); return
        }
        #expect(confirmed == 5)
        guard case .loadPushPage(let after, _, _) = try session.pushRecorded() else { Issue.record("pushing stopped"); return }
        #expect(after == 5)
    }

    @Test func stepsOutOfOrderAreRefused() throws {
        var session = SyncSession(hello: hello, localAcknowledged: .max, pendingLocalChanges: 0)
        #expect(throws: SyncSession.Failure.self) { try session.pushPageLoaded([]) }
        _ = try session.start()
        #expect(throws: SyncSession.Failure.self) { try session.start() }
        #expect(throws: SyncSession.Failure.self) { try session.received(PullResponse(changes: [], cursor: 1, more: false, remaining: 0)) }
    }

    @Test func aCursorThatGoesBackIsRefused() throws {
        var session = SyncSession(hello: hello, localAcknowledged: .max, pendingLocalChanges: 0)
        _ = try session.start()
        _ = try session.received(HelloResponse(server: "hq", schemaVersion: 1, acknowledged: 0, cursor: 40, pageChanges: 10))
        _ = try session.pushPageLoaded([])
        #expect(throws: SyncSession.Failure.self) { try session.received(PullResponse(changes: [], cursor: 39, more: false, remaining: 0)) }
    }
}

/// The golden messages in protocol/messages decode and re-encode to the same JSON.
struct GoldenMessageTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("protocol/messages")

    func roundTrip<T: Codable>(_ file: String, _ type: T.Type) throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent(file))
        let original = try JSONDecoder().decode(JSONValue.self, from: data)
        let decoded = try JSONDecoder().decode(T.self, from: data)
        let again = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(decoded))
        #expect(again == original, "\(file) does not survive decoding and re-encoding")
    }

    @Test func everyGoldenMessageRoundTrips() throws {
        try roundTrip("enroll-request.json", EnrollRequest.self)
        try roundTrip("hello-request.json", HelloRequest.self)
        try roundTrip("hello-response.json", HelloResponse.self)
        try roundTrip("push-request.json", PushRequest.self)
        try roundTrip("push-response.json", PushResponse.self)
        try roundTrip("pull-request.json", PullRequest.self)
        try roundTrip("pull-response.json", PullResponse.self)
        try roundTrip("fork-request.json", ForkRequest.self)
        try roundTrip("fork-response.json", ForkResponse.self)
        try roundTrip("error-replica-forked.json", WireError.self)
        try roundTrip("error-unsupported-protocol.json", WireError.self)
        let push = try JSONDecoder().decode(PushRequest.self, from: Data(contentsOf: Self.directory.appendingPathComponent("push-request.json")))
        for change in push.changes { _ = try Change(json: change) }
    }
}

/// The sync token's verdicts, without a server.
struct SyncTokenTests {
    @Test func verdicts() {
        #expect(SyncToken.check(stored: nil, presented: nil, next: "1.00000000000000aa") == .accept(rotateTo: "1.00000000000000aa"))
        #expect(SyncToken.check(stored: "3.00000000000000aa", presented: "3.00000000000000aa", next: "4.00000000000000bb") == .accept(rotateTo: "4.00000000000000bb"))
        // The answer to the hello that stored `next` was lost.
        #expect(SyncToken.check(stored: "4.00000000000000bb", presented: "3.00000000000000aa", next: "4.00000000000000bb") == .accept(rotateTo: nil))
        // The server was restored from a backup and holds an older token than the folder.
        #expect(SyncToken.check(stored: "2.00000000000000cc", presented: "3.00000000000000aa", next: "4.00000000000000bb") == .serverBehind(rotateTo: "4.00000000000000bb"))
        // A copy: an older epoch, or the same epoch with another token, or none at all.
        #expect(SyncToken.check(stored: "4.00000000000000bb", presented: "3.00000000000000aa", next: "4.00000000000000dd") == .forked)
        #expect(SyncToken.check(stored: "4.00000000000000bb", presented: "4.00000000000000ee", next: "5.00000000000000dd") == .forked)
        #expect(SyncToken.check(stored: "4.00000000000000bb", presented: nil, next: "1.00000000000000dd") == .forked)
    }

    @Test func tokensCountEpochsAndAreWellFormed() {
        var rng = SplitMix64(seed: 1)
        let first = SyncToken.next(after: nil, using: &rng)
        let second = SyncToken.next(after: first, using: &rng)
        #expect(SyncToken.epoch(of: first) == 1 && SyncToken.epoch(of: second) == 2)
        #expect(SyncToken.isValid(first) && SyncToken.isValid(second))
        #expect(!SyncToken.isValid("2.XYZ") && !SyncToken.isValid("abc") && !SyncToken.isValid("1.00000000000000aa0"))
    }
}
