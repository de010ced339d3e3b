import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import OutpostTestSupport

/// A fault-injecting TCP proxy on loopback, on SwiftNIO: each new connection draws whether it
/// fails and how (``Fault``), at which byte and in which direction, so sync meets real resets,
/// stalls, clean closes in the middle of a body and slow links at random points of push, pull
/// and a branch's relay. Keep-alive connections count their bytes across requests.
final class FaultProxy: Sendable {
    /// What goes wrong with a connection.
    enum Fault: String, CaseIterable, Sendable {
        /// Both sides are reset at the byte (TCP RST).
        case cut
        /// Bytes stop flowing one way at the byte; the connection stays open until an end gives up.
        case stall
        /// The answer ends cleanly (FIN) at the byte, in the middle of a body or a header.
        case truncate
        /// Bytes one way pass in 4 KiB pieces about 1 MB/s.
        case slow
    }

    /// One connection's draw. Connections are kept alive and reused, so a connection that draws
    /// a fault ends with it (at `atByte`) and the client's next connection draws again.
    struct Plan: Sendable {
        /// A cut, stall or truncation at `atByte`.
        var fault: Fault?
        var atByte = 0
        /// Whether the fault is on the bytes going back to the client (answers) or up (requests).
        var towardsClient = true
        /// Whether the link is slow (both ways) until then.
        var slow = false
    }

    private struct State {
        var rng: SplitMix64
        var percent: Int
        var faults: [Fault]
        var happened: [Fault: Int] = [:]
        var down = false

        mutating func draw() -> Plan {
            guard Int(rng.next() % 100) < percent else { return Plan() }
            let endings = faults.filter { $0 != .slow }
            var plan = Plan(slow: faults.contains(.slow) && rng.next() % 4 == 0)
            if !endings.isEmpty {
                plan.fault = endings[Int(rng.next() % UInt64(endings.count))]
                plan.atByte = Int(rng.next() % 40_000)
                plan.towardsClient = plan.fault == .truncate || rng.next() % 2 == 0
            }
            return plan
        }
    }

    let port: Int
    private let listener: any Channel
    private let state: NIOLockedValueBox<State>

    /// Listens on a free loopback port and forwards to `upstreamPort`; `faultPercent` of new
    /// connections draw a fault (at a byte below 40,000).
    init(upstreamPort: Int, faultPercent: Int, faults: [Fault] = Fault.allCases, seed: UInt64) async throws {
        let state = NIOLockedValueBox(State(rng: SplitMix64(seed: seed), percent: faultPercent, faults: faults))
        self.state = state
        let record: @Sendable (Fault) -> Void = { fault in state.withLockedValue { $0.happened[fault, default: 0] += 1 } }
        let calm: @Sendable () -> Bool = { state.withLockedValue { $0.percent == 0 } }
        let isDown: @Sendable () -> Bool = { state.withLockedValue { $0.down } }
        listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { client in
                // A link that is down takes no connection.
                if isDown() { return client.close() }
                let plan = state.withLockedValue { $0.draw() }
                return ClientBootstrap(group: client.eventLoop).connect(host: "127.0.0.1", port: upstreamPort).flatMapThrowing { server in
                    // Both channels live on the client's event loop, so the handlers may touch each other's channel directly.
                    try server.pipeline.syncOperations.addHandler(Glue(partner: client, plan: plan, towardsClient: true, record: record, calm: calm, isDown: isDown))
                    try client.pipeline.syncOperations.addHandler(Glue(partner: server, plan: plan, towardsClient: false, record: record, calm: calm, isDown: isDown))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = listener.localAddress!.port!
    }

    /// Changes how many new connections draw a fault; 0 also calms the connections already open
    /// (their faults no longer happen), so a final sync goes through.
    func setFaultPercent(_ percent: Int) { state.withLockedValue { $0.percent = percent } }

    /// Takes the link down (new connections are refused, open ones closed at their next byte)
    /// or brings it back.
    func setDown(_ isDown: Bool) { state.withLockedValue { $0.down = isDown } }
    var isDown: Bool { state.withLockedValue { $0.down } }

    /// Faults that took effect so far, by kind.
    var happened: [Fault: Int] { state.withLockedValue { $0.happened } }

    var faultCount: Int { happened.values.reduce(0, +) }

    func stop() async throws { try await listener.close() }

    /// Carries one direction's bytes to the partner channel and plays the plan's fault on them.
    private final class Glue: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        let partner: any Channel
        let plan: Plan
        /// True on the server's channel: what it reads goes back to the client.
        let towardsClient: Bool
        let record: @Sendable (Fault) -> Void
        let calm: @Sendable () -> Bool
        let isDown: @Sendable () -> Bool
        var passed = 0
        var stalled = false
        var paced = NIODeadline.now()
        var slowed = false

        init(partner: any Channel, plan: Plan, towardsClient: Bool, record: @escaping @Sendable (Fault) -> Void,
             calm: @escaping @Sendable () -> Bool, isDown: @escaping @Sendable () -> Bool) {
            self.calm = calm
            self.isDown = isDown
            self.partner = partner
            self.plan = plan
            self.towardsClient = towardsClient
            self.record = record
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            if isDown() {
                partner.close(promise: nil)
                context.close(promise: nil)
                return
            }
            if stalled { return }
            if calm() {
                // Through the same pacing: bytes must not overtake pieces still queued.
                passed += bytes.readableBytes
                forward(bytes, context)
                return
            }
            guard let fault = plan.fault, plan.towardsClient == towardsClient else {
                passed += bytes.readableBytes
                forward(bytes, context)
                return
            }
            let room = plan.atByte - passed
            guard bytes.readableBytes > room else {
                passed += bytes.readableBytes
                forward(bytes, context)
                return
            }
            let head = bytes.readSlice(length: max(0, room))!
            passed = plan.atByte
            record(fault)
            forward(head, context)
            switch fault {
            case .cut:
                // SO_LINGER 0: close sends a reset, as a dropped link or a killed peer does.
                for channel in [context.channel, partner] {
                    guard let socket = channel as? any SocketOptionProvider else { channel.close(promise: nil); continue }
                    socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                }
            case .truncate:
                let (partner, channel) = (self.partner, context.channel)
                context.eventLoop.scheduleTask(deadline: max(paced, .now())) {
                    partner.close(promise: nil)
                    channel.close(promise: nil)
                }
            case .stall:
                stalled = true
            case .slow:
                break
            }
        }

        /// Sends bytes on, paced on a slow link.
        private func forward(_ bytes: ByteBuffer, _ context: ChannelHandlerContext) {
            guard plan.slow else { return partner.writeAndFlush(bytes, promise: nil) }
            var bytes = bytes
            if !slowed, bytes.readableBytes > 0 {
                slowed = true
                record(.slow)
            }
            while let piece = bytes.readSlice(length: min(4_096, bytes.readableBytes)), piece.readableBytes > 0 {
                paced = max(paced, .now()) + .milliseconds(4)
                let partner = self.partner
                context.eventLoop.scheduleTask(deadline: paced) { partner.writeAndFlush(piece, promise: nil) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            // On a slow link, bytes still queued go first.
            let partner = self.partner
            context.eventLoop.scheduleTask(deadline: max(paced, .now())) { partner.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
