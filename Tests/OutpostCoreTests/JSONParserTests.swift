import Foundation
import OutpostCore
import OutpostTestSupport
import Testing

struct JSONParserTests {
    @Test func parsesWhatTheCanonicalWriterWrites() throws {
        var sim = ConvergenceSimulation(seed: 5)
        try sim.run(steps: 40)
        for change in sim.allChanges {
            #expect(try JSONValue.parse(Array(change.json.canonicalText.utf8)) == change.json)
        }
    }

    @Test func handlesEscapesAndUnicode() throws {
        let text = #"{"a":"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 Улаанбаатар","b":[true,false,null,-12,0],"c":{}}"#
        let v = try JSONValue.parse(Array(text.utf8))
        #expect(v == .object(["a": .string("q\"\\/\u{08}\u{0C}\n\r\té😀 Улаанбаатар"), "b": .array([.bool(true), .bool(false), .null, .int(-12), .int(0)]), "c": .object([:])]))
        #expect(try JSONValue.parse(Array(" [ 1 , 2 ] ".utf8)) == .array([.int(1), .int(2)]))
    }

    @Test(arguments: ["1.5", "1e3", "01", "[1,]", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "\"unterminated", "[1] x", "nul",
                      "{\"a\" 1}", String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "99999999999999999999", "\"tab\there\""])
    func rejectsWhatItShould(text: String) {
        #expect(throws: CoreError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func agreesWithFoundation() throws {
        let text = #"{"x":[1,-2,{"y":"z"}],"w":"é"}"#
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(try JSONValue.parse(Array(text.utf8)) == foundation)
    }
}
