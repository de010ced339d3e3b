// swift-tools-version: 6.1
import PackageDescription

// Module plan and dependency direction: docs/architecture.md.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Outpost",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "OutpostCore", targets: ["OutpostCore"]),
        .library(name: "OutpostSchema", targets: ["OutpostSchema"]),
        .library(name: "OutpostStore", targets: ["OutpostStore"]),
        .executable(name: "outpost", targets: ["outpost"]),
        .executable(name: "outpost-bench", targets: ["outpost-bench"]),
        .executable(name: "outpost-server", targets: ["outpost-server"]),
        .executable(name: "outpost-admin", targets: ["outpost-admin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
    ],
    targets: [
        .target(name: "OutpostCore", swiftSettings: strict),
        .target(name: "OutpostSchema", dependencies: ["OutpostCore"], swiftSettings: strict),
        .target(
            name: "OutpostStore",
            dependencies: ["OutpostCore", "OutpostSchema", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(name: "OutpostWire", dependencies: ["OutpostCore"], swiftSettings: strict),
        .target(
            name: "OutpostServer",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OutpostClient",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OutpostBranch",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostWire", "OutpostServer", "OutpostClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "OutpostTestSupport", dependencies: ["OutpostCore", "OutpostSchema"], swiftSettings: strict),
        .target(name: "OutpostTerminal", swiftSettings: strict),
        .target(
            name: "OutpostCLI",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostWire", "OutpostClient", "OutpostServer", "OutpostBranch", "OutpostTerminal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "outpost-server",
            dependencies: [
                "OutpostServer", "OutpostBranch", "OutpostClient", "OutpostWire", "OutpostSchema",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "outpost-admin",
            dependencies: [
                "OutpostClient", "OutpostWire", "OutpostCore", "OutpostTerminal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "outpost", dependencies: ["OutpostCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        .executableTarget(
            name: "outpost-bench",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostTestSupport", "OutpostServer", "OutpostClient", "OutpostWire", "OutpostBranch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
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
            name: "OutpostSyncTests",
            dependencies: [
                "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostWire", "OutpostServer", "OutpostClient", "OutpostTestSupport", "OutpostBranch",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OutpostCLITests",
            dependencies: ["outpost", "outpost-server", "outpost-admin", "OutpostCLI", "OutpostCore", "OutpostSchema", "OutpostStore", "OutpostTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
    ]
)
