import Foundation
import OutpostCore
import OutpostStore
import Testing

/// A parent's record of a child's pushes (`applyPush`), in a store without a server.
struct ReplicaPushTests {
    /// A store written before acknowledgements were kept acknowledges a child up to the first
    /// gap in its applied writes, so writes the old code skipped are sent again, not lost.
    @Test func aStoreWithoutAcknowledgementsCountsUpToTheFirstGap() throws {
        let folder = TempFolder()
        let child = try makeReplica(folder, "b")
        let parent = try makeReplica(folder, "hq", role: .headOffice)
        for n in 1...4 { _ = try child.insert("tasks", ["title": .string("B\(n)")]) }
        let changes = try child.localChanges(after: 0, limit: 10)
        try parent.apply([changes[0], changes[3]], from: "b")
        #expect(try parent.acknowledged(of: try ReplicaID("b")) == 1)
        let report = try parent.applyPush(Array(changes[1...]), sender: try ReplicaID("b"), declared: 4) { _, _ in nil }
        #expect(report.outcomes == [.applied, .applied, .duplicate])
        #expect(report.acknowledged == 4)
        #expect(try parent.count("tasks") == 4)
    }

    /// The acknowledgement moves over contiguous counters only: a change after a gap is
    /// deferred, and so is one beyond the declared counter.
    @Test func theAcknowledgementNeverJumpsAGap() throws {
        let folder = TempFolder()
        let child = try makeReplica(folder, "b")
        let parent = try makeReplica(folder, "hq", role: .headOffice)
        for n in 1...4 { _ = try child.insert("tasks", ["title": .string("B\(n)")]) }
        let changes = try child.localChanges(after: 0, limit: 10)
        let report = try parent.applyPush([changes[0], changes[2], changes[3]], sender: try ReplicaID("b"), declared: 3) { _, _ in nil }
        #expect(report.acknowledged == 1)
        #expect(report.outcomes.count == 3)
        guard case .deferred(let gap, _) = report.outcomes[1], case .deferred(let beyond, _) = report.outcomes[2] else {
            Issue.record("not deferred: \(report.outcomes)"); return
        }
        #expect(gap == "out-of-order" && beyond == "beyond-declared-counter")
    }
}
