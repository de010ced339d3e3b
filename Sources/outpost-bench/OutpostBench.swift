import ArgumentParser

/// `outpost-bench`: Outpost's benchmarks, one subcommand per measure. Run on a release build.
@main
struct OutpostBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost-bench",
        abstract: "Measure Outpost's speed. Build with -c release for figures worth recording.",
        discussion: """
            Each benchmark prints a readable report, or with --json one JSON object of named
            figures and nothing else. Record results in docs/benchmarks.md.

            Examples:
              swift run -c release outpost-bench merge
              swift run -c release outpost-bench merge --json --records 2000
            """,
        subcommands: [MergeBenchmark.self, ApplyBenchmark.self, ApplyFloorBenchmark.self, LocalWriteBenchmark.self, MetadataBenchmark.self, TripBenchmark.self, WireBenchmark.self, BootstrapBenchmark.self, SnapshotBenchmark.self, RelayBenchmark.self, SearchBenchmark.self, LoadBenchmark.self]
    )
}

/// Options every benchmark shares.
struct BenchmarkOptions: ParsableArguments {
    @Flag(help: "Print one JSON object of figures and nothing else.")
    var json = false
}
