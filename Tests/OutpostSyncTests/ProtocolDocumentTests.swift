import Foundation
@testable import OutpostServer
import OutpostWire
import Testing

/// `protocol/sync.md` stays true: every code the server can send is documented, and the error
/// table gives each code the HTTP status the server really answers with.
struct ProtocolDocumentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var document: String { (try? String(contentsOf: root.appendingPathComponent("protocol/sync.md"), encoding: .utf8)) ?? "" }

    /// Codes in the server's sources: `code: "…"` and prechecks' `return ("…", …)`.
    static func codesInSources() throws -> Set<String> {
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources/OutpostServer").path)
            .map { "Sources/OutpostServer/" + $0 } + ["Sources/OutpostStore/Replica+Push.swift", "Sources/OutpostStore/Replica+Apply.swift"]
        let pattern = try NSRegularExpression(pattern: #"(?:code: |return \()"([a-z][a-z-]+)""#)
        var codes = Set<String>()
        for file in files {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let range = Range(match.range(at: 1), in: text) { codes.insert(String(text[range])) }
            }
        }
        return codes
    }

    @Test func everyCodeTheServerSendsIsDocumented() throws {
        let codes = try Self.codesInSources()
        // Per-change codes (refusals and deferrals); request errors are ``WireErrorCode``, checked below.
        #expect(codes.count > 12, "the scan found too few codes: \(codes)")
        for code in codes.sorted() {
            #expect(Self.document.contains("`\(code)`"), "protocol/sync.md does not document `\(code)`")
        }
    }

    @Test func theErrorTableGivesTheStatusTheServerAnswers() throws {
        let errors = try #require(Self.document.components(separatedBy: "## Errors").dropFirst().first)
        let section = errors.components(separatedBy: "\n## ").first ?? errors
        var checked = 0
        for line in section.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, let status = Int(cells[0]) else { continue }
            for piece in cells[1].components(separatedBy: "`").enumerated() where piece.offset % 2 == 1 {
                let code = String(piece.element)
                #expect(APIError(WireError(code: code, message: "")).statusCode == status, "`\(code)` is documented as \(status)")
                checked += 1
            }
        }
        #expect(checked >= 15, "the error table was not found or has too few codes (\(checked))")
    }

    /// Every code of the protocol is in the document, and every one a server answers with is in
    /// the error table under its status.
    @Test func everyProtocolCodeIsDocumentedWithItsStatus() throws {
        let errors = try #require(Self.document.components(separatedBy: "## Errors").dropFirst().first)
        let section = errors.components(separatedBy: "\n## ").first ?? errors
        var table: [String: Int] = [:]
        for line in section.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2 else { continue }
            let statuses = cells[0].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            for piece in cells[1].components(separatedBy: "`").enumerated() where piece.offset % 2 == 1 {
                table[String(piece.element)] = statuses.first
            }
        }
        for code in WireErrorCode.allCases {
            #expect(Self.document.contains("`\(code.rawValue)`"), "protocol/sync.md does not mention `\(code.rawValue)`")
            if let status = code.httpStatus {
                #expect(table[code.rawValue] == status, "`\(code.rawValue)` is answered with \(status), the error table says \(table[code.rawValue].map(String.init) ?? "nothing")")
            } else {
                #expect(table[code.rawValue] == nil, "`\(code.rawValue)` is raised by a client on its own, not listed as an answer")
            }
        }
    }
}
