import ArgumentParser
import Foundation
import OutpostCore
import OutpostStore
import OutpostTestSupport

/// `outpost-bench search`: the rep's search over a replica of many accounts.
struct SearchBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "A replica of N accounts in five languages; time to index them and to answer queries.",
        discussion: """
            Accounts get names, cities, phones and e-mails in Russian, Kazakh, Uzbek Latin,
            Mongolian and Vietnamese. The index is built once (what the first search after a
            bootstrap pays), then each query runs `--runs` times; the report gives the median and
            the slowest per query kind. Target for 100,000 accounts: under 50 ms per query.

            Example:
              swift run -c release outpost-bench search --accounts 100000
            """)

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "Accounts in the replica.") var accounts = 100_000
    @Option(help: "Times each query runs.") var runs = 20

    func run() async throws {
        let folder = BenchFolder()
        defer { folder.remove() }
        let replica = try Replica.create(at: folder.path("replica.sqlite"), options: ReplicaOptions(user: "aigerim", device: "bench"))
        var rng = SplitMix64(seed: 12)
        let stems = ["Тумэн", "Алтын", "Nguyễn Văn", "Toshkent Savdo", "Қазақ Тауар", "Өргөө", "Trần Thị", "Самарқанд", "Көкжиек", "Bình Minh"]
        let forms = ["ХХК", "ТОО", "MChJ", "Công ty TNHH", "ЖШС", "ООО"]
        let cities = ["Алматы", "Астана", "Toshkent", "Улаанбаатар", "Hà Nội", "Шымкент", "Samarqand", "Đà Nẵng"]
        for start in stride(from: 0, to: accounts, by: 10_000) {
            let rows = (start..<min(start + 10_000, accounts)).map { n -> ImportRow in
                let stem = stems[Int(rng.next() % UInt64(stems.count))]
                let name = "\(forms[n % forms.count]) \(stem) \(n)"
                return ImportRow(line: n + 2, id: nil, values: [
                    "name": .string(name), "city": .string(cities[Int(rng.next() % UInt64(cities.count))]),
                    "phone": .string("+7 7\(String(format: "%02d", n % 100)) \(String(format: "%03d", n / 100 % 1000))-\(String(format: "%02d", n % 97))-\(String(format: "%02d", n % 89))"),
                    "email": .string("client\(n)@example.kz"), "tax_id": .string(String(format: "%012d", 100_000_000_000 + n * 7919)),
                ])
            }
            _ = try replica.importRows("accounts", rows)
        }
        let clock = ContinuousClock()
        var indexed = 0
        let build = try clock.measure { indexed = try replica.updateSearchIndex() }
        let queries: [(String, String)] = [
            ("cyrillic_word", "тумэн"), ("latin_spelling", "tumen"), ("upper_case", "ТУМЭН"), ("no_diacritics", "nguyen van"),
            ("two_words", "altyn almaty"), ("exact_name", "Toshkent Savdo 4242"), ("phone_digits", "+7 742 042"),
            ("email_part", "client9999"), ("two_letters", "ал"), ("nothing_found", "zzqxw"),
        ]
        var figures: [(String, Double)] = [("accounts", Double(accounts)), ("records_indexed", Double(indexed)), ("index_build_seconds", build.seconds)]
        var hitsPerQuery: [String: Int] = [:]
        for (kind, text) in queries {
            var times: [Double] = []
            for _ in 0..<runs {
                var hits: [SearchHit] = []
                let elapsed = try clock.measure { hits = try replica.search(text, limit: 50) }
                times.append(elapsed.seconds * 1000)
                hitsPerQuery[kind] = hits.count
            }
            times.sort()
            figures.append(("\(kind)_median_ms", times[times.count / 2]))
            figures.append(("\(kind)_max_ms", times.last!))
            figures.append(("\(kind)_hits", Double(hitsPerQuery[kind] ?? 0)))
        }
        Report.print(figures, json: options.json, title: "search: \(accounts) accounts, \(runs) runs per query (50 hits at most)")
    }
}
