// swift-tools-version:6.2
import PackageDescription

/// Settings every Chronicle target shares: Swift 6 language mode is the default of this tools version;
/// existential `any` is spelled out, and CI treats warnings as errors.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Chronicle",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Chronicle", targets: ["Chronicle"]),
        .library(name: "ChronicleTesting", targets: ["ChronicleTesting"]),
        .library(name: "ChronicleSQLite", targets: ["ChronicleSQLite"]),
        .library(name: "ChronicleAMQP", targets: ["ChronicleAMQP"]),
        .library(name: "TripBooking", targets: ["TripBooking"]),
        .executable(name: "chronicle", targets: ["chronicle"]),
        .executable(name: "chronicle-fuzz", targets: ["ChronicleFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // The core: orchestration API, history, deterministic replay, the ports. No I/O.
        .target(
            name: "Chronicle",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // In-memory store, transport and virtual clock for tests (ours and users').
        .target(
            name: "ChronicleTesting",
            dependencies: ["Chronicle", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // EventStore on SQLite.
        .target(
            name: "ChronicleSQLite",
            dependencies: [
                "Chronicle",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The raw C API, for the benchmark's ceiling (`chronicle bench store`).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // librabbitmq, wrapped.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // Transport on RabbitMQ.
        .target(
            name: "ChronicleAMQP",
            dependencies: [
                "Chronicle",
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The example domain: trip messages, BookTrip, fake hotel and flight services.
        .target(
            name: "TripBooking",
            dependencies: ["Chronicle", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chronicle",
            dependencies: [
                "Chronicle",
                "ChronicleTesting",
                "ChronicleSQLite",
                "ChronicleAMQP",
                "TripBooking",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The libFuzzer target: fuzz bytes become one delivery for the trip processor. scripts/fuzz.sh builds it with
        // `--sanitize=fuzzer -Xswiftc -DFUZZING`; a plain build makes a replayer of inputs given as files.
        .executableTarget(
            name: "ChronicleFuzz",
            dependencies: [
                "Chronicle",
                "ChronicleTesting",
                "TripBooking",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ChronicleTests",
            dependencies: ["Chronicle", "ChronicleTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TripBookingTests",
            dependencies: ["Chronicle", "ChronicleTesting", "ChronicleSQLite", "TripBooking"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ChronicleSQLiteTests",
            dependencies: ["Chronicle", "ChronicleSQLite", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // Commits batches until killed: the child process of ChronicleSQLiteTests' crash-safety test, which
        // finds it beside the test binary (`swift test` builds it).
        .executableTarget(
            name: "chronicle-store-stress",
            dependencies: ["Chronicle", "ChronicleSQLite", .product(name: "Logging", package: "swift-log")],
            path: "Sources/ChronicleSQLiteStress",
            swiftSettings: strictSettings
        ),
        // posix_spawn for the suites that run rabbitmqctl, openssl and scripts/broker.sh.
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        // Real processes (chronicle run, services, watch, start-trip), a real broker, real SQLite files.
        .testTarget(
            name: "ChronicleEndToEndTests",
            dependencies: [
                "chronicle",
                // The fault and fuzz suites publish with properties amqp-publish cannot set, and read dead letters.
                "Chronicle",
                "ChronicleAMQP",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ChronicleAMQPTests",
            dependencies: ["Chronicle", "ChronicleAMQP", "CRabbitMQ", "TestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
