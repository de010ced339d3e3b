import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on loopback that accepts connections, reads what arrives and never answers:
/// the "server that never answers" a client must give up on. Its threads end when it stops.
public final class SilentServer: @unchecked Sendable {
    /// The port it listens on (127.0.0.1).
    public let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var connections: [Int32] = []

    /// Starts listening on a free port.
    public init() throws {
        signal(SIGPIPE, SIG_IGN)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
              listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listener = fd
        port = Int(UInt16(bigEndian: bound.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                lock.withLock { connections.append(client) }
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while read(client, &buffer, buffer.count) > 0 {}
                }
            }
        }
    }

    /// The URL a client would use.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Closes the listener and every connection it held open.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        lock.withLock {
            for c in connections { shutdown(c, Int32(SHUT_RDWR)); close(c) }
            connections = []
        }
    }
}
