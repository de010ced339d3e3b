import Foundation
import OutpostClient
import OutpostCore
import OutpostServer
import OutpostStore
import OutpostWire
import Synchronization
import Testing

/// Laptops whose clocks are days off (`protocol/sync.md`, "Clocks"): the hello tells each the
/// server's time, so a laptop ahead neither holds its writes back for days nor wins every
/// `lww` merge meanwhile, a laptop behind takes its colleagues' work instead of refusing it,
/// writes stay in causal order, and the admin sees whose clock is wrong.
@Suite(.serialized)
struct ClockSkewTests {
    static let day: UInt64 = 86_400_000

    /// A test's time: the server and a correct laptop read it; a wrong laptop reads it shifted.
    final class Time: Sendable {
        let millis = Mutex<UInt64>(Replica.systemClock())
        var now: UInt64 { millis.withLock { $0 } }
        func advance(_ ms: UInt64) { millis.withLock { $0 += ms } }
    }

    /// How far a laptop's clock is off.
    final class Shift: Sendable {
        let millis: Mutex<Int64>
        init(_ millis: Int64) { self.millis = Mutex(millis) }
    }

    struct Office {
        let folder = TempFolder()
        let time = Time()
        let server: TestServer
        let account: String

        init() async throws {
            let time = self.time
            server = try await TestServer.start(folder, clock: { time.now })
            account = try server.storage.replica.insert("accounts", ["name": s("Qazaq Foods"), "phone": s("+7 701 000")])
        }

        /// A rep's laptop whose clock reads the test's time plus `shift` (minus when negative).
        func laptop(_ user: String, shift: Int64 = 0) async throws -> Replica {
            try await laptop(user, shift: Shift(shift))
        }

        /// A laptop whose clock can go wrong later (a flat battery, a wrong manual setting).
        func laptop(_ user: String, shift: Shift) async throws -> Replica {
            let enrolled = try await server.enroll(folder, user: user)
            let time = self.time
            return try Replica.open(at: enrolled.path, clock: { UInt64(Int64(time.now) + shift.millis.withLock { $0 }) })
        }

        func phone(_ replica: Replica) throws -> FieldValue? { try replica.get("accounts", id: account)?.values["phone"] }
    }

    @Test func aLaptopDaysAheadGoesUpAtOnceAndCannotWinMeanwhile() async throws {
        let office = try await Office()
        let shift = Shift(0)
        let ahead = try await office.laptop("aigerim", shift: shift)
        let bolat = try await office.laptop("bolat")
        for r in [ahead, bolat] { try await SyncEngine(replica: r).sync() }

        // After a sync with the right time, the laptop's clock jumps three days ahead; offline,
        // aigerim edits the phone again and again.
        shift.millis.withLock { $0 = Int64(3 * Self.day) }
        office.time.advance(60_000)
        try ahead.update("accounts", id: office.account, [.set("phone", s("+7 701 111"))])
        try ahead.update("accounts", id: office.account, [.set("phone", s("+7 701 112"))])
        let first = try await SyncEngine(replica: ahead).sync()
        #expect(first.pushed == 2 && first.deferred == 0, "re-stamped and taken, not held back for three days: \(first)")
        #expect(abs(ahead.clockOffset + Int64(3 * Self.day)) < 5_000, "the laptop learned how far ahead it is: \(ahead.clockOffset)")
        let stamped = try office.server.storage.replica.history("accounts", id: office.account).map(\.hlc.wallMillis).max() ?? 0
        #expect(stamped <= office.time.now + HybridLogicalClock().maxDriftMillis, "no write is stamped beyond the drift bound")

        // Ten minutes later (the drift bound is five), bolat's edit is newer and wins everywhere.
        office.time.advance(10 * 60_000)
        try await SyncEngine(replica: bolat).sync()
        try bolat.update("accounts", id: office.account, [.set("phone", s("+7 701 222"))])
        for r in [bolat, ahead] { try await SyncEngine(replica: r).sync() }
        for r in [office.server.storage.replica, ahead, bolat] { #expect(try office.phone(r) == s("+7 701 222")) }

        // Aigerim edits after seeing bolat's edit: hers comes after it, and goes up at once.
        office.time.advance(1_000)
        try ahead.update("accounts", id: office.account, [.set("phone", s("+7 701 333"))])
        let later = try await SyncEngine(replica: ahead).sync()
        #expect(later.pushed == 1 && later.deferred == 0)
        try await SyncEngine(replica: bolat).sync()
        for r in [office.server.storage.replica, ahead, bolat] { #expect(try office.phone(r) == s("+7 701 333")) }
        #expect(try ahead.rejections().isEmpty && bolat.rejections().isEmpty)

        // The admin sees whose clock is wrong, and by how much.
        let skew = try office.server.storage.store.devices().first { $0.user == "aigerim" }?.clockSkewMillis
        #expect(skew.map { abs($0 - Int64(3 * Self.day)) < 120_000 } == true, "\(String(describing: skew))")
        #expect(try office.server.storage.store.devices().first { $0.user == "bolat" }?.clockSkewMillis == nil)
        try await office.server.stop()
    }

    @Test func aLaptopDaysBehindTakesItsColleaguesWorkAndItsLaterEditWins() async throws {
        let office = try await Office()
        let behind = try await office.laptop("aigerim", shift: -Int64(2 * Self.day))
        let bolat = try await office.laptop("bolat")
        for r in [behind, bolat] { try await SyncEngine(replica: r).sync() }

        office.time.advance(60_000)
        try bolat.update("accounts", id: office.account, [.set("phone", s("+7 701 222"))])
        try await SyncEngine(replica: bolat).sync()
        // Two days behind, the laptop would take bolat's edit for one from its future and refuse it.
        try await SyncEngine(replica: behind).sync()
        #expect(try office.phone(behind) == s("+7 701 222"))
        let refused = try behind.rejections()
        #expect(refused.isEmpty, "\(refused.map(\.reason))")

        // Her edit, made after she saw his, wins although her clock says two days earlier.
        office.time.advance(1_000)
        try behind.update("accounts", id: office.account, [.set("phone", s("+7 701 444"))])
        for r in [behind, bolat] { try await SyncEngine(replica: r).sync() }
        for r in [office.server.storage.replica, behind, bolat] { #expect(try office.phone(r) == s("+7 701 444")) }
        let skew = try office.server.storage.store.devices().first { $0.user == "aigerim" }?.clockSkewMillis
        #expect(skew.map { abs($0 + Int64(2 * Self.day)) < 120_000 } == true, "\(String(describing: skew))")
        try await office.server.stop()
    }
}
