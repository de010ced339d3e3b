import Foundation
import OutpostCore
import OutpostTestSupport
import OutpostWire
import Testing

/// Seeded random mutation of a committed corpus (the changes of `protocol/vectors/`, as JSON,
/// as push and pull pages, and in the binary encoding) fed to every decoder a peer's bytes
/// reach: the JSON parser, changes from JSON, page messages, and the binary codec. None may
/// crash or hang; whatever decodes must encode and decode again to the same value.
///
/// CI runs a short round; `OUTPOST_FUZZ_ITERATIONS=2000000 swift test --filter DecoderFuzzTests`
/// runs a long one (`docs/reliability.md` records its figure).
struct DecoderFuzzTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var iterations: Int { Int(ProcessInfo.processInfo.environment["OUTPOST_FUZZ_ITERATIONS"] ?? "") ?? 30_000 }

    /// The corpus: every change of every vector, alone, as push and pull pages, and in binary.
    static func corpus() throws -> (json: [[UInt8]], binary: [[UInt8]]) {
        let folder = root.appendingPathComponent("protocol/vectors")
        var json: [[UInt8]] = [], binary: [[UInt8]] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where file.hasSuffix(".json") {
            let bytes = Array(try Data(contentsOf: folder.appendingPathComponent(file)))
            guard case .object(let vector) = try JSONValue.parse(bytes), case .array(let changes)? = vector["changes"] else { continue }
            for item in changes {
                guard let change = try? Change(json: item) else { continue }
                json.append(Array(item.canonicalText.utf8))
                binary.append(BinaryCodec.encode(change))
            }
            json.append(PushRequest(replica: "r-fuzz", changes: changes).jsonBytes)
            json.append(PullResponse(changes: changes, cursor: 7, more: false, remaining: 0).jsonBytes)
        }
        // The other requests a server decodes (with Foundation's decoder), one of each.
        let encoder = JSONEncoder()
        var hello = HelloRequest(replica: "r-fuzz", counter: 12, schemaVersion: 1,
                                 position: SyncPosition(server: "r-hq", cursor: 40, seen: ["r-a": 3, "r-b": 9]),
                                 syncToken: "1764000000.0123456789abcdef", nextSyncToken: "1764000001.0123456789abcdef", relaying: ["r-x"], idProof: "p")
        hello.client = "outpost 0.10.0"
        hello.wasScoped = true
        json.append(Array(try encoder.encode(hello)))
        json.append(Array(try encoder.encode(EnrollRequest(code: "ABCD-EFGH-JKMN", device: "laptop", replica: "r-new", syncToken: "1764000000.0123456789abcdef"))))
        json.append(Array(try encoder.encode(ScopeRequest(replica: "r-fuzz", since: 4, token: "9f1c03d2a4b5e6f7", held: ["0190a000-0000-7000-8000-0000000000aa"]))))
        json.append(Array(try encoder.encode(RecordsRequest(replica: "r-fuzz", records: [RecordRef(collection: "accounts", id: "x")], through: 9))))
        json.append(Array(try encoder.encode(PullRequest(replica: "r-fuzz", cursor: 3, limit: 500))))
        json.append(Array(try encoder.encode(ConflictResolveRequest(id: "62b585947c3df141", take: "restore"))))
        json.append(Array(try encoder.encode(AdminUserRequest(name: "aigerim", role: "rep", scope: "owner = me"))))
        return (json, binary)
    }

    /// One mutation of `input`, sometimes spliced with `other`.
    static func mutate(_ input: [UInt8], _ other: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        let interesting: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0xC0, 0xE0, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x3A, 0x2C, 0x2D, 0x30, 0x39, 0x65, 0x2E]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { bytes = [interesting.randomElement(using: &rng)!]; continue }
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1: bytes[at] = interesting.randomElement(using: &rng)!
            case 2: bytes.insert(interesting.randomElement(using: &rng)!, at: at)
            case 3: bytes.remove(at: at)
            case 4: bytes = Array(bytes[..<at])
            case 5:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &rng))
                bytes.insert(contentsOf: bytes[at..<end], at: end)
            case 6:
                guard !other.isEmpty else { continue }
                let from = Int.random(in: 0..<other.count, using: &rng)
                bytes = Array(bytes[..<at]) + Array(other[from...])
            default:
                // A big number where a small one stood (counters, lengths, timestamps).
                bytes.insert(contentsOf: Array("99999999999999999999".utf8), at: at)
            }
        }
        return bytes
    }

    @Test func mutatedInputsNeverCrashAndWhatDecodesRoundTrips() throws {
        let (json, binary) = try Self.corpus()
        #expect(json.count > 100 && binary.count > 50, "the corpus is the vectors' changes")
        var rng = SplitMix64(seed: 0x0F0F_2026)
        var decoded = 0
        for n in 0..<Self.iterations {
            if n % 2 == 0 {
                let input = Self.mutate(json.randomElement(using: &rng)!, json.randomElement(using: &rng)!, &rng)
                guard let value = try? JSONValue.parse(input) else { continue }
                decoded += 1
                #expect(try JSONValue.parse(Array(value.canonicalText.utf8)) == value, "canonical text reads back the same")
                if let change = try? Change(json: value) {
                    #expect(try Change(json: change.json) == change)
                    #expect(try BinaryCodec.decodeChange(BinaryCodec.encode(change)) == change)
                }
                if let push = try? PushRequest(jsonValue: value) { #expect(push.changes.count <= 1_000_000) }
                _ = try? PullResponse(jsonValue: value)
                let data = Data(input)
                let decoder = JSONDecoder()
                _ = try? decoder.decode(HelloRequest.self, from: data)
                _ = try? decoder.decode(EnrollRequest.self, from: data)
                _ = try? decoder.decode(ScopeRequest.self, from: data)
                _ = try? decoder.decode(RecordsRequest.self, from: data)
                _ = try? decoder.decode(PullRequest.self, from: data)
                _ = try? decoder.decode(DirectoryRequest.self, from: data)
                _ = try? decoder.decode(ConflictResolveRequest.self, from: data)
                _ = try? decoder.decode(AdminUserRequest.self, from: data)
            } else {
                let input = Self.mutate(binary.randomElement(using: &rng)!, binary.randomElement(using: &rng)!, &rng)
                guard let change = try? BinaryCodec.decodeChange(input) else { continue }
                decoded += 1
                #expect(try BinaryCodec.decodeChange(BinaryCodec.encode(change)) == change, "what decodes encodes to the same change")
                _ = try? BinaryCodec.decodeState(input)
            }
        }
        #expect(decoded > 0, "some mutations still decode (the round trips were exercised)")
        print("decoder fuzz: \(Self.iterations) inputs, \(decoded) decoded and round-tripped, 0 crashes")
    }
}
