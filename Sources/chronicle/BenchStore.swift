import ArgumentParser
import ChronicleSQLite
import Foundation
import Logging

/// `chronicle bench store`: the SQLite event store's appends per second beside the raw SQLite ceiling.
struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Appends per second of the SQLite event store, beside the raw SQLite C API in the same run.",
        discussion: """
            Measures one-event commits and batched commits (--batch-size instances, one event each), with \
            synchronous FULL (the default: every commit survives a power loss) and NORMAL, for four engines on \
            fresh files: the raw SQLite C API inserting the same event rows (the ceiling), GRDB running that \
            same SQL synchronously (GRDB's own cost) and through its async write (adding a hop to GRDB's queue \
            and back, which the store's own calls avoid by running on the caller's thread), and \
            SQLiteEventStore.commit. Targets: batched commits at 50 % or more of the raw batched figure; \
            one-event commits within 20 % of raw single-row commits. FULL waits for the disk, so run it on the \
            disk the store will live on (--directory), and \
            from a release build: swift run -c release chronicle bench store.
            """
    )

    enum Modes: String, ExpressibleByArgument, CaseIterable {
        case both, full, normal

        var synchronous: [SQLiteEventStore.Synchronous] {
            switch self {
            case .both: [.full, .normal]
            case .full: [.full]
            case .normal: [.normal]
            }
        }
    }

    @Option(help: "The folder for the benchmark's files (removed afterwards). Default: a new temporary folder.")
    var directory: String?

    @Option(help: "One-event commits per engine and mode.")
    var commits = 2_000

    @Option(parsing: .unconditional, help: "Batched commits per engine and mode.")
    var batches = 100

    @Option(parsing: .unconditional, help: "Instances per batched commit.")
    var batchSize = 100

    @Option(parsing: .unconditional, help: "How many times to measure each figure; the median is printed.")
    var repetitions = 3

    @Option(help: "The synchronous modes to measure: \(Modes.allCases.map(\.rawValue).joined(separator: ", ")).")
    var synchronous = Modes.both

    func validate() throws {
        let counts = [
            ("--commits", commits), ("--batches", batches), ("--batch-size", batchSize), ("--repetitions", repetitions),
        ]
        for (name, value) in counts
        where value < 1 {
            throw ValidationError("\(name) must be at least 1 (got \(value)).")
        }
    }

    func run() async throws {
        let fileManager = FileManager.default
        let folder: String
        if let directory {
            folder = directory
        } else {
            folder = fileManager.temporaryDirectory.appendingPathComponent("chronicle-bench-\(UUID().uuidString)").path
            try fileManager.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        defer {
            if directory == nil { try? fileManager.removeItem(atPath: folder) }
        }
        let report = try await StoreBenchmark.run(
            directory: folder,
            options: .init(
                oneEventCommits: commits,
                batchedCommits: batches,
                instancesPerBatch: batchSize,
                modes: synchronous.synchronous,
                repetitions: repetitions
            ),
            logger: Logger(label: "chronicle.bench")
        )
        print(report)
    }
}
