import Foundation
import OutpostBranch
import OutpostClient
import OutpostCore
import OutpostSchema
import OutpostServer
import OutpostStore
import OutpostTestSupport
import OutpostWire
import Testing

/// Head office, two branches behind links that can go down, reps under each branch and one
/// under head office, over real HTTP on loopback.
final class TestTree: @unchecked Sendable {
    let folder = TempFolder()
    let hq: TestServer
    let branches: [TestServer]
    /// The link between each branch and head office.
    let links: [FaultProxy]
    /// Each rep's replica and the index of its branch (nil: under head office).
    var reps: [(replica: Replica, branch: Int?)] = []

    init(seed: UInt64, branchNames: [String] = ["almaty", "tashkent"], repsPerBranch: Int = 2, headOfficeReps: Int = 1) async throws {
        hq = try await TestServer.start(folder)
        var branches: [TestServer] = []
        var links: [FaultProxy] = []
        for (i, name) in branchNames.enumerated() {
            try hq.storage.store.addUser(UserInfo(name: "\(name)-branch", role: "branch", scope: "all"))
            let code = try hq.storage.store.createEnrollmentCode(user: "\(name)-branch")
            let proxy = try await FaultProxy(upstreamPort: hq.port, faultPercent: 0, seed: seed &+ UInt64(i))
            links.append(proxy)
            branches.append(try await TestServer.start(folder, directory: name, upstream: ("http://127.0.0.1:\(proxy.port)", code)))
        }
        self.branches = branches
        self.links = links
        // Users are made at head office and reach the branches at their next round.
        for (i, name) in branchNames.enumerated() {
            for n in 0..<repsPerBranch { try hq.storage.store.addUser(UserInfo(name: "\(name)-rep\(n)", role: "rep", scope: "all")) }
            _ = i
        }
        for branch in branches { try await branch.link!.runRound() }
        for (i, name) in branchNames.enumerated() {
            for n in 0..<repsPerBranch { reps.append((try await branches[i].enroll(folder, user: "\(name)-rep\(n)"), i)) }
        }
        for n in 0..<headOfficeReps { reps.append((try await hq.enroll(folder, user: "hq-rep\(n)"), nil)) }
    }

    /// Every replica of the tree: head office, the branches, the reps.
    var everyReplica: [Replica] { [hq.storage.replica] + branches.map(\.storage.replica) + reps.map(\.replica) }

    /// One round in the given order: each rep syncs with its own server, each branch whose link
    /// is up runs a round with head office (one whose link is down must fail, and its reps must
    /// still sync). Returns how many changes moved (pushed or pulled).
    /// Changes that travelled to a replica that already held them, over the tree's life.
    var echoes = 0

    func round(order: [Int]) async throws -> Int {
        var moved = 0
        for k in order {
            if k < reps.count {
                let p = try await SyncEngine(replica: reps[k].replica).sync()
                moved += p.pushed + p.pulled
                echoes += p.pushedAlreadyHeld + p.pulledAlreadyHeld
            } else {
                let b = k - reps.count
                if links[b].isDown {
                    await #expect(throws: (any Error).self) { try await self.branches[b].link!.runRound() }
                } else {
                    let p = try await branches[b].link!.runRound()
                    moved += p.pushed + p.pulled
                    echoes += p.pushedAlreadyHeld + p.pulledAlreadyHeld
                }
            }
        }
        return moved
    }

    /// A full round: reps first, then branches, then reps again (so a write crosses one tier
    /// each way per round).
    func fullRound() async throws -> Int {
        let reps = Array(0..<self.reps.count)
        let branches = Array(self.reps.count..<(self.reps.count + self.branches.count))
        return try await round(order: reps + branches + reps)
    }

    func stop() async throws {
        for b in branches { try await b.stop() }
        for l in links { try await l.stop() }
        try await hq.stop()
    }
}

@Suite(.serialized)
struct BranchTreeTests {
    /// The backbone property of the tree: random offline edits everywhere, random sync order,
    /// one branch cut off from head office for many rounds while its reps go on syncing with
    /// it; once the link is back, a bounded number of rounds makes every replica identical,
    /// with no lost edit and no duplicate, and a further round moves nothing.
    @Test(arguments: Self.seeds)
    func treeConvergesAfterALinkIsDownForDays(seed: UInt64) async throws {
        var rng = SplitMix64(seed: seed)
        let tree = try await TestTree(seed: seed)
        var created: [String] = []
        var tagsAdded: [String: Set<String>] = [:]
        var phones: [String: [String]] = [:]
        var n = 0
        let participants = tree.reps.count + tree.branches.count
        let cut = Int.random(in: 0..<tree.branches.count, using: &rng)
        for round in 0..<14 {
            tree.links[cut].setDown((2..<10).contains(round))
            for _ in 0..<Int.random(in: 2...8, using: &rng) {
                let k = Int.random(in: 0..<tree.reps.count, using: &rng)
                let rep = tree.reps[k].replica
                n += 1
                let known = try rep.query("accounts").map(\.id)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where !known.isEmpty:
                    let id = known.randomElement(using: &rng)!
                    let tag = "t\(n)"
                    try rep.update("accounts", id: id, [.add("tags", tag)])
                    tagsAdded[id, default: []].insert(tag)
                case 1 where !known.isEmpty:
                    let id = known.randomElement(using: &rng)!
                    let phone = "+7 700 \(n)"
                    try rep.update("accounts", id: id, [.set("phone", s(phone))])
                    phones[id, default: []].append(phone)
                default:
                    created.append(try rep.insert("accounts", ["name": s("Клиент \(n) of \(rep.replicaID)"), "city": s(["Алматы", "Toshkent", "Hà Nội"][n % 3])]))
                }
            }
            var order = Array(0..<participants)
            order.shuffle(using: &rng)
            _ = try await tree.round(order: order)
        }
        tree.links[cut].setDown(false)
        for _ in 0..<3 { _ = try await tree.fullRound() }

        let reference = try snapshot(tree.hq.storage.replica)
        for replica in tree.everyReplica {
            #expect(try snapshot(replica) == reference, "seed \(seed): \(replica.replicaID) differs from head office")
        }
        let accounts = try tree.hq.storage.replica.query("accounts")
        #expect(accounts.count == created.count, "seed \(seed): every account created once, none twice")
        #expect(Set(accounts.map(\.id)) == Set(created))
        for (id, tags) in tagsAdded {
            guard case .set(let final)? = accounts.first(where: { $0.id == id })?.values["tags"] else {
                Issue.record("seed \(seed): \(id) lost its tags")
                continue
            }
            #expect(tags.isSubset(of: Set(final)), "seed \(seed): a tag added to \(id) was lost")
        }
        for (id, written) in phones {
            guard case .string(let final)? = accounts.first(where: { $0.id == id })?.values["phone"] else {
                Issue.record("seed \(seed): \(id) lost its phone")
                continue
            }
            #expect(written.contains(final))
            if written.count == 1 { #expect(final == written[0]) }
        }
        for (rep, _) in tree.reps {
            #expect(try tree.hq.storage.replica.seenCounter(of: rep.replicaID.rawValue) == rep.counter(), "every write of \(rep.replicaID) reached head office")
        }
        let moved = try await tree.fullRound()
        #expect(moved == 0, "seed \(seed): a round with no new writes moved \(moved) changes")
        #expect(tree.echoes == 0, "seed \(seed): \(tree.echoes) changes travelled to a replica that already held them")
        try await tree.stop()
    }

    static var seeds: [UInt64] {
        let extra = Int(ProcessInfo.processInfo.environment["OUTPOST_TREE_SEEDS"] ?? "") ?? 0
        return [11, 12, 13] + (0..<UInt64(extra)).map { 100 + $0 }
    }
}

@Suite(.serialized)
struct BranchRelayTests {
    @Test func aRepsWriteCrossesTheTree() async throws {
        let tree = try await TestTree(seed: 1, repsPerBranch: 1, headOfficeReps: 1)
        let almaty = tree.reps[0].replica, tashkent = tree.reps[1].replica, hqRep = tree.reps[2].replica
        let id = try almaty.insert("accounts", ["name": s("Тумэн ХХК"), "city": s("Алматы")])
        let up = try await SyncEngine(replica: almaty).sync()
        #expect(up.pushed == 1)
        let relay = try await tree.branches[0].link!.runRound()
        #expect(relay.pushed == 1 && relay.pulled == 0, "the branch relays the rep's write and gets nothing back: \(relay)")
        #expect(try tree.hq.storage.replica.get("accounts", id: id) != nil)
        let hqSide = try await SyncEngine(replica: hqRep).sync()
        #expect(hqSide.pulled == 1)
        _ = try await tree.branches[1].link!.runRound()
        let down = try await SyncEngine(replica: tashkent).sync()
        #expect(down.pulled == 1)
        // The same write everywhere: same dot, same writer.
        let dots = try tree.everyReplica.map { try $0.history("accounts", id: id).map(\.dot) }
        #expect(Set(dots.map { $0.map(\.description) }).count == 1)
        #expect(dots[0].first?.replica == almaty.replicaID)
        // Nothing goes back, nothing echoes.
        #expect(try await tree.fullRound() == 0)
        try await tree.stop()
    }

    /// A clash between a rep under a branch and one at head office reaches the admin with the
    /// branch each side came up through, and `--branch` narrows the listing to it.
    @Test func theAdminSeesWhichBranchEachSideCameThrough() async throws {
        let tree = try await TestTree(seed: 2, branchNames: ["almaty"], repsPerBranch: 1, headOfficeReps: 1)
        let almaty = tree.reps[0].replica, hqRep = tree.reps[1].replica
        let id = try almaty.insert("accounts", ["name": s("Тумэн ХХК")])
        _ = try await tree.fullRound()
        _ = try await tree.fullRound()
        let deal = try hqRep.insert("deals", ["account_id": .reference(id), "title": s("Fleet"), "stage": s("lead")])
        _ = try await tree.fullRound()
        _ = try await tree.fullRound()
        try almaty.update("deals", id: deal, [.set("stage", s("won"))])
        try hqRep.update("deals", id: deal, [.set("stage", s("lost"))])
        _ = try await tree.fullRound()
        let service = ConflictService(storage: tree.hq.storage)
        let listed = try await service.list(.init())
        let conflict = try #require(listed.first)
        #expect(listed.count == 1)
        #expect(conflict.sides.first { $0.user == "almaty-rep0" }?.branch == "almaty-branch")
        #expect(conflict.sides.first { $0.user == "hq-rep0" }?.branch == nil)
        await #expect(try service.list(.init(branch: "almaty-branch")).count == 1)
        await #expect(try service.list(.init(branch: "head-office")).count == 1)
        await #expect(try service.list(.init(branch: "tashkent-branch")).isEmpty)
        try await tree.stop()
    }
}

/// The door check of the tree: what a branch may relay, and what only a branch may ask.
@Suite(.serialized)
struct BranchDoorTests {
    /// A rep's device may neither name replicas it relays nor exchange directories.
    @Test func onlyABranchRelaysOrExchangesDirectories() async throws {
        let tree = try await TestTree(seed: 3, branchNames: ["almaty"], repsPerBranch: 0, headOfficeReps: 1)
        let rep = tree.reps[0].replica
        let transport = SyncTransport(baseURL: tree.hq.url, token: try rep.setting(ClientSettings.token))
        let hello = HelloRequest(replica: rep.replicaID.rawValue, counter: 0, schemaVersion: 1, position: .start, relaying: ["r-someone"])
        await #expect(throws: TransportError.self) { _ = try await transport.post("/v1/sync/hello", hello, as: HelloResponse.self) }
        let directory = DirectoryRequest(replica: rep.replicaID.rawValue, devices: [])
        do {
            _ = try await transport.post("/v1/sync/directory", directory, as: DirectoryResponse.self)
            Issue.record("a rep exchanged directories")
        } catch TransportError.server(let error, let status) {
            #expect(error.error.code == "forbidden" && status == 403)
        }
        try await tree.stop()
    }

    /// A branch relays the writes of replicas beneath it only: a write of a rep who never
    /// synced with it is refused as `foreign-origin`, and head office applies nothing of it.
    @Test func aBranchCannotRelayAWriteOfARepNotBeneathIt() async throws {
        let tree = try await TestTree(seed: 4, branchNames: ["almaty"], repsPerBranch: 0, headOfficeReps: 1)
        let hqRep = tree.reps[0].replica
        let id = try hqRep.insert("accounts", ["name": s("Never synced at the branch")])
        let forged = try hqRep.localChanges(after: 0, limit: 10)
        let branch = tree.branches[0].storage.replica
        let transport = SyncTransport(baseURL: tree.hq.url, token: try branch.setting(ClientSettings.token))
        let answer = try await transport.post("/v1/sync/push", PushRequest(replica: branch.replicaID.rawValue, changes: forged.map(\.json)),
                                              as: PushResponse.self).0
        #expect(answer.results.map(\.code) == ["foreign-origin"])
        #expect(try tree.hq.storage.replica.get("accounts", id: id) == nil)
        // The rep's own push of the same write is applied: the refusal was kept under the branch.
        #expect(try await SyncEngine(replica: hqRep).sync().pushed == 1)
        #expect(try tree.hq.storage.replica.get("accounts", id: id) != nil)
        try await tree.stop()
    }

    /// A branch is believed only about its own subtree: it cannot revoke or take over a device
    /// enrolled elsewhere, relay for it, or make a device for an admin.
    @Test func aHostileBranchCannotRewriteTheDirectory() async throws {
        let tree = try await TestTree(seed: 6, branchNames: ["almaty"], repsPerBranch: 0, headOfficeReps: 1)
        try await tree.branches[0].link!.runRound()
        let branch = tree.branches[0].storage.replica
        let hqRep = tree.reps[0].replica
        try tree.hq.storage.store.addUser(UserInfo(name: "root", role: "admin", scope: "all"))
        let known = try tree.hq.storage.store.directoryDevices(notFrom: nil)
        let victim = try #require(known.first { $0.replica == hqRep.replicaID.rawValue })
        var revoked = victim
        revoked.revoked = true
        var stolen = victim
        stolen.replicas.append(DirectoryReplica(id: "r-stolen-by-branch"))
        let admin = DirectoryDevice(id: "dev-evil", user: "root", name: "evil", replica: "r-evil", tokenHash: String(repeating: "ab", count: 32),
                                    enrolledAt: "2026-11-24T00:00:00Z", revoked: false, replicas: [DirectoryReplica(id: "r-evil")])
        let transport = SyncTransport(baseURL: tree.hq.url, token: try branch.setting(ClientSettings.token))
        _ = try await transport.post("/v1/sync/directory", DirectoryRequest(replica: branch.replicaID.rawValue, devices: [revoked, stolen, admin]),
                                     as: DirectoryResponse.self)
        let after = try tree.hq.storage.store.devices()
        #expect(after.first { $0.id == victim.id }?.revoked == false, "a branch revoked a device it did not enroll")
        #expect(!after.contains { $0.id == "dev-evil" }, "a branch made a device for an admin")
        let branchDevice = try #require(after.first { $0.replica == branch.replicaID.rawValue })
        #expect(try !tree.hq.storage.store.relayable(device: branchDevice.id).contains(hqRep.replicaID.rawValue))
        #expect(try !tree.hq.storage.store.ownsReplica(device: victim.id, replica: "r-stolen-by-branch"), "a branch added a replica id to a device it did not enroll")
        #expect(try await SyncEngine(replica: hqRep).sync().pushed == 0, "the rep still syncs with its token")
        try await tree.stop()
    }

    /// A write the branch refused is relayed in its place, so head office does not wait for it
    /// forever and the replica's later writes go up.
    @Test func aWriteTheBranchRefusedDoesNotHoldBackTheRest() async throws {
        let tree = try await TestTree(seed: 5, branchNames: ["almaty"], repsPerBranch: 1, headOfficeReps: 0)
        let rep = tree.reps[0].replica
        // A hostile or broken laptop: its first write gives a name of the wrong type.
        _ = try rep.insert("accounts", ["name": s("Retyped on the wire")])
        let real = try rep.localChanges(after: 0, limit: 1)[0]
        var fields = real.fields
        fields["name"] = try FieldState(entries: [FieldEntry(dot: real.dot, hlc: real.hlc, author: real.author, value: .integer(42))],
                                        context: real.fields["name"]!.context)
        let badChange = try Change(collection: real.collection, recordID: real.recordID, dot: real.dot, hlc: real.hlc, author: real.author,
                                   fields: fields, presence: real.presence)
        let transport = SyncTransport(baseURL: tree.branches[0].url, token: try rep.setting(ClientSettings.token))
        _ = try await transport.post("/v1/sync/hello", HelloRequest(replica: rep.replicaID.rawValue, counter: 1, schemaVersion: 1, position: .start,
                                                                    syncToken: try rep.setting(ClientSettings.syncToken)), as: HelloResponse.self)
        let refused = try await transport.post("/v1/sync/push", PushRequest(replica: rep.replicaID.rawValue, changes: [badChange.json]), as: PushResponse.self).0
        #expect(refused.results.map(\.status) == [.rejected])
        _ = try await tree.branches[0].link!.runRound()
        #expect(try tree.hq.storage.store.acknowledged(of: rep.replicaID.rawValue) == 1, "head office holds the refusal too")
        try await tree.stop()
    }
}

/// Attacks found from outside, kept as regressions.
@Suite(.serialized)
struct BranchAttackTests {
    /// A hostile rep claims, at head office, the id of a rep enrolled at a branch whose link is
    /// down (head office has not heard of it yet): refused, and the victim's write arrives.
    @Test func aDeviceCannotClaimAnIdHeadOfficeHasNotHeardOf() async throws {
        let tree = try await TestTree(seed: 21, branchNames: ["almaty"], repsPerBranch: 0, headOfficeReps: 1)
        let hostile = tree.reps[0].replica
        let branch = tree.branches[0], link = branch.link!
        try tree.hq.storage.store.addUser(UserInfo(name: "victim", role: "rep", scope: "all"))
        try await link.runRound()
        tree.links[0].setDown(true)
        let victim = try await branch.enroll(tree.folder, user: "victim")
        let real = try victim.insert("accounts", ["name": s("Victim's real account")])
        try await SyncEngine(replica: victim).sync()
        let transport = SyncTransport(baseURL: tree.hq.url, token: try hostile.setting(ClientSettings.token))
        do {
            _ = try await transport.post("/v1/sync/hello", HelloRequest(replica: victim.replicaID.rawValue, counter: 1, schemaVersion: 1, position: .start,
                                                                        nextSyncToken: "1.0123456789abcdef", idProof: "1.0123456789abcdef"), as: HelloResponse.self)
            Issue.record("a device took over another's replica id")
        } catch TransportError.server(let error, _) {
            #expect(error.error.code == "wrong-replica")
        }
        tree.links[0].setDown(false)
        try await link.runRound()
        #expect(try tree.hq.storage.replica.get("accounts", id: real) != nil)
        #expect(try await SyncEngine(replica: victim, serverURL: tree.hq.url).sync().pushed == 0, "the victim fails over with its own id")
        try await tree.stop()
    }

    /// A branch restored from a backup of its data folder heals (takes a new id) and relays its
    /// reps' writes again.
    @Test func aBranchRestoredFromABackupRelaysAgain() async throws {
        let tree = try await TestTree(seed: 23, branchNames: ["almaty"], repsPerBranch: 1, headOfficeReps: 0)
        let rep = tree.reps[0].replica
        try await SyncEngine(replica: rep).sync()
        try await tree.branches[0].link!.runRound()
        try await tree.branches[0].stop()
        try FileManager.default.copyItem(atPath: tree.folder.path("almaty"), toPath: tree.folder.path("almaty-backup"))
        var branch = try await TestServer.start(tree.folder, directory: "almaty", upstream: nil)
        _ = try rep.insert("accounts", ["name": s("Before the restore")])
        try rep.setSettings([ClientSettings.serverURL: branch.url])
        try await SyncEngine(replica: rep).sync()
        try await branch.link!.runRound()
        try await branch.stop()
        try FileManager.default.removeItem(atPath: tree.folder.path("almaty"))
        try FileManager.default.moveItem(atPath: tree.folder.path("almaty-backup"), toPath: tree.folder.path("almaty"))
        branch = try await TestServer.start(tree.folder, directory: "almaty", upstream: nil)
        try rep.setSettings([ClientSettings.serverURL: branch.url])
        try await branch.link!.runRound()
        let after = try rep.insert("accounts", ["name": s("After the restore")])
        try await SyncEngine(replica: rep).sync()
        try await branch.link!.runRound()
        #expect(try tree.hq.storage.replica.get("accounts", id: after) != nil, "the restored branch no longer relays")
        #expect(branch.link!.status.pendingUp == 0)
        try await branch.stop()
        try await tree.hq.stop()
        for l in tree.links { try await l.stop() }
    }

    /// A rep enrolled at head office syncs at a branch; a branch rep builds on its write. Both
    /// reach head office without the visitor coming back to head office.
    @Test func aVisitingRepDoesNotHoldBackTheBranchsReps() async throws {
        let tree = try await TestTree(seed: 22, branchNames: ["almaty"], repsPerBranch: 1, headOfficeReps: 1)
        let b = tree.reps[0].replica, h = tree.reps[1].replica
        let branch = tree.branches[0], link = branch.link!
        try await link.runRound()
        let account = try h.insert("accounts", ["name": s("Written by a head-office rep at the branch")])
        try await SyncEngine(replica: h, serverURL: branch.url).sync()
        try await SyncEngine(replica: b).sync()
        try b.update("accounts", id: account, [.set("phone", s("+7 777"))])
        let other = try b.insert("accounts", ["name": s("Unrelated branch write")])
        try await SyncEngine(replica: b).sync()
        for _ in 0..<2 { try await link.runRound() }
        #expect(try tree.hq.storage.replica.get("accounts", id: other) != nil)
        #expect(try tree.hq.storage.replica.get("accounts", id: account)?.values["phone"] == s("+7 777"))
        #expect(try tree.hq.storage.store.acknowledged(of: b.replicaID.rawValue) == b.counter())
        #expect(link.status.pendingUp == 0)
        try await tree.stop()
    }
}
