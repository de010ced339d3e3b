// swift-tools-version: 6.1
import PackageDescription

// Module plan and dependency direction: docs/architecture.md.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Outpost",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "OutpostCore", targets: ["OutpostCore"]),
        .library(name: "OutpostSchema", targets: ["OutpostSchema"]),
        .library(name: "OutpostStore", targets: ["OutpostStore"]),
        .executable(name: "outpost", targets: ["outpost"]),
        .executable(name: "outpost-bench", targets: ["outpost-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        .target(name: "OutpostCore", swiftSettings: strict),
        .target(name: "OutpostSchema", dependencies: ["OutpostCore"], swiftSettings: strict),
        .target(
            name: "OutpostStore",
            dependencies: ["OutpostCore", "OutpostSchema", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(name: "OutpostTestSupport", dependencies: ["OutpostCore", "OutpostSchema"], swiftSettings: strict),
        .target(
            name: "OutpostCLI",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "outpost", dependencies: ["OutpostCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        .executableTarget(
            name: "outpost-bench",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OutpostCoreTests",
            dependencies: [
                "OutpostCore", "OutpostTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OutpostStoreTests",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OutpostCLITests",
            dependencies: ["outpost", "OutpostCLI", "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
    ]
)
