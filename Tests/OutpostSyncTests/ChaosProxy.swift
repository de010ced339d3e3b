import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on loopback that cuts connections at random points, in either direction, so
/// sync meets real cut-off requests and responses. Each connection is cut with probability
/// `cutPercent` after a random number of bytes.
final class ChaosProxy: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let upstreamPort: Int
    private let lock = NSLock()
    private var rng: UInt64
    private var cutPercent: Int
    private(set) var cuts = 0
    private var stopped = false
    private var down = false

    init(upstreamPort: Int, cutPercent: Int, seed: UInt64) throws {
        self.upstreamPort = upstreamPort
        self.cutPercent = cutPercent
        self.rng = seed | 1
        // A write to a cut socket must fail with EPIPE, not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
              listen(fd, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listener = fd
        port = Int(UInt16(bigEndian: bound.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Stops cutting (so a final sync can finish) or starts again.
    func setCutPercent(_ p: Int) { lock.withLock { cutPercent = p } }

    /// Takes the link down (every connection, new or kept alive, is closed at its next byte)
    /// or brings it back.
    func setDown(_ isDown: Bool) { lock.withLock { down = isDown } }
    var isDown: Bool { lock.withLock { down } }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private func next() -> UInt64 {
        lock.withLock {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
            return rng
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            if isDown {
                close(client)
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: UInt16(upstreamPort))
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if ok != 0 { close(client); close(upstream); continue }
            // Connections are kept alive and reused, so every connection gets a byte budget when
            // cutting is on; the client reconnects after a cut and the new connection draws anew.
            let cut = Int(next() % 100) < lock.withLock({ cutPercent })
            let budget = cut ? Int(next() % 150_000) : Int.max
            let link = Link(a: client, b: upstream, budget: budget, isDown: { [self] in isDown }) { [self] in lock.withLock { cuts += 1 } }
            Thread.detachNewThread { link.pump(from: client, to: upstream) }
            Thread.detachNewThread { link.pump(from: upstream, to: client) }
        }
    }

    /// One proxied connection; both directions share the byte budget after which it is cut.
    private final class Link: @unchecked Sendable {
        let a: Int32, b: Int32
        let lock = NSLock()
        var budget: Int
        var closed = false
        let onCut: () -> Void
        let isDown: () -> Bool

        init(a: Int32, b: Int32, budget: Int, isDown: @escaping () -> Bool, onCut: @escaping () -> Void) {
            self.isDown = isDown
            self.a = a
            self.b = b
            self.budget = budget
            self.onCut = onCut
        }

        func pump(from: Int32, to: Int32) {
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while true {
                let n = read(from, &buffer, buffer.count)
                if n <= 0 || isDown() { break }
                let allowed: Int = lock.withLock {
                    let k = min(n, max(0, budget))
                    budget -= k
                    return k
                }
                var sent = 0
                while sent < allowed {
                    let w = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, allowed - sent) }
                    if w <= 0 { break }
                    sent += w
                }
                if allowed < n {
                    onCut()
                    break
                }
            }
            lock.withLock {
                if !closed {
                    closed = true
                    shutdown(a, Int32(SHUT_RDWR)); shutdown(b, Int32(SHUT_RDWR))
                    close(a); close(b)
                }
            }
        }
    }
}
