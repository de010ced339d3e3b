import Foundation
import GRDB
import OutpostCore
import OutpostSchema

/// A record a search found, with the fields its words were found in.
public struct SearchHit: Hashable, Sendable {
    /// The record's collection.
    public let collection: String
    /// The record as it stands.
    public let record: RecordView
    /// The fields the search found it by, in schema order.
    public let fields: [String]
    /// How well it matched: a word found at the start of a word of the record's first text
    /// field (its name or title) ranks first, then at the start of any word, then inside one.
    public let rank: Int
}

/// A search's query in the form the index holds.
struct SearchQuery {
    /// The query's words in search form.
    let words: [String]
    /// The digits of a number query (a phone or tax id), if it is one.
    let digits: String?

    init(_ text: String) {
        words = NameMatching.searchWords(text)
        digits = PhoneMatching.searchQuery(text)
    }

    var isEmpty: Bool { words.isEmpty && digits == nil }

    /// The digit strings a number query looks for: as typed, and without a leading trunk
    /// prefix (8 in Kazakhstan and Russia, 0 in Vietnam), which the national form lacks.
    var digitForms: [String] {
        guard let digits else { return [] }
        if digits.count > 4, let first = digits.first, first == "8" || first == "0" { return [digits, String(digits.dropFirst())] }
        return [digits]
    }

    /// The conditions a candidate meets one of, best first (FTS5 takes one MATCH per query, so
    /// each way of matching is asked separately): every word in the name or title, then the
    /// digits, then every word anywhere. Trigrams find a part of three characters or more;
    /// shorter words and digits are checked with LIKE, a scan of the index's text.
    func conditions() -> [(sql: String, arguments: [DatabaseValue])] {
        var alternatives: [(String, [DatabaseValue])] = []
        if let inHead = wordCondition(headOnly: true) { alternatives.append(inHead) }
        for form in digitForms {
            alternatives.append(form.count >= 3 ? ("outpost_search MATCH ?", ["\"\(form)\"".databaseValue])
                                                : ("(head || ' | ' || rest) LIKE ?", ["%\(form)%".databaseValue]))
        }
        if let anywhere = wordCondition(headOnly: false) { alternatives.append(anywhere) }
        return alternatives
    }

    private func wordCondition(headOnly: Bool) -> (String, [DatabaseValue])? {
        var clauses: [String] = [], arguments: [DatabaseValue] = []
        let long = words.filter { $0.count >= 3 }
        if !long.isEmpty {
            clauses.append("outpost_search MATCH ?")
            arguments.append(long.map { headOnly ? "head : \"\($0)\"" : "\"\($0)\"" }.joined(separator: " AND ").databaseValue)
        }
        for word in words where word.count < 3 {
            clauses.append(headOnly ? "head LIKE ?" : "(head || ' | ' || rest) LIKE ?")
            arguments.append("%\(word)%".databaseValue)
        }
        return clauses.isEmpty ? nil : (clauses.joined(separator: " AND "), arguments)
    }

    /// Whether a field's search text holds the query, and how well (nil: it does not).
    func rank(in text: String, firstField: Bool) -> Int? {
        if digitForms.contains(where: { text.contains($0) }) { return firstField ? 3 : 2 }
        guard !words.isEmpty, words.allSatisfy({ text.contains($0) }) else { return nil }
        let atWordStart = words.allSatisfy { text.hasPrefix($0) || text.contains(" " + $0) }
        return atWordStart ? (firstField ? 3 : 2) : 1
    }

    /// How well a record's indexed text matches: its name or title first (nil: it does not
    /// match, the index was behind).
    func rank(head: String, rest: String) -> Int? {
        if let rank = rank(in: head, firstField: true) { return rank }
        if let rank = rank(in: rest, firstField: false) { return rank }
        // Words spread over several fields ("tumen almaty": name and city) match too.
        return rank(in: head + " | " + rest, firstField: false).map { _ in 0 }
    }
}

extension Replica {
    /// Most candidates a search ranks (per way of matching: words, digits).
    public static let searchCandidateLimit = 2_000

    /// Records indexed per transaction while the index catches up.
    static let searchIndexBatch = 5_000

    /// The text of a record's searchable fields (every string, text and set field but those of
    /// a few allowed values), each in
    /// search form, with the digit forms of phone numbers and tax ids.
    static func searchTexts(_ record: RecordView, spec: CollectionSpec) -> [(field: String, text: String)] {
        var texts: [(String, String)] = []
        // A field of a few allowed values (a kind, a status) would match half the replica.
        for field in spec.fields where field.allowedValues == nil {
            switch record.values[field.name] ?? .null {
            case .string(let value):
                var parts = [NameMatching.searchForm(value)]
                if field.type == .string, let digits = PhoneMatching.searchForms(value) { parts += digits }
                let text = parts.filter { !$0.isEmpty }.joined(separator: " ")
                if !text.isEmpty { texts.append((field.name, text)) }
            case .set(let items):
                let text = items.map(NameMatching.searchForm).filter { !$0.isEmpty }.joined(separator: " ")
                if !text.isEmpty { texts.append((field.name, text)) }
            default:
                continue
            }
        }
        return texts
    }

    /// Brings the search index up to this replica's feed: every record changed since the last
    /// search is indexed again (or dropped, when it is gone). Apply does no search work; the
    /// first search after a sync pays for what the sync brought. Returns records indexed.
    @discardableResult
    public func updateSearchIndex(progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Int {
        let (through, end) = try read { db -> (Int64, Int64) in
            let through = try Int64.fetchOne(db, sql: "SELECT value FROM outpost_meta WHERE key = 'search_through'") ?? 0
            return (through, try Int64.fetchOne(db, sql: "SELECT max(seq) FROM outpost_feed") ?? 0)
        }
        guard through != end else { return 0 }
        // A feed that is shorter than what was indexed belongs to another file (a restore, a
        // snapshot): index it all again.
        let from = through > end ? 0 : through
        if from == 0 { try write { db in try Self.dropSearchIndex(db) } }
        let changed = try read { db in
            // From the start, every live record: one whose history head office purged has no
            // feed entry to name it.
            try (from == 0 ? Row.fetchAll(db, sql: "SELECT collection, id FROM outpost_records WHERE live = 1")
                           : Row.fetchAll(db, sql: "SELECT DISTINCT collection, record_id FROM outpost_feed WHERE seq > ? AND seq <= ?",
                                          arguments: [from, end])).map { ($0[0] as String, $0[1] as String) }
        }
        var done = 0
        for batch in stride(from: 0, to: changed.count, by: Self.searchIndexBatch) {
            let records = changed[batch..<min(batch + Self.searchIndexBatch, changed.count)]
            try write { db in
                for (collection, id) in records { try indexForSearch(db, collection: collection, id: id) }
            }
            done += records.count
            progress?(done, changed.count)
        }
        try write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO outpost_meta (key, value) VALUES ('search_through', ?)", arguments: [end])
        }
        return changed.count
    }

    /// Finds live records whose names, phones, e-mails, tax ids, notes or other text hold every
    /// word of `text` (in any case, with or without diacritics, in Cyrillic or Latin), or whose
    /// phone or tax id holds its digits. Best matches first.
    public func search(_ text: String, in collections: Set<String>? = nil, limit: Int = 50) throws -> [SearchHit] {
        let query = SearchQuery(text)
        guard !query.isEmpty else {
            throw StoreError(.invalidInput, "Search for at least one letter or digit.")
        }
        try updateSearchIndex()
        return try read { db in
            var candidates: [(collection: String, id: String, rank: Int, label: String)] = [], seen = Set<String>()
            let only = collections.map { Array($0) } ?? []
            let inCollections = only.isEmpty ? "" : " AND k.collection IN (\(only.map { _ in "?" }.joined(separator: ", ")))"
            for (condition, arguments) in query.conditions() {
                for row in try Row.fetchAll(db, sql: """
                    SELECT k.collection, k.record_id, head, rest FROM outpost_search JOIN outpost_search_keys k ON k.rowid = outpost_search.rowid
                    WHERE \(condition)\(inCollections) LIMIT \(Self.searchCandidateLimit)
                    """, arguments: StatementArguments(arguments + only.map(\.databaseValue))) {
                    let (collection, id, head, rest): (String, String, String, String) = (row[0], row[1], row[2], row[3])
                    guard collections?.contains(collection) ?? true, seen.insert(collection + "\u{1F}" + id).inserted,
                          let rank = query.rank(head: head, rest: rest) else { continue }
                    candidates.append((collection, id, rank, head))
                }
            }
            candidates.sort { $0.rank != $1.rank ? $0.rank > $1.rank : $0.label != $1.label ? $0.label < $1.label : $0.id < $1.id }
            var hits: [SearchHit] = []
            for candidate in candidates {
                guard hits.count < limit else { break }
                guard let table = tables[candidate.collection],
                      let found = try Row.fetchOne(db.cachedStatement(sql: table.selectSQL), arguments: [candidate.id]) else { continue }
                let record = Self.view(found, table.spec)
                let texts = Self.searchTexts(record, spec: table.spec)
                var fields = texts.filter { query.rank(in: $0.text, firstField: false) != nil }.map(\.field)
                if fields.isEmpty { fields = texts.filter { t in query.words.contains { t.text.contains($0) } }.map(\.field) }
                hits.append(SearchHit(collection: candidate.collection, record: record, fields: fields, rank: candidate.rank))
            }
            return hits
        }
    }

    /// Indexes one record as it stands here (or drops it from the index when it is gone).
    func indexForSearch(_ db: Database, collection: String, id: String) throws {
        try Self.forgetSearchText(db, collection: collection, id: id)
        guard let table = tables[collection], let row = try Row.fetchOne(db.cachedStatement(sql: table.selectSQL), arguments: [id]) else { return }
        let texts = Self.searchTexts(Self.view(row, table.spec), spec: table.spec)
        guard !texts.isEmpty else { return }
        let first = table.spec.fields.first { $0.type == .string }?.name
        let head = texts.first { $0.field == first }?.text ?? ""
        let rest = texts.filter { $0.field != first }.map(\.text).joined(separator: " | ")
        try db.cachedStatement(sql: "INSERT INTO outpost_search_keys (collection, record_id) VALUES (?, ?)").execute(arguments: [collection, id])
        try db.cachedStatement(sql: "INSERT INTO outpost_search (rowid, head, rest) VALUES (?, ?, ?)").execute(arguments: [db.lastInsertedRowID, head, rest])
    }

    /// Keeps the index's position honest after feed entries were deleted: the feed's positions
    /// are not AUTOINCREMENT, so the next change may take a deleted position at or below the
    /// one the index was filled to, and would be skipped.
    static func feedShrank(_ db: Database) throws {
        try db.cachedStatement(sql: """
            UPDATE outpost_meta SET value = min(value, (SELECT coalesce(max(seq), 0) FROM outpost_feed)) WHERE key = 'search_through'
            """).execute()
    }

    /// Empties the search index (it is filled again from the feed at the next search).
    static func dropSearchIndex(_ db: Database) throws {
        try db.execute(sql: """
            DELETE FROM outpost_search_keys;
            DROP TABLE outpost_search;
            CREATE VIRTUAL TABLE outpost_search USING fts5(head, rest, tokenize = 'trigram');
            INSERT OR REPLACE INTO outpost_meta (key, value) VALUES ('search_through', 0);
            """)
    }

    /// Drops the search text of records removed without a feed entry (evicted), so no part of
    /// them stays readable in the index.
    static func forgetSearchText(_ db: Database, collection: String, id: String) throws {
        guard let key = try Int64.fetchOne(db.cachedStatement(sql: "SELECT rowid FROM outpost_search_keys WHERE collection = ? AND record_id = ?"),
                                           arguments: [collection, id]) else { return }
        try db.cachedStatement(sql: "DELETE FROM outpost_search WHERE rowid = ?").execute(arguments: [key])
        try db.cachedStatement(sql: "DELETE FROM outpost_search_keys WHERE rowid = ?").execute(arguments: [key])
    }
}
