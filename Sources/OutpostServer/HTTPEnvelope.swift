import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OutpostCore
import OutpostWire

/// A ``WireError`` on its way out as an HTTP response with a fitting status.
struct APIError: HTTPResponseError {
    let wire: WireError
    let status: HTTPResponse.Status

    init(_ wire: WireError) {
        self.wire = wire
        // The one mapping is ``WireErrorCode/httpStatus``; a code outside it is a bad request.
        status = HTTPResponse.Status(code: wire.code?.httpStatus ?? 400)
    }

    /// The status as a number (what `protocol/sync.md`'s error table lists).
    var statusCode: Int { Int(status.code) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try Envelope.response(wire, status: status, request: request)
        if status == .tooManyRequests, let wait = wire.error.details?.first { response.headers[.retryAfter] = wait }
        return response
    }
}

/// Reading and writing JSON bodies: gzip when the peer says so, size limits, and a protocol
/// version check before anything else is decoded.
enum Envelope {
    /// Decodes a request body, or throws the specific error for what is wrong with it.
    static func decode<T: Decodable>(_ type: T.Type, from request: inout Request, limit: Int = WireLimits.maxBodyBytes) async throws -> T {
        var buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(WireError(.bodyTooLarge, message: "The request body is larger than \(limit) bytes; send smaller pages."))
        }
        if request.headers[.contentEncoding]?.lowercased() == "gzip" {
            do {
                buffer = try buffer.decompress(with: .gzip(), maxSize: limit)
            } catch {
                throw APIError(WireError(.bodyTooLarge, message: "The request body is not valid gzip or inflates beyond \(limit) bytes."))
            }
            // Counted exactly: the inflater's own bound is per piece it writes.
            guard buffer.readableBytes <= limit else {
                throw APIError(WireError(.bodyTooLarge, message: "The request body inflates to \(buffer.readableBytes) bytes, beyond \(limit); send smaller pages."))
            }
        }
        let bytes = Array(buffer.readableBytesView)
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch {
            throw APIError(WireError(.malformedRequest, message: "The request body is not valid JSON: \(error.debugText)."))
        }
        guard case .object(let members) = value else {
            throw APIError(WireError(.malformedRequest, message: "The request body must be a JSON object."))
        }
        guard case .int(let number)? = members["protocol"] else {
            throw APIError(WireError(.missingProtocol, message: "The request names no protocol version; this server speaks Outpost protocol \(ProtocolVersion.current)."))
        }
        let version = Int(number)
        guard (ProtocolVersion.oldestSupported...ProtocolVersion.current).contains(version) else {
            let advice = version > ProtocolVersion.current ? "Upgrade this server." : "Upgrade the client (outpost)."
            throw APIError(WireError(.unsupportedProtocol,
                                     message: "The client speaks Outpost protocol \(version); this server speaks \(ProtocolVersion.oldestSupported) to \(ProtocolVersion.current). \(advice)"))
        }
        if let page = T.self as? any PageMessage.Type {
            do { return try page.init(jsonValue: value) as! T } catch { throw APIError(error) }
        }
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw APIError(WireError(.malformedRequest, message: "The request does not match protocol \(version): \(describe(error))."))
        }
    }

    /// A JSON response, gzipped when the client accepts it and it is worth it.
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, request: Request) throws -> Response {
        try response(bytes: try (value as? any PageMessage)?.jsonBytes ?? Array(JSONEncoder().encode(value)), status: status, request: request)
    }

    /// A JSON body already written, gzipped when the peer takes it and it is worth it.
    static func response(bytes data: [UInt8], status: HTTPResponse.Status = .ok, request: Request) throws -> Response {
        var buffer = ByteBuffer(bytes: data)
        var headers: HTTPFields = [.contentType: "application/json"]
        if data.count > 512, request.headers[.acceptEncoding]?.contains("gzip") == true {
            // The fastest level: a page of changes compresses nearly as well (they repeat field
            // names and replica ids), at a third of the CPU, and the server gzips every page it sends.
            buffer = try buffer.compress(with: .gzip(configuration: .init(compressionLevel: .fastestCompression)))
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "the body" : String(p.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let c): return "\(path(c)) lacks \"\(key.stringValue)\""
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(path(c)) has the wrong type"
        case .dataCorrupted(let c): return "invalid JSON (\(c.debugDescription))"
        @unknown default: return "\(error)"
        }
    }
}

extension CoreError {
    /// The description with the detail (position in the text) that a malformed request needs.
    var debugText: String {
        if case .malformed(_, let detail) = self { return detail }
        return description
    }
}
