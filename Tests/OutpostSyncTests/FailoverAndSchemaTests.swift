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

/// The CRM schema with a custom field added to accounts, one version up.
func schemaWithLoyaltyCard(from base: Schema = .crm) throws -> String {
    var object = try JSONSerialization.jsonObject(with: Data(base.fileJSON.utf8)) as! [String: Any]
    var collections = object["collections"] as! [[String: Any]]
    let i = collections.firstIndex { $0["name"] as? String == "accounts" }!
    var fields = collections[i]["fields"] as! [[String: Any]]
    fields.append(["name": "loyalty_card", "type": "string"])
    collections[i]["fields"] = fields
    object["collections"] = collections
    object["version"] = base.version + 1
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

@Suite(.serialized)
struct FailoverTests {
    /// A rep enrolled at the branch syncs with head office using the same token, and back;
    /// after each switch it pulls only what is new, and nothing it wrote is stored twice.
    @Test func aRepSwitchesBetweenBranchAndHeadOfficeWithTheSameToken() async throws {
        let tree = try await TestTree(seed: 7, branchNames: ["almaty"], repsPerBranch: 1, headOfficeReps: 1)
        let rep = tree.reps[0].replica, hqRep = tree.reps[1].replica
        let branch = tree.branches[0], link = branch.link!
        for n in 0..<5 { _ = try hqRep.insert("accounts", ["name": s("Head office \(n)")]) }
        try await SyncEngine(replica: hqRep).sync()
        try await link.runRound()
        #expect(try await SyncEngine(replica: rep).sync().pulled == 5)
        for n in 0..<2 { _ = try rep.insert("accounts", ["name": s("Almaty \(n)")]) }
        #expect(try await SyncEngine(replica: rep).sync().pushed == 2)
        // The branch tells head office about the device enrolled there and relays its writes.
        try await link.runRound()
        for n in 0..<3 { _ = try hqRep.insert("accounts", ["name": s("Head office later \(n)")]) }
        try await SyncEngine(replica: hqRep).sync()

        // Failover to head office with the token the branch issued.
        let atHeadOffice = try await SyncEngine(replica: rep, serverURL: tree.hq.url).sync()
        #expect(atHeadOffice.pulled == 3, "only the three writes made at head office since")
        #expect(atHeadOffice.pushed == 0, "head office already holds what the branch relayed")
        // A write made during the trip goes straight to head office.
        let direct = try rep.insert("accounts", ["name": s("Written while at head office")])
        #expect(try await SyncEngine(replica: rep, serverURL: tree.hq.url).sync().pushed == 1)
        for n in 0..<2 { _ = try hqRep.insert("accounts", ["name": s("Head office last \(n)")]) }
        try await SyncEngine(replica: hqRep).sync()

        // And back to the branch, which has meanwhile synced with head office.
        try await link.runRound()
        let back = try await SyncEngine(replica: rep, serverURL: branch.url).sync()
        #expect(back.pulled == 2, "only the two writes made at head office since")
        #expect(back.pushed == 0, "the branch got the direct write from head office")
        #expect(try branch.storage.replica.history("accounts", id: direct).count == 1)

        #expect(try await tree.fullRound() == 0)
        let reference = try snapshot(tree.hq.storage.replica)
        for replica in tree.everyReplica { #expect(try snapshot(replica) == reference) }
        #expect(try tree.hq.storage.replica.query("accounts").count == 13)
        try await tree.stop()
    }

    /// Users made at head office reach the branch, whose own admin enrolls devices for them;
    /// the branch refuses to make users itself.
    @Test func identitiesTravelTheTree() async throws {
        let tree = try await TestTree(seed: 8, branchNames: ["almaty"], repsPerBranch: 0, headOfficeReps: 1)
        let branch = tree.branches[0]
        #expect(throws: WireError.self) { try branch.storage.store.createEnrollmentCode(user: "timur") }
        try tree.hq.storage.store.addUser(UserInfo(name: "timur", role: "rep", scope: "all"))
        try await branch.link!.runRound()
        let timur = try await branch.enroll(tree.folder, user: "timur")
        try await branch.link!.runRound()
        // Head office knows the device enrolled at the branch (its token hash and replica)…
        let atHQ = try tree.hq.storage.store.devices().first { $0.replica == timur.replicaID.rawValue }
        #expect(atHQ?.user == "timur")
        // …and the branch knows the device enrolled at head office.
        let hqDevice = try tree.hq.storage.store.devices().first { $0.replica == tree.reps[0].replica.replicaID.rawValue }!
        #expect(try branch.storage.store.devices().contains { $0.id == hqDevice.id })
        #expect(try await SyncEngine(replica: tree.reps[0].replica, serverURL: branch.url).sync().pushed == 0)

        let admin = try branch.storage.store.createAdminToken()
        let transport = SyncTransport(baseURL: branch.url, token: admin)
        await #expect(throws: TransportError.self) {
            _ = try await transport.post("/v1/admin/users", AdminUserRequest(name: "eve", role: "rep", scope: "all"), as: UserInfo.self)
        }
        try await tree.stop()
    }
}

@Suite(.serialized)
struct RevocationTests {
    /// A device revoked at head office is cut off there at once and at the branch after its next
    /// round; a user edited at head office reaches the branch.
    @Test func aRevocationAndAnEditTravelDownTheTree() async throws {
        let tree = try await TestTree(seed: 31, branchNames: ["almaty"], repsPerBranch: 1, headOfficeReps: 1)
        let branchRep = tree.reps[0].replica, hqRep = tree.reps[1].replica
        try await tree.branches[0].link!.runRound()
        try await SyncEngine(replica: hqRep, serverURL: tree.branches[0].url).sync()
        let device = try #require(try tree.hq.storage.store.devices().first { $0.replica == hqRep.replicaID.rawValue })
        _ = try tree.hq.storage.store.revoke(device: device.id)
        _ = try tree.hq.storage.store.editUser(AdminUserEditRequest(name: "almaty-rep0", scope: "branch=almaty", channel: "branch"))
        await #expect(throws: TransportError.self) { try await SyncEngine(replica: hqRep).sync() }
        try await tree.branches[0].link!.runRound()
        await #expect(throws: TransportError.self) { try await SyncEngine(replica: hqRep, serverURL: tree.branches[0].url).sync() }
        let atBranch = try tree.branches[0].storage.store.users().first { $0.name == "almaty-rep0" }
        #expect(atBranch?.scope == "branch=almaty" && atBranch?.channel == "branch")
        #expect(try await SyncEngine(replica: branchRep).sync().pushed == 0, "other devices go on")
        try await tree.stop()
    }
}

@Suite(.serialized)
struct SchemaFlowTests {
    /// A custom field added at head office reaches a branch's rep at its next sync, is usable
    /// there, and its values travel back up to head office.
    @Test func aCustomFieldFlowsDownAndItsValuesFlowUp() async throws {
        let tree = try await TestTree(seed: 9, branchNames: ["almaty"], repsPerBranch: 1, headOfficeReps: 0)
        let rep = tree.reps[0].replica
        let admin = try tree.hq.storage.store.createAdminToken()
        let text = try schemaWithLoyaltyCard()
        let answer = try await SyncTransport(baseURL: tree.hq.url, token: admin)
            .post("/v1/admin/schema", SchemaMessage(version: Schema.crm.version + 1, schema: text), as: SchemaMessage.self).0
        #expect(answer.version == Schema.crm.version + 1)
        // The same version again is refused.
        await #expect(throws: TransportError.self) {
            _ = try await SyncTransport(baseURL: tree.hq.url, token: admin)
                .post("/v1/admin/schema", SchemaMessage(version: Schema.crm.version + 1, schema: text), as: SchemaMessage.self)
        }
        try await tree.branches[0].link!.runRound()
        #expect(tree.branches[0].storage.schema.version == Schema.crm.version + 1)
        try await SyncEngine(replica: rep).sync()
        let upgraded = try Replica.open(at: rep.path)
        #expect(upgraded.schema.version == Schema.crm.version + 1)
        let id = try upgraded.insert("accounts", ["name": s("Qazaq Foods"), "loyalty_card": s("LC-0042")])
        try await SyncEngine(replica: upgraded).sync()
        try await tree.branches[0].link!.runRound()
        #expect(try tree.hq.storage.replica.get("accounts", id: id)?.values["loyalty_card"] == s("LC-0042"))
        try await tree.stop()
    }

    /// A replica still on the old schema keeps a value of a field it does not know, relays the
    /// write byte for byte, and shows the value once it takes the newer schema.
    @Test func aReplicaOnTheOldSchemaKeepsAndRelaysTheUnknownField() throws {
        let folder = TempFolder()
        let newSchema = try Schema(json: Data(try schemaWithLoyaltyCard().utf8))
        let writer = try Replica.create(at: folder.path("writer.sqlite"), schema: newSchema, options: ReplicaOptions(user: "aigerim", device: "laptop"))
        let id = try writer.insert("accounts", ["name": s("Qazaq Foods"), "loyalty_card": s("LC-0042")])
        let written = try writer.localChanges(after: 0, limit: 10)

        let branch = try Replica.create(at: folder.path("branch.sqlite"), options: ReplicaOptions(user: "almaty-branch", device: "server", role: .branch))
        let report = try branch.apply(written, from: writer.replicaID.rawValue)
        #expect(report.applied == 1 && report.rejected.isEmpty)
        let relayed = try branch.relayPage(after: 0, relaying: [writer.replicaID.rawValue], acknowledged: [:], blocked: [], limit: 10)
        #expect(relayed.changes == written, "relayed as written, the unknown field included")
        #expect(try branch.state("accounts", id: id).fields["loyalty_card"] != nil)

        let reopened = try Replica.open(at: branch.path, schema: newSchema)
        #expect(try reopened.get("accounts", id: id)?.values["loyalty_card"] == s("LC-0042"))
    }
}
