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
        #expect(codes.count > 20, "the scan found too few codes: \(codes)")
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
}
