import Logging
import OutpostCore
import OutpostStore
import OutpostWire

extension SyncEngine {
    /// A branch below its parent's purge (`protocol/sync.md`, "Retention"): it cannot start
    /// from a copy, since it relays its own feed, so before it walks the parent's feed it takes
    /// every purged record's base (a join into what it holds) and every purged write's dot and
    /// digest. Pages are taken one transaction each; a take counts only if no purge ran from its
    /// first page to its last (the same even generation on every page): else it is taken again
    /// (a join: repetition changes nothing). Returns the generation its pulls name.
    func takePurged(_ replica: Replica) async throws -> Int64 {
        for _ in 0..<3 {
            var request = PurgedRequest(replica: replica.replicaID.rawValue)
            var (records, writes) = (0, 0)
            var generation: Int64?
            var steady = true
            while true {
                let page = try await call("/v1/sync/purged", request, PurgedResponse.self).0
                if generation == nil { generation = page.generation }
                if page.generation != generation || page.generation % 2 != 0 { steady = false }
                let states: [PurgedBase]
                let dots: [(dot: Dot, digest: String)]
                do {
                    states = try page.states.map(PurgedBase.init)
                    dots = try page.writes.map { (try Dot(parsing: $0.dot), $0.digest) }
                } catch {
                    throw TransportError.server(WireError(.malformedPage, message: "The server sent a purged record or write this server cannot read: \(error)."), status: 0)
                }
                if !states.isEmpty { records += try replica.takePurgedStates(states, raisingMark: true) }
                if !dots.isEmpty { try replica.takePurgedWrites(dots) }
                writes += dots.count
                guard let next = page.next, next != request.after else { break }
                request.after = next
            }
            logger.notice("took what the parent purged", metadata: ["outpost.records": .stringConvertible(records), "outpost.writes": .stringConvertible(writes)])
            if steady, let generation { return generation }
        }
        throw TransportError.server(WireError(.serverBusy, message: "The parent was purging while this branch took what it purged; the branch takes it again at its next round."), status: 503)
    }
}

extension PurgedBase {
    /// Reads a purged record as the wire carries it.
    init(_ wire: PurgedState) throws {
        self.init(collection: wire.collection, id: wire.id, state: try RecordState(json: wire.state), creator: wire.creator)
    }
}
