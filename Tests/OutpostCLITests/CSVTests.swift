import Foundation
import OutpostCLI
import Testing

struct CSVParserTests {
    @Test func parsesQuotesNewlinesAndLineNumbers() throws {
        let text = "a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",z\r\nlast,row"
        let records = try CSV.parse(Array(text.utf8))
        #expect(records.map(\.cells) == [["a", "b"], ["x, y", "say \"hi\""], ["multi\nline", "z"], ["last", "row"]])
        #expect(records.map(\.line) == [1, 2, 3, 5])
    }

    @Test func reportsUnclosedQuotesAndBadEncoding() {
        #expect { try CSV.parse(Array("a\n\"open,b\nc".utf8)) } throws: { error in
            (error as? CSV.ParseError)?.line == 2 && "\(error)".contains("never closed")
        }
        #expect { try CSV.parse(Array("name\nok\n".utf8) + [0xC3, 0x28] + Array("\n".utf8)) } throws: { error in
            (error as? CSV.ParseError)?.line == 3
        }
    }

    @Test func writtenLinesParseBack() throws {
        let cells = ["plain", "with,comma", "with \"quote\"", "two\nlines", " padded ", "Улаанбаатар", ""]
        #expect(try CSV.parse(Array(CSV.line(cells).utf8)).first?.cells == cells)
    }
}

struct CSVImportExportTests {
    @Test func exportThenImportRoundTripsExactly() throws {
        let scratch = Scratch()
        let a = scratch.cli("a"), b = scratch.cli("b")
        _ = try a.ok(["init", "--user", "a"])
        _ = try b.ok(["init", "--user", "b"])
        let names = ["ТОО «Алтын-Ай», Алматы", "Тумэн ХХК", "שלום בע\"מ", "Công ty TNHH Hà Nội", "O'Brien, \"Quotes\" & Co"]
        for (i, name) in names.enumerated() {
            let acc = try a.ok(["add", "accounts", "name=\(name)", "city=Город \(i)", "tags=vip,a\\,b", "kind=customer"])
            _ = try a.ok(["add", "deals", "account_id=\(acc)", "title=Сделка \(i)", "amount=\(1000 + i).50", "currency=KZT", "expected_close=2026-12-0\(i + 1)"])
        }
        _ = try a.ok(["add", "activities", "account_id=0190a000-0000-7000-8000-000000000001", "kind=call", "at=2026-11-24 09:30", "summary=Line one\nline two"])
        for collection in ["accounts", "deals", "activities"] {
            _ = try a.ok(["export", collection, scratch.path("\(collection)-a.csv")])
            _ = try b.ok(["import", collection, scratch.path("\(collection)-a.csv")])
            _ = try b.ok(["export", collection, scratch.path("\(collection)-b.csv")])
            let first = try Data(contentsOf: URL(fileURLWithPath: scratch.path("\(collection)-a.csv")))
            let second = try Data(contentsOf: URL(fileURLWithPath: scratch.path("\(collection)-b.csv")))
            #expect(first == second, "\(collection) did not round-trip")
        }
        let deals = try CSV.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.path("deals-b.csv")))))
        #expect(deals.count == 6)
        // Importing the same file again changes nothing.
        let again = try b.ok(["import", "deals", scratch.path("deals-a.csv"), "--json"])
        #expect(again.contains("\"unchanged\":5"))
    }

    @Test func badRowsAreReportedByLineAndNothingIsImportedUnlessSkipBad() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "u"])
        let csv = """
            name,kind,phone,tags
            Good One,customer,+7 701 000,vip
            Bad Kind,friend,+7 702 000,
            ,customer,+7 703 000,
            Good Two,partner,"+976 99 11",\"a,b\"
            Too,many,cells,here,extra
            """
        try csv.write(toFile: scratch.path("in.csv"), atomically: true, encoding: .utf8)
        let refused = try cli.run(["import", "accounts", scratch.path("in.csv")])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("line 3, field kind") && refused.stderr.contains("Nothing was imported: 3 of 5 rows are bad"))
        #expect(try cli.ok(["list", "accounts", "--json"]) == "[]")
        let result = try cli.run(["import", "accounts", scratch.path("in.csv"), "--skip-bad", "--json"])
        #expect(result.status == 0)
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        #expect(report["created"] as? Int == 2 && report["written"] as? Bool == true)
        let problems = report["problems"] as! [[String: Any]]
        #expect(problems.map { $0["line"] as? Int } == [3, 4, 6])
        #expect(problems.map { $0["field"] as? String } == ["kind", "name", nil])
        let names = try cli.ok(["list", "accounts", "--order-by", "name", "--json"])
        #expect(names.contains("Good One") && names.contains("Good Two") && !names.contains("Bad Kind"))
    }

    @Test func nonUTF8AndUnknownColumnsAreRefusedWhole() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "u"])
        try (Data("name,city\nAcme,Almaty\n".utf8) + Data([0x4D, 0xFC, 0x6E, 0x63, 0x68, 0x65, 0x6E, 0x2C, 0x78, 0x0A])).write(to: URL(fileURLWithPath: scratch.path("latin1.csv")))
        let latin1 = try cli.run(["import", "accounts", scratch.path("latin1.csv")])
        #expect(latin1.status != 0)
        #expect(latin1.stderr.contains("line 3") && latin1.stderr.contains("not UTF-8 text, nor Cyrillic Windows-1251"))
        try "name,nickname\nAcme,Ac\n".write(toFile: scratch.path("cols.csv"), atomically: true, encoding: .utf8)
        let cols = try cli.run(["import", "accounts", scratch.path("cols.csv")])
        #expect(cols.stderr.contains("no field 'nickname'"))
        #expect(try cli.ok(["list", "accounts", "--json"]) == "[]")
    }
}
