import Foundation

/// How names are compared across the scripts and spellings of the markets Outpost is sold in
/// (Kazakhstan, Uzbekistan, Mongolia, Russia, Vietnam): the rules live here and in
/// `docs/matching.md`, and both the admin's duplicate search and later the rep's search use them.
///
/// A name is reduced to a *match form*: lower-cased; Cyrillic (Russian, Kazakh, Mongolian,
/// Uzbek) written in Latin letters; diacritics and Vietnamese marks dropped; punctuation and
/// quotes dropped; legal-form words (ТОО, ООО, ЖШС, ХХК, MChJ, LLC, JSC, Công ty, …) set aside;
/// and the letters that transliteration systems disagree on folded together (kh/x/h, q/k, y/i/j,
/// ts/c, doubled letters). "Тошкент Савдо" and "Toshkent Savdo MChJ" both become "toshkent savdo".
public enum NameMatching {
    /// The match form of a name, or nil when nothing is left (only a legal form, or punctuation).
    public static func matchForm(_ text: String) -> String? {
        let originals = text.split(whereSeparator: isSeparator).map(String.init)
        let words = originals.map { latin($0) }
        var kept: [String] = []
        var i = 0
        while i < words.count {
            // Two-word legal forms first ("cong ty", "co ltd").
            if i + 1 < words.count, legalForms.contains(words[i] + " " + words[i + 1]) {
                i += 2
                continue
            }
            // Short forms that are also words ("Ақ Жол", "Áo") count only in capitals (АҚ, АО).
            let isForm = legalForms.contains(words[i]) && (!ambiguousForms.contains(words[i]) || originals[i] == originals[i].uppercased())
            if !isForm { kept.append(fold(words[i])) }
            i += 1
        }
        let result = kept.filter { !$0.isEmpty }.joined(separator: " ")
        return result.isEmpty ? nil : result
    }

    /// The search form of a text: every word in its match spelling (Latin, no diacritics, the
    /// disputed letters folded), legal forms kept, joined by single spaces. The rep's search
    /// indexes and queries this form, so "тумэн", "Tumen" and "ТУМЭН" find "Тумэн ХХК", and
    /// "nguyen" finds "Nguyễn"; a word typed in part matches its beginning or middle.
    public static func searchForm(_ text: String) -> String {
        text.split(whereSeparator: isSeparator).map { fold(latin(String($0))) }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The words a search looks for, in search form. Legal forms are left out unless nothing
    /// else is asked ("Tumen LLC" finds "Тумэн ХХК": the legal form is spelled too many ways).
    public static func searchWords(_ text: String) -> [String] {
        let latinWords = text.split(whereSeparator: isSeparator).map { latin(String($0)) }
        let named = latinWords.filter { !legalForms.contains($0) }
        return (named.isEmpty ? latinWords : named).map(fold).filter { !$0.isEmpty }
    }

    /// What separates words: anything but a letter, a digit or an apostrophe (Uzbek oʻ, gʻ).
    static func isSeparator(_ ch: Character) -> Bool { !ch.isLetter && !ch.isNumber && !"ʻʼ'`‘’".contains(ch) }

    /// The text in lower-case Latin letters without diacritics.
    public static func latin(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var ascii = true
        for ch in text.lowercased() {
            if let mapped = cyrillic[ch] { out += mapped; continue }
            switch ch {
            case "đ": out += "d"
            // Kazakh Latin (2021): ş, ç, ı, ğ.
            case "ş": out += "sh"
            case "ç": out += "ch"
            case "ı": out += "i"
            case "ğ": out += "g"
            case "ʻ", "ʼ", "'", "`", "‘", "’": continue  // Uzbek oʻ, gʻ and apostrophes
            default:
                if !ch.isASCII { ascii = false }
                out.append(ch)
            }
        }
        // Text already in plain Latin letters has no diacritics to drop (the common case, and
        // Foundation's folding is the slow part of indexing).
        return ascii ? out : out.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil)
    }

    /// The spellings transliteration systems disagree on, replaced in this order.
    static let folds: [(from: [UInt8], to: [UInt8])] = [
        ("kh", "h"), ("x", "h"), ("q", "k"), ("ts", "c"), ("tc", "c"), ("zh", "j"), ("dzh", "j"), ("dj", "j"),
        ("yo", "e"), ("yu", "u"), ("iu", "u"), ("ya", "a"), ("ia", "a"), ("ye", "e"), ("y", "i"), ("w", "v"), ("ph", "f"),
    ].map { (Array($0.0.utf8), Array($0.1.utf8)) }

    /// Folds the letters transliteration systems disagree on, so that each spelling of a name
    /// gives the same form.
    static func fold(_ word: String) -> String {
        var w = Array(word.utf8)
        for (from, to) in folds { w = replacing(from, with: to, in: w) }
        // Doubled letters ("Savdoo", "Ассоль") count once; doubled digits are part of a number.
        guard w.allSatisfy({ $0 < 0x80 }) else {
            // Letters folding kept (Greek, Georgian, traditional Mongolian): whole characters,
            // never bytes of them.
            var collapsed = ""
            for ch in String(decoding: w, as: UTF8.self) where !(ch == collapsed.last && ch.isLetter) { collapsed.append(ch) }
            return collapsed
        }
        var collapsed: [UInt8] = []
        collapsed.reserveCapacity(w.count)
        for byte in w where !(byte == collapsed.last && ((byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A))) { collapsed.append(byte) }
        return String(decoding: collapsed, as: UTF8.self)
    }

    /// Every non-overlapping occurrence of `target`, left to right, replaced (on UTF-8 bytes:
    /// the targets are ASCII, so a match never splits a character).
    private static func replacing(_ target: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= target.count, bytes.contains(target[0]) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == target[0], i + target.count <= bytes.count, bytes[i..<(i + target.count)].elementsEqual(target) {
                out += replacement
                i += target.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// Legal forms that are also ordinary words (Kazakh "ақ" white, Vietnamese "áo", Russian
    /// "жк" housing estate): set aside only when written in capitals.
    static let ambiguousForms: Set<String> = ["ak", "aq", "ao", "ip", "jk", "zhk", "aj", "tok", "cp"]

    /// Legal-form words, in their Latin match spelling (before folding).
    static let legalForms: Set<String> = [
        // Kazakhstan, Russia: ТОО, ЖШС, АО, АҚ, ООО, ОАО, ЗАО, ПАО, ИП, ЖК, ТОО's Latin spellings.
        "too", "zhshs", "jshs", "ao", "ak", "aq", "ooo", "oao", "zao", "pao", "ip", "zhk", "jk", "llp",
        // Uzbekistan: MChJ, МЧЖ, AJ, ХК, QK, XK, YaTT.
        "mchj", "mchzh", "aj", "azh", "hk", "khk", "xk", "qk", "yatt",
        // Mongolia: ХХК, ХК, ТӨК.
        "hhk", "khkhk", "xxk", "tok",
        // International and Vietnam.
        "llc", "ltd", "inc", "jsc", "plc", "corp", "co ltd", "gmbh", "cong ty", "tnhh", "co phan", "cp", "ctcp", "mtv",
    ]

    /// Cyrillic letters of Russian, Kazakh, Mongolian and Uzbek in Latin, as their national
    /// Latin alphabets write them (Uzbek: sh, ch, oʻ, gʻ; Kazakh: q, ǵ → g; Mongolian: ө, ү).
    static let cyrillic: [Character: String] = [
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "zh", "з": "z", "и": "i", "й": "y",
        "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
        "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
        // Kazakh
        "ә": "a", "ғ": "g", "қ": "q", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
        // Uzbek
        "ў": "o", "ҳ": "h",
    ]
}

/// Phone numbers compared as national numbers: digits only, the country code (7, 998, 976, 84)
/// or the trunk prefix (8 in Kazakhstan and Russia, 0 in Vietnam) dropped. A number written with
/// or without them gives the same form; Almaty 727 and Astana 717 numbers stay apart.
public enum PhoneMatching {
    /// The digit forms a phone number or tax id is found by: every digit as written, and the
    /// national number when it differs; nil when the text holds letters or fewer than five digits.
    public static func searchForms(_ text: String) -> [String]? {
        guard !text.contains(where: \.isLetter) else { return nil }
        let digits = text.filter { $0.isASCII && $0.isNumber }
        guard digits.count >= 5 else { return nil }
        let national = matchForm(text)
        return national == nil || national == digits ? [digits] : [digits, national!]
    }

    /// The digits a search for a number looks for: a leading `+` drops the country code
    /// (+7, +998, +976, +84), so "+7 701 123" finds "8 (701) 123-45-67". Nil when the query is
    /// not a number of at least three digits.
    public static func searchQuery(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.contains(where: \.isLetter) else { return nil }
        var digits = Substring(trimmed.filter { $0.isASCII && $0.isNumber })
        guard digits.count >= 3 else { return nil }
        if trimmed.hasPrefix("+") || trimmed.hasPrefix("00") {
            if trimmed.hasPrefix("00") { digits = digits.dropFirst(2) }
            for code in ["998", "976", "84", "7"] where digits.hasPrefix(code) && digits.count > code.count + 2 {
                digits = digits.dropFirst(code.count)
                break
            }
        }
        return String(digits)
    }

    /// The match form of a phone number, or nil when it has fewer than six digits.
    public static func matchForm(_ text: String) -> String? {
        var digits = Substring(text.filter { $0.isASCII && $0.isNumber })
        guard digits.count >= 6 else { return nil }
        if digits.hasPrefix("00") { digits = digits.dropFirst(2) }
        switch (digits.count, digits.first) {
        case (12, _) where digits.hasPrefix("998"): digits = digits.dropFirst(3)   // Uzbekistan: 9 digits
        case (11, _) where digits.hasPrefix("976"): digits = digits.dropFirst(3)   // Mongolia: 8 digits
        case (11, "7"), (11, "8"): digits = digits.dropFirst()                     // Kazakhstan, Russia: 10 digits
        case (11...12, _) where digits.hasPrefix("84"): digits = digits.dropFirst(2) // Vietnam
        case (10...11, "0"): digits = digits.dropFirst()                           // a Vietnamese trunk 0
        default: break
        }
        return String(digits)
    }
}
