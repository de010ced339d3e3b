import Foundation
import Testing

/// Spreadsheets as the offices save them: each form imports with every script intact, a wrong
/// one is refused with nothing written, and `export --excel` comes back unchanged.
struct SpreadsheetTests {
    /// Names in each script the offices write: Russian, Uzbek Latin (with ʻ), Kazakh,
    /// Mongolian and Vietnamese.
    static let names = ["ООО «Ромашка»", "Oʻzbekiston Gʻalla MChJ", "Қазақ Астығы ЖШС", "Өргөө Түмэн ХХК", "Công ty TNHH Nguyễn Văn Thành"]
    static let cities = ["Москва", "Toshkent", "Астана", "Улаанбаатар", "Hà Nội"]

    /// Rows of accounts with a decimal-free header, cells joined by `separator`, CRLF ends.
    static func accountsText(_ names: [String], _ cities: [String], separator: String) -> String {
        var lines = ["name\(separator)city\(separator)tax_id\(separator)phone"]
        for (i, (name, city)) in zip(names, cities).enumerated() {
            lines.append([name, city, "00\(i)1234567", "+7 701 000-00-0\(i)"].joined(separator: separator))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// Windows-1251, written here independently of Outpost's decoder (Russian letters, Ёё,
    /// Ўў, «», ASCII).
    static func windows1251(_ text: String) -> Data {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0..<0x80: bytes.append(UInt8(scalar.value))
            case 0x410...0x44F: bytes.append(UInt8(0xC0 + scalar.value - 0x410))
            case 0x401: bytes.append(0xA8)
            case 0x451: bytes.append(0xB8)
            case 0x40E: bytes.append(0xA1)
            case 0x45E: bytes.append(0xA2)
            case 0xAB: bytes.append(0xAB)
            case 0xBB: bytes.append(0xBB)
            default: Issue.record("\(scalar) is not in Windows-1251")
            }
        }
        return Data(bytes)
    }

    func importedNames(_ cli: CLI) throws -> [String: String] {
        let rows = try JSONSerialization.jsonObject(with: Data(try cli.ok(["list", "accounts", "--json"]).utf8)) as? [[String: Any]] ?? []
        var byName: [String: String] = [:]
        for row in rows {
            let values = row["values"] as? [String: Any] ?? [:]
            byName[values["name"] as? String ?? ""] = "\(values["city"] as? String ?? "")|\(values["tax_id"] as? String ?? "")|\(values["phone"] as? String ?? "")"
        }
        return byName
    }

    @Test(arguments: ["utf-8 comma", "utf-8 with BOM semicolon", "utf-16 tab", "utf-8 semicolon"])
    func eachUnicodeFormImportsEveryScriptIntact(form: String) throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        let separator = form.hasSuffix("comma") ? "," : form.hasSuffix("tab") ? "\t" : ";"
        let text = Self.accountsText(Self.names, Self.cities, separator: separator)
        let data: Data = switch form {
        case "utf-8 with BOM semicolon": Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)
        case "utf-16 tab": Data([0xFF, 0xFE]) + text.data(using: .utf16LittleEndian)!
        default: Data(text.utf8)
        }
        try data.write(to: URL(fileURLWithPath: scratch.path("in.csv")))
        let result = try cli.run(["import", "accounts", scratch.path("in.csv")])
        #expect(result.status == 0, "\(form): \(result.stderr)")
        let imported = try importedNames(cli)
        for (i, name) in Self.names.enumerated() {
            #expect(imported[name] == "\(Self.cities[i])|00\(i)1234567|+7 701 000-00-0\(i)", "\(form): \(name)")
        }
        #expect(imported.count == Self.names.count)
    }

    @Test func excelInARussianLocaleWindows1251SemicolonsAndDecimalCommas() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        // Windows-1251 holds Russian and Uzbek Cyrillic (ў), not Kazakh or Mongolian letters.
        let names = ["ООО «Ромашка»", "Ўзбекистон Савдо", "Ёлка и Ко"]
        try Self.windows1251(Self.accountsText(names, ["Москва", "Тошкент", "Самара"], separator: ";")).write(to: URL(fileURLWithPath: scratch.path("accounts.csv")))
        let preview = try cli.run(["import", "accounts", scratch.path("accounts.csv"), "--dry-run"])
        #expect(preview.status == 0 && preview.stdout.contains("windows-1251, cells separated by ';', decimal commas): 3 new"), "\(preview.stdout)")
        #expect(try cli.ok(["list", "accounts", "--json"]) == "[]")
        _ = try cli.ok(["import", "accounts", scratch.path("accounts.csv")])
        let imported = try importedNames(cli)
        #expect(imported["Ўзбекистон Савдо"] == "Тошкент|0011234567|+7 701 000-00-01" && imported["Ёлка и Ко"] != nil && imported["ООО «Ромашка»"] != nil)
        let account = try #require(try cli.ok(["search", "ромашка", "--json"]).split(separator: "\"").drop { $0 != "id" }.dropFirst(2).first)
        let deals = "account_id;title;amount;expected_close;probability\r\n\(account);Поставка зерна;1 250 000,50;25.12.2026;60\r\n\(account);Сервис;\u{00A0}99\u{00A0}000,00;01.02.2027;\r\n"
        try Self.windows1251(deals.replacingOccurrences(of: "\u{00A0}", with: " ")).write(to: URL(fileURLWithPath: scratch.path("deals.csv")))
        _ = try cli.ok(["import", "deals", scratch.path("deals.csv")])
        let listed = try cli.ok(["list", "deals", "--order-by", "title"])
        #expect(listed.contains("1250000.5") && listed.contains("2026-12-25") && listed.contains("99000") && listed.contains("2027-02-01"), "\(listed)")
    }

    @Test func aWrongFileIsRefusedWithNothingWritten() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        // The wrong separator forced: the header reads as one unknown field, and the hint says why.
        try Self.accountsText(Self.names, Self.cities, separator: ";").write(toFile: scratch.path("semi.csv"), atomically: true, encoding: .utf8)
        let forced = try cli.run(["import", "accounts", scratch.path("semi.csv"), "--delimiter", ","])
        #expect(forced.status != 0 && forced.stderr.contains("no field 'name;city;tax_id;phone'") && forced.stderr.contains("--delimiter ';'"), "\(forced.stderr)")
        // One bad row among good ones: nothing is written.
        let bad = Self.accountsText(Self.names, Self.cities, separator: ",") + "\"\",Алматы,,\r\n"
        try bad.write(toFile: scratch.path("bad.csv"), atomically: true, encoding: .utf8)
        let refused = try cli.run(["import", "accounts", scratch.path("bad.csv")])
        #expect(refused.status == 3 && refused.stderr.contains("line 7, field name"))
        // An encoding that is not what the file holds.
        try Data([0xFF, 0xFE, 0x41]).write(to: URL(fileURLWithPath: scratch.path("odd.csv")))
        let odd = try cli.run(["import", "accounts", scratch.path("odd.csv")])
        #expect(odd.status != 0)
        let wrongName = try cli.run(["import", "accounts", scratch.path("bad.csv"), "--encoding", "koi8"])
        #expect(wrongName.status != 0 && wrongName.stderr.contains("--encoding takes utf-8, utf-16 or windows-1251"))
        #expect(try cli.ok(["list", "accounts", "--json"]) == "[]")
    }

    @Test func exportForExcelComesBackUnchanged() throws {
        let scratch = Scratch()
        let a = scratch.cli("a"), b = scratch.cli("b")
        _ = try a.ok(["init", "--user", "a"])
        _ = try b.ok(["init", "--user", "b"])
        for (i, name) in Self.names.enumerated() {
            let account = try a.ok(["add", "accounts", "name=\(name)", "city=\(Self.cities[i])", "tax_id=00\(i)123", "phone=+7 701 00\(i)", "tags=vip,a\\,b"])
            _ = try a.ok(["add", "deals", "account_id=\(account)", "title=\"Сделка\"; \(i)", "amount=\(1000 + i),5".replacingOccurrences(of: ",", with: "."), "expected_close=2026-12-0\(i + 1)"])
        }
        _ = try a.ok(["add", "accounts", "name==HYPERLINK(\"http://x\")"])
        let env = ["TZ": "Asia/Tashkent"]
        _ = try a.run(["add", "tasks", "title=Qoʻngʻiroq", "due_at=2026-11-25 10:00"], environment: env)
        for collection in ["accounts", "deals", "tasks"] {
            #expect(try a.run(["export", collection, scratch.path("\(collection)-a.csv"), "--excel"], environment: env).status == 0)
            let imported = try b.run(["import", collection, scratch.path("\(collection)-a.csv")], environment: env)
            #expect(imported.status == 0, "\(collection): \(imported.stderr)")
            #expect(try b.run(["export", collection, scratch.path("\(collection)-b.csv"), "--excel"], environment: env).status == 0)
            let first = try Data(contentsOf: URL(fileURLWithPath: scratch.path("\(collection)-a.csv")))
            let second = try Data(contentsOf: URL(fileURLWithPath: scratch.path("\(collection)-b.csv")))
            #expect(first == second, "\(collection) did not round-trip")
            #expect(first.starts(with: [0xEF, 0xBB, 0xBF]))
        }
        let accounts = String(decoding: try Data(contentsOf: URL(fileURLWithPath: scratch.path("accounts-a.csv"))), as: UTF8.self)
        // Tax ids and phones stay text, a formula stays text, cells are separated by ';'.
        #expect(accounts.contains("\"=\"\"000123\"\"\"") && accounts.contains("\"=\"\"+7 701 000\"\"\"") && accounts.contains("\"=\"\"=HYPERLINK("))
        #expect(accounts.contains("\r\n") && accounts.hasPrefix("\u{FEFF}id;name;"))
        let deals = String(decoding: try Data(contentsOf: URL(fileURLWithPath: scratch.path("deals-a.csv"))), as: UTF8.self)
        #expect(deals.contains(";1000,5;"))
        let tasks = String(decoding: try Data(contentsOf: URL(fileURLWithPath: scratch.path("tasks-a.csv"))), as: UTF8.self)
        #expect(tasks.contains(";2026-11-25 10:00;"))
        // The instant survived: in UTC the task is due at 05:00.
        #expect(try shell(scratch.path("b/replica.sqlite"), "SELECT due_at FROM tasks") == "2026-11-25T05:00:00.000Z")
    }

    @Test func aNumberThatCouldBeReadTwoWaysIsRefusedNotGuessed() throws {
        let scratch = Scratch()
        let cli = scratch.cli()
        _ = try cli.ok(["init", "--user", "aigerim"])
        let account = try cli.ok(["add", "accounts", "name=Тумэн ХХК"])
        func amounts(_ csv: String) throws -> (CLI.Result, [String]) {
            try csv.write(toFile: scratch.path("deals.csv"), atomically: true, encoding: .utf8)
            let result = try cli.run(["import", "deals", scratch.path("deals.csv"), "--dry-run", "--json"])
            return (result, (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["problems"]
                .flatMap { $0 as? [[String: Any]] }?.compactMap { $0["reason"] as? String } ?? [])
        }
        // Cells split by ';': the decimal mark is a comma.
        let semi = "account_id;title;amount\r\n\(account);a;1.250.000,50\r\n\(account);b;1 250,5\r\n\(account);c;1.250\r\n\(account);d;1.5\r\n\(account);e;1,2.5\r\n"
        let (_, semiProblems) = try amounts(semi)
        #expect(semiProblems.count == 2, "\(semiProblems)")
        #expect(semiProblems.contains { $0.contains("'1.250' could be 1250 or 1.250") })
        #expect(semiProblems.contains { $0.contains("'1,2.5' mixes") })
        // Cells split by ',': the decimal mark is a point.
        let comma = "account_id,title,amount\r\n\(account),a,\"1,250,000.50\"\r\n\(account),b,\"1,250\"\r\n\(account),c,\"1,5\"\r\n"
        let (_, commaProblems) = try amounts(comma)
        #expect(commaProblems.count == 1 && commaProblems[0].contains("'1,250' could be 1250 or 1.250"), "\(commaProblems)")
        // What is not ambiguous is read as meant.
        try "account_id;title;amount\r\n\(account);a;1.250.000,50\r\n\(account);b;1 250,5\r\n\(account);d;1.5\r\n".write(toFile: scratch.path("ok.csv"), atomically: true, encoding: .utf8)
        _ = try cli.ok(["import", "deals", scratch.path("ok.csv")])
        let listed = try cli.ok(["list", "deals", "--order-by", "title"])
        #expect(listed.contains("1250000.5") && listed.contains("1250.5") && listed.contains("1.5"), "\(listed)")
    }

    @Test func textsExcelWouldChangeStayText() throws {
        let scratch = Scratch()
        let a = scratch.cli("a"), b = scratch.cli("b")
        _ = try a.ok(["init", "--user", "a"])
        _ = try b.ok(["init", "--user", "b"])
        let long = "- " + String(repeating: "пункт списка; ", count: 30)
        for name in ["12.11", "1,5", "1E5", "2026-11-25", long, "'=not a formula"] {
            _ = try a.ok(["add", "accounts", "name=\(name)"])
        }
        _ = try a.ok(["export", "accounts", scratch.path("a.csv"), "--excel"])
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: scratch.path("a.csv"))), as: UTF8.self)
        #expect(text.contains("\"=\"\"12.11\"\"\"") && text.contains("\"=\"\"1,5\"\"\"") && text.contains("\"=\"\"1E5\"\"\""))
        // Too long for a formula's text (255): an apostrophe keeps it from being one.
        #expect(text.contains(";\"'- пункт списка"))
        _ = try b.ok(["import", "accounts", scratch.path("a.csv")])
        let names = Set((try JSONSerialization.jsonObject(with: Data(try b.ok(["list", "accounts", "--json"]).utf8)) as? [[String: Any]] ?? [])
            .compactMap { ($0["values"] as? [String: Any])?["name"] as? String })
        #expect(names == ["12.11", "1,5", "1E5", "2026-11-25", long, "'=not a formula"])
    }
}
