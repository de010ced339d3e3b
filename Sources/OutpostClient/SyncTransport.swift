import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import OutpostCore
import OutpostWire

/// Why talking to the server failed.
public enum TransportError: Error, CustomStringConvertible, Sendable {
    /// The server answered with a protocol error (not worth retrying).
    case server(WireError, status: Int)
    /// The connection failed or the server was unavailable (worth retrying).
    case unreachable(String)

    public var description: String {
        switch self {
        case .server(let e, _): e.error.message
        case .unreachable(let why): "Cannot reach the server (\(why)). Your changes are safe here; run `outpost sync` again when the connection is back."
        }
    }
}

/// JSON over HTTP to an Outpost server: gzip both ways, bearer token, byte counting.
public struct SyncTransport: Sendable {
    /// One client for the process. Automatic decompression is off (unlike `HTTPClient.shared`),
    /// so bytes on the wire are counted as sent and the inflation limit is ours.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                   configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3)), decompression: .disabled))

    /// The server's base URL (`http://127.0.0.1:7420`).
    public let baseURL: String
    /// The bearer token (device or admin), if any.
    public let token: String?
    /// How long one request may take.
    public var timeout: TimeAmount = .seconds(120)

    /// Creates a transport.
    public init(baseURL: String, token: String?) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
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
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let up = payload.readableBytes
        request.body = .bytes(payload)
        return try await send(request, up: up, as: type)
    }

    /// GETs `path` and decodes the answer.
    public func get<Response: Decodable>(_ path: String, as type: Response.Type) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return try await send(request, up: 0, as: type).0
    }

    private func send<Response: Decodable>(_ request: HTTPClientRequest, up: Int, as type: Response.Type) async throws -> (Response, up: Int, down: Int) {
        let response: HTTPClientResponse
        var body: ByteBuffer
        do {
            response = try await Self.client.execute(request, timeout: timeout)
            body = try await response.body.collect(upTo: WireLimits.maxBodyBytes)
        } catch {
            throw TransportError.unreachable("\(error)")
        }
        let down = body.readableBytes
        if response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip" {
            do { body = try body.decompress(with: .gzip(), maxSize: WireLimits.maxBodyBytes) } catch {
                throw TransportError.unreachable("the server's answer was cut or corrupt: \(error)")
            }
        }
        let data = Data(body.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            if let wire = try? JSONDecoder().decode(WireError.self, from: data) {
                if response.status.code >= 500 && wire.error.code != "internal" { throw TransportError.unreachable(wire.error.message) }
                throw TransportError.server(wire, status: Int(response.status.code))
            }
            if response.status.code >= 500 || response.status.code == 429 {
                throw TransportError.unreachable("HTTP \(response.status.code)")
            }
            throw TransportError.server(WireError(code: "http-\(response.status.code)", message: "The server answered HTTP \(response.status.code)."),
                                        status: Int(response.status.code))
        }
        do {
            if let page = Response.self as? any PageMessage.Type {
                return (try page.init(jsonValue: try JSONValue.parse(Array(data))) as! Response, up, down)
            }
            return (try JSONDecoder().decode(Response.self, from: data), up, down)
        } catch {
            throw TransportError.unreachable("the server's answer was cut or is not what protocol \(ProtocolVersion.current) says")
        }
    }
}
