import Foundation
import OutpostCore
import OutpostWire
import Testing

/// The server writes pull pages from each change's kept text; a client reads them as the
/// protocol's pull response. Both forms must be the same bytes, `older` included.
struct PullPageTests {
    func changes() throws -> [JSONValue] {
        [try JSONValue.parse(Array(#"{"a":1,"b":"Тумэн ХХК"}"#.utf8)), try JSONValue.parse(Array(#"{"z":[true,null]}"#.utf8))]
    }

    @Test func aPageWrittenFromTextsIsTheResponsesCanonicalJSON() throws {
        let values = try changes()
        for older in [nil, [OlderRecord(index: 1, root: "acc-1"), OlderRecord(index: 0, root: nil)]] {
            for remaining in [nil, 42] {
                var response = PullResponse(changes: values, cursor: 17, more: remaining != nil, remaining: remaining)
                response.older = older
                let page = PullPage(changes: values.map(\.canonicalBytes), cursor: 17, more: remaining != nil, remaining: remaining, older: older)
                #expect(page.jsonBytes == response.jsonBytes)
                let read = try page.response()
                #expect(read.changes == values)
                #expect(read.older == older, "a scoped puller learns which records it must fetch the history of")
                #expect(read.remaining == remaining && read.cursor == 17)
            }
        }
    }

    @Test func aPageIsTheDocumentedJSON() throws {
        let page = PullPage(changes: [Array(#"{"a":1}"#.utf8)], cursor: 9, more: true, remaining: 4, older: [OlderRecord(index: 0, root: "acc-1")])
        #expect(String(decoding: page.jsonBytes, as: UTF8.self)
                == #"{"changes":[{"a":1}],"cursor":9,"more":true,"older":[{"index":0,"root":"acc-1"}],"protocol":1,"remaining":4}"#)
    }

    @Test func anOlderIndexOutsideThePageIsRefused() throws {
        let text = #"{"changes":[{"a":1}],"cursor":3,"more":false,"older":[{"index":5}],"protocol":1}"#
        #expect(throws: WireError.self) { _ = try PullResponse(jsonValue: try JSONValue.parse(Array(text.utf8))) }
    }
}
