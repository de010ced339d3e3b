import OutpostSchema
import Testing

/// The matching rules of docs/matching.md, on real-looking names of the markets Outpost is sold
/// in: pairs that are the same customer, and pairs that must stay apart.
struct NameMatchingTests {
    @Test func lettersOfOtherScriptsAreKeptWhole() {
        // Three-byte letters (traditional Mongolian, CJK) and doubled non-Latin letters.
        #expect(NameMatching.searchForm("ᠮᠣᠩᠭᠣᠯ 丸丸山") == "ᠮᠣᠩᠭᠣᠯ 丸山")
        #expect(!NameMatching.searchForm("ᠠᠠ 丸").contains("\u{FFFD}"))
        #expect(NameMatching.matchForm("丸山") != NameMatching.matchForm("丸川"))
        #expect(NameMatching.searchForm("Магазин 22") == "magazin 22")
    }

    static let same: [(String, String, String)] = [
        ("Uzbek Cyrillic and Latin, legal form", "Тошкент Савдо", "Toshkent Savdo MChJ"),
        ("Uzbek oʻ and gʻ", "Ўзбекистон Ғалла ХК", "Oʻzbekiston Gʻalla XK"),
        ("Uzbek apostrophe typed plainly", "Oʻzbekiston Gʻalla", "O'zbekiston G'alla"),
        ("Russian quotes and legal form", "ООО «Ромашка»", "Romashka LLC"),
        ("Kazakh ТОО and Latin", "ТОО «Алтын-Ай»", "Altyn-Ai TOO"),
        ("Kazakh letters", "Қазақ Астығы ЖШС", "Qazaq Astygy"),
        ("Kazakh қ as k, ы as y", "Қарағанды Көмір", "Karagandy Komir"),
        ("Mongolian ХХК and э", "Тумэн ХХК", "Tumen LLC"),
        ("Mongolian ө and ү", "Өргөө Түмэн", "Orgoo Tumen"),
        ("Mongolian kh spelling", "Хаан Транс ХХК", "Khaan Trans"),
        ("Vietnamese with and without marks", "Công ty TNHH Đông Á", "Dong A"),
        ("Vietnamese case and spacing", "CÔNG TY  Hà Nội  Xanh", "ha noi xanh"),
        ("spacing and punctuation", "Тумэн  ХХК", "тумэн, ххк"),
        ("Russian ya and Latin ia", "Заря", "Zaria"),
        ("Uzbek x and Cyrillic х", "Xorazm Oziq", "Хоразм Озиқ"),
        ("Kazakh Latin of 2021", "Şymkent Bırlık", "Шымкент Бірлік"),
        ("a capital АҚ is a legal form", "АҚ «Қазақ Астық»", "Qazaq Astyq JSC"),
    ]

    static let different: [(String, String, String)] = [
        ("another city in the name", "Тошкент Савдо", "Самарқанд Савдо"),
        ("another word", "Алтын-Ай", "Алтын-Тау"),
        ("Vietnamese names that differ by more than marks", "Công ty Đông Á", "Công ty Đông Hải"),
        ("the legal form is not the name", "ТОО «Алтын-Ай»", "ТОО «Береке»"),
        ("Mongolian words that differ", "Тумэн ХХК", "Түмэн Наст ХХК"),
        ("Kazakh ақ (white) is a word, not a legal form", "Ақ Жол", "Жол"),
        ("Vietnamese áo is a word", "Áo Dài Việt", "Dài Việt"),
    ]

    @Test(arguments: same.indices)
    func spellingsOfOneCustomerMatch(index: Int) {
        let (why, a, b) = Self.same[index]
        #expect(NameMatching.matchForm(a) != nil)
        #expect(NameMatching.matchForm(a) == NameMatching.matchForm(b), "\(why): \(a) → \(NameMatching.matchForm(a) ?? "nil"), \(b) → \(NameMatching.matchForm(b) ?? "nil")")
    }

    @Test(arguments: different.indices)
    func differentCustomersStayApart(index: Int) {
        let (why, a, b) = Self.different[index]
        #expect(NameMatching.matchForm(a) != NameMatching.matchForm(b), "\(why): both → \(NameMatching.matchForm(a) ?? "nil")")
    }

    @Test func aLegalFormAloneIsNoName() {
        #expect(NameMatching.matchForm("ТОО") == nil)
        #expect(NameMatching.matchForm(" «» ") == nil)
    }

    @Test func phonesMatchInInternationalForm() {
        #expect(PhoneMatching.matchForm("+976 9911 2233") == PhoneMatching.matchForm("9911-2233"))
        #expect(PhoneMatching.matchForm("+7 (701) 555-12-34") == PhoneMatching.matchForm("8 701 555 1234"))
        #expect(PhoneMatching.matchForm("+998 90 123 45 67") == PhoneMatching.matchForm("90 123-45-67"))
        #expect(PhoneMatching.matchForm("+84 24 3825 1234") == PhoneMatching.matchForm("024 3825 1234"))
        #expect(PhoneMatching.matchForm("+7 701 555 1234") != PhoneMatching.matchForm("+7 701 555 4321"))
        #expect(PhoneMatching.matchForm("+7 727 250 1234") != PhoneMatching.matchForm("+7 717 250 1234"), "Almaty and Astana")
        #expect(PhoneMatching.matchForm("+7 701 555 1234") != PhoneMatching.matchForm("+7 771 555 1234"), "two mobile operators")
        #expect(PhoneMatching.matchForm("024 3825 1234") != PhoneMatching.matchForm("028 3825 1234"), "Hanoi and Ho Chi Minh City")
        #expect(PhoneMatching.matchForm("12-34") == nil)
    }
}
