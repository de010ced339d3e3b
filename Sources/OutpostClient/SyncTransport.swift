import AsyncHTTPClient
import CompressNIO
import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOHTTP1
import OutpostCore
import OutpostWire
import Synchronization

/// How long the client waits for a server before it gives up.
public struct SyncTimeouts: Hashable, Sendable {
    /// Setting up a TCP connection.
    public var connect: Duration
    /// One whole request, from sending it to the last byte of the answer.
    public var request: Duration

    /// Creates timeouts.
    public init(connect: Duration, request: Duration) {
        self.connect = connect
        self.request = request
    }

    /// 3 s to connect (a server on the office network or the internet answers far sooner),
    /// 30 s for a request (a page is at most about 1 MiB of JSON before gzip).
    public static let standard = SyncTimeouts(connect: .seconds(3), request: .seconds(30))
}

/// Why talking to the server failed.
public enum TransportError: Error, CustomStringConvertible, Sendable {
    /// The server answered with a protocol error (not worth retrying).
    case server(WireError, status: Int)
    /// The server could not be reached or did not answer in time (worth retrying later).
    case unreachable(Unreachable)

    /// What went wrong on the way to the server, in words a rep can act on.
    public enum Unreachable: Hashable, Sendable, CustomStringConvertible {
        /// Nothing listens at the address (the server is stopped, or the port is wrong).
        case refused
        /// No connection within the connect timeout (no network, a firewall, a wrong address).
        case connectTimeout(Duration)
        /// Connected, but the answer did not come within the request timeout.
        case silent(Duration)
        /// The host name does not resolve.
        case unknownHost
        /// The connection broke, or the answer was cut or corrupt.
        case cut(String)
        /// The server said it is overloaded or failed (5xx, 429).
        case unavailable(String)
        /// The server is busy with other devices and asked to be called again after a while
        /// (`429 server-busy` with `Retry-After`).
        case busy(retryAfter: Duration)

        public var description: String {
            switch self {
            case .refused: "nothing answers at that address: the server is stopped or the URL is wrong"
            case .connectTimeout(let d): "no connection within \(Self.seconds(d)): no network, a firewall, or a wrong address"
            case .silent(let d): "the server accepted the connection but did not answer within \(Self.seconds(d))"
            case .unknownHost: "the server's host name is unknown"
            case .cut(let why): "the connection broke (\(why))"
            case .unavailable(let why): "the server is unavailable (\(why))"
            case .busy(let wait): "the server is busy with other devices (it asked to be called again in \(Self.seconds(wait)))"
            }
        }

        /// A stable code for `--json` output.
        public var code: String {
            switch self {
            case .refused: "connection-refused"
            case .connectTimeout: "connect-timeout"
            case .silent: "server-silent"
            case .unknownHost: "unknown-host"
            case .cut: "connection-cut"
            case .unavailable: "server-unavailable"
            case .busy: "server-busy"
            }
        }

        static func seconds(_ d: Duration) -> String {
            let (s, a) = d.components
            let value = Double(s) + Double(a) / 1e18
            return value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
        }
    }

    public var description: String {
        switch self {
        case .server(let e, _): e.error.message
        case .unreachable(let why): "Cannot reach the server: \(why). Your changes are safe here; run `outpost sync` again when the connection is back."
        }
    }
}

/// JSON over HTTP to an Outpost server: gzip both ways, bearer token, byte counting, and a
/// connect timeout and a total timeout on every request.
public struct SyncTransport: Sendable {
    /// One client per connect timeout for the process. Automatic decompression is off (unlike
    /// `HTTPClient.shared`), so bytes on the wire are counted as sent and the inflation limit is
    /// ours; the pool does not retry failed connections on its own (it would do so until the
    /// request's deadline), because the engine decides what to retry.
    private static let clients = Mutex<[String: HTTPClient]>([:])

    /// Connections one process keeps open to one server at most (AsyncHTTPClient's default, 8,
    /// suits a laptop). A load test simulating many devices in one process raises it before its
    /// first request.
    public static let connectionsPerServer = Mutex(8)

    static func client(connect: Duration, trustedCA: String?) -> HTTPClient {
        clients.withLock { clients in
            let key = "\(connect)|\(trustedCA ?? "")"
            if let client = clients[key] { return client }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                         timeout: .init(connect: TimeAmount(connect)),
                                                         decompression: .disabled)
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerServer.withLock { $0 }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            // The company's own CA, besides the system's (read and checked by ``ClientTLS/readCA(_:)``).
            if let trustedCA, let certificates = try? NIOSSLCertificate.fromPEMBytes(Array(trustedCA.utf8)) {
                tls.additionalTrustRoots = [.certificates(certificates)]
            }
            configuration.tlsConfiguration = tls
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    /// The server's base URL (`http://127.0.0.1:7420`).
    public let baseURL: String
    /// The bearer token (device or admin), if any.
    public let token: String?
    /// How long to wait to connect, and for a whole request.
    public var timeouts: SyncTimeouts
    /// A CA (PEM) trusted besides the system's: the company's own, for its servers' certificates.
    public var trustedCA: String?

    /// Creates a transport.
    public init(baseURL: String, token: String?, timeouts: SyncTimeouts = .standard, trustedCA: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeouts = timeouts
        self.trustedCA = trustedCA
    }

    /// A secret (token or code) goes only over HTTPS, or to this machine: over plain HTTP
    /// anyone on the way could read it. `OUTPOST_ALLOW_HTTP=1` lifts this on a trusted network.
    func checkSecretMayGo(_ secret: Bool) throws {
        guard secret, let url = URL(string: baseURL), url.scheme?.lowercased() == "http",
              !LoopbackAddress.contains(url.host ?? ""), ProcessInfo.processInfo.environment["OUTPOST_ALLOW_HTTP"] != "1" else { return }
        throw TransportError.server(WireError(.insecureServer, message: "Refusing to send a token or code to \(baseURL) over plain HTTP: anyone on the network could read it. Use the server's https:// address (set OUTPOST_ALLOW_HTTP=1 only on a network you trust)."), status: 0)
    }

    /// POSTs `body` to `path` and decodes the answer; returns it with the bytes sent and received.
    public func post<Request: Encodable, Response: Decodable>(_ path: String, _ body: Request, as type: Response.Type) async throws -> (Response, up: Int, down: Int) {
        var payload = ByteBuffer(bytes: try (body as? any PageMessage)?.jsonBytes ?? Array(JSONEncoder().encode(body)))
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        if payload.readableBytes > 512 {
            payload = try payload.compress(with: .gzip())
            request.headers.add(name: "Content-Encoding", value: "gzip")
        }
        try checkSecretMayGo(token != nil || path == "/v1/enroll")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let up = payload.readableBytes
        request.body = .bytes(payload)
        return try await send(request, up: up, as: type)
    }

    /// GETs `path` and decodes the answer.
    public func get<Response: Decodable>(_ path: String, as type: Response.Type) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        try checkSecretMayGo(token != nil)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return try await send(request, up: 0, as: type).0
    }

    /// GETs `path` and writes the answer's bytes to the new file `file` as they arrive (a
    /// snapshot may be far larger than any message), telling `progress` how far it is; returns
    /// how many bytes were written. A failed download leaves no file behind.
    public func download(_ path: String, to file: String, progress: (_ written: Int, _ expected: Int?) -> Void = { _, _ in }) async throws -> Int {
        var request = HTTPClientRequest(url: baseURL + path)
        try checkSecretMayGo(token != nil)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let client = Self.client(connect: timeouts.connect, trustedCA: trustedCA)
        let response: HTTPClientResponse
        do { response = try await client.execute(request, timeout: .minutes(30)) } catch { throw TransportError.unreachable(classify(error)) }
        guard response.status.code == 200 else {
            let body = try await response.body.collect(upTo: 1 << 20)
            if let wire = try? JSONDecoder().decode(WireError.self, from: Data(body.readableBytesView)) {
                throw TransportError.server(wire, status: Int(response.status.code))
            }
            throw TransportError.server(WireError(code: "http-\(response.status.code)", message: "The server answered HTTP \(response.status.code)."), status: Int(response.status.code))
        }
        // Readable by its owner only: it may hold a whole customer base.
        guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: file) else {
            throw TransportError.server(WireError(.cannotWrite, message: "Cannot create \(file); check the folder exists and is writable."), status: 0)
        }
        var written = 0
        let expected = response.headers.first(name: "Content-Length").flatMap { Int($0) }
        do {
            for try await chunk in response.body {
                // The throwing form: a full disk is an error to report, not a crash.
                try handle.write(contentsOf: Data(chunk.readableBytesView))
                written += chunk.readableBytes
                progress(written, expected)
            }
            try handle.close()
            if let expected, written != expected { throw TransportError.unreachable(.cut("the download stopped at \(written) of \(expected) bytes")) }
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: file)
            throw TransportError.unreachable(classify(error))
        }
        return written
    }

    /// Sends the request and collects the whole answer, within the request timeout.
    private func exchange(_ request: HTTPClientRequest) async throws -> (HTTPClientResponse, ByteBuffer) {
        let client = Self.client(connect: timeouts.connect, trustedCA: trustedCA)
        let limit = timeouts.request
        let deadline = NIODeadline.now() + TimeAmount(limit)
        return try await withThrowingTaskGroup(of: (HTTPClientResponse, ByteBuffer)?.self) { group in
            group.addTask {
                let response = try await client.execute(request, deadline: deadline)
                return (response, try await response.body.collect(upTo: WireLimits.maxBodyBytes))
            }
            // The deadline above covers the request; this covers a body that trickles in forever.
            group.addTask {
                try await Task.sleep(for: limit + .milliseconds(250))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw TransportError.unreachable(.silent(limit))
            }
            return result
        }
    }

    private func send<Response: Decodable>(_ request: HTTPClientRequest, up: Int, as type: Response.Type) async throws -> (Response, up: Int, down: Int) {
        let response: HTTPClientResponse
        var body: ByteBuffer
        do {
            (response, body) = try await exchange(request)
        } catch let error as TransportError {
            throw error
        } catch {
            if let untrusted = ClientTLS.untrusted(error, url: baseURL) { throw untrusted }
            throw TransportError.unreachable(classify(error))
        }
        let down = body.readableBytes
        if response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip" {
            do { body = try body.decompress(with: .gzip(), maxSize: WireLimits.maxBodyBytes) } catch {
                throw TransportError.unreachable(.cut("the answer was cut or corrupt"))
            }
        }
        let data = Data(body.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            let wire = try? JSONDecoder().decode(WireError.self, from: data)
            if response.status.code == 429, wire?.error.code != WireErrorCode.tooManyAttempts.rawValue {
                // Any other 429 is a crowd, not a lockout: wait as asked (a missing or odd
                // header means a second), never more than half a minute.
                let asked = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 1
                throw TransportError.unreachable(.busy(retryAfter: .seconds(min(30, max(1, asked)))))
            }
            if let wire {
                if response.status.code >= 500 && wire.error.code != "internal" { throw TransportError.unreachable(.unavailable(wire.error.message)) }
                throw TransportError.server(wire, status: Int(response.status.code))
            }
            if response.status.code >= 500 || response.status.code == 429 {
                throw TransportError.unreachable(.unavailable(response.status.code == 429 ? "it is busy with other devices" : "it is restarting or failing"))
            }
            throw TransportError.server(WireError(code: "http-\(response.status.code)", message: "The server answered HTTP \(response.status.code); is \(baseURL) an Outpost server?"),
                                        status: Int(response.status.code))
        }
        do {
            if let page = Response.self as? any PageMessage.Type, let decoded = try page.init(jsonValue: try JSONValue.parse(Array(data))) as? Response {
                return (decoded, up, down)
            }
            return (try JSONDecoder().decode(Response.self, from: data), up, down)
        } catch {
            throw TransportError.unreachable(.cut("the answer was cut or is not what protocol \(ProtocolVersion.current) says"))
        }
    }

    /// Names a networking failure in the rep's terms, never in the library's.
    private func classify(_ error: any Error) -> TransportError.Unreachable {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return .connectTimeout(timeouts.connect)
            case .deadlineExceeded, .readTimeout, .writeTimeout: return .silent(timeouts.request)
            case .remoteConnectionClosed: return .cut("the server closed it")
            case .cancelled: return .silent(timeouts.request)
            default: break
            }
        }
        let text = String(describing: error)
        if text.contains("connectTimeout") { return .connectTimeout(timeouts.connect) }
        if text.localizedCaseInsensitiveContains("refused") { return .refused }
        if text.contains("dnsA") || text.localizedCaseInsensitiveContains("resolve") || text.contains("NXDOMAIN") { return .unknownHost }
        // What the library said stays in the log (OUTPOST_LOG_LEVEL=debug); the rep hears a sentence.
        Logger(label: "outpost.transport").debug("network failure", metadata: ["error": "\(error)"])
        return .cut("the network dropped it")
    }
}
