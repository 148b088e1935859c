import Chronicle
import Foundation
internal import GRDB
import Logging

/// Appends per second of ``SQLiteEventStore``, beside the ceiling of the raw SQLite C API measured in the same
/// run: the figures behind `chronicle bench store`.
///
/// Each workload runs per `synchronous` mode, on a fresh file in the given folder, by four engines:
/// - the raw C API (`libsqlite3` through `GRDBSQLite`) on a thread of its own: one prepared `INSERT` of an event
///   row, without the instance index, in autocommit (one-event commits) or between prepared `BEGIN`/`COMMIT`
///   (batched);
/// - GRDB running that same SQL through a synchronous `DatabasePool` write on the same kind of thread: GRDB's
///   own cost;
/// - GRDB running it through its `async` write: what a hop from a task to GRDB's writer queue and back adds
///   (the store's own calls avoid it: they run on the calling thread, a processor's own);
/// - ``SQLiteEventStore/commit(_:)``, with everything a real commit does (JSON encoding, the version check and
///   the instance row).
///
/// The event is a typical `callCompleted` with a 120-byte reply, and the raw and GRDB rows carry the very JSON
/// the store writes for it. These are figures to read, not a test: they depend on the disk (FULL waits for
/// `fsync`) and on what else the machine does.
public enum StoreBenchmark {
    public struct Options: Sendable {
        /// How many one-event commits each engine makes, per mode.
        public var oneEventCommits: Int
        /// How many batched commits each engine makes, per mode.
        public var batchedCommits: Int
        /// Instances per batched commit, one event each.
        public var instancesPerBatch: Int
        /// The `synchronous` modes to measure.
        public var modes: [SQLiteEventStore.Synchronous]
        /// How many times each figure is measured; the report gives the median. The engines take turns, so that
        /// a slow spell of the disk falls on all of them alike.
        public var repetitions: Int

        public init(
            oneEventCommits: Int = 2_000,
            batchedCommits: Int = 100,
            instancesPerBatch: Int = 100,
            modes: [SQLiteEventStore.Synchronous] = [.full, .normal],
            repetitions: Int = 3
        ) {
            self.oneEventCommits = max(1, oneEventCommits)
            self.batchedCommits = max(1, batchedCommits)
            self.instancesPerBatch = max(1, instancesPerBatch)
            self.modes = modes
            self.repetitions = max(1, repetitions)
        }
    }

    public enum Workload: String, Hashable, Sendable, CaseIterable {
        case oneEventCommits = "one-event commits"
        case batchedCommits = "batched commits"
    }

    public enum Engine: String, Hashable, Sendable, CaseIterable {
        case rawSQLite = "raw C API"
        case grdb = "GRDB"
        case grdbAsync = "GRDB async"
        case store = "store"
    }

    public struct Measurement: Hashable, Sendable {
        public var engine: Engine
        public var workload: Workload
        public var synchronous: SQLiteEventStore.Synchronous
        public var appends: Int
        public var duration: Duration

        public var appendsPerSecond: Double { Double(appends) / max(duration.seconds, 1e-9) }
    }

    /// Runs every workload, engine and mode in fresh files under `directory`, removed afterwards.
    ///
    /// It takes from seconds to minutes, mostly waiting for the disk in FULL mode.
    public static func run(directory: String, options: Options = Options(), logger: Logger) async throws -> Report {
        var measurements: [Measurement] = []
        let bench = BenchmarkRun(directory: directory, options: options)
        for mode in options.modes {
            for workload in Workload.allCases {
                var runs: [Engine: [Measurement]] = [:]
                for _ in 0..<options.repetitions {
                    for engine in Engine.allCases {
                        let measurement = try await bench.measure(engine, workload, mode)
                        logger.info(
                            "Measured",
                            metadata: [
                                "chronicle.bench.engine": "\(engine.rawValue)",
                                "chronicle.bench.workload": "\(workload.rawValue)",
                                "chronicle.bench.synchronous": "\(mode)",
                                "chronicle.bench.appends_per_second": "\(Int(measurement.appendsPerSecond))",
                            ]
                        )
                        runs[engine, default: []].append(measurement)
                    }
                }
                for engine in Engine.allCases {
                    let sorted = runs[engine, default: []].sorted { $0.duration < $1.duration }
                    measurements.append(sorted[sorted.count / 2])
                }
            }
        }
        return Report(
            options: options,
            directory: directory,
            sqliteVersion: sqliteLibraryVersion,
            measurements: measurements
        )
    }
}

/// The benchmark's workloads, one fresh file each.
private struct BenchmarkRun: Sendable {
    let directory: String
    let options: StoreBenchmark.Options
    let instances: [String]
    let event: HistoryEvent
    let payload: String

    static let insertSQL = """
        INSERT INTO events (instance, sequence, type, format, payload, recorded_at) VALUES (?, ?, ?, ?, ?, ?)
        """
    static let tableSQL = """
        CREATE TABLE events (
            instance TEXT NOT NULL, sequence INTEGER NOT NULL, type TEXT NOT NULL, format INTEGER NOT NULL,
            payload TEXT NOT NULL, recorded_at REAL NOT NULL, PRIMARY KEY (instance, sequence)
        ) WITHOUT ROWID
        """

    init(directory: String, options: StoreBenchmark.Options) {
        self.directory = directory
        self.options = options
        instances = (0..<options.instancesPerBatch).map { "bench-\($0)" }
        let reply = Payload(
            json:
                #"{"hotel":"Grand Hotel Zürich","nights":3,"price":{"amount":"612.00","currency":"CHF"},"reservationId":"H-7F3A9C"}"#
        )
        event = HistoryEvent(.callCompleted(step: 4, attempt: 1, reply: reply), at: Date())
        payload = String(decoding: (try? StoreCoding.makeEncoder().encode(event.kind)) ?? Data(), as: UTF8.self)
    }

    /// Appends of one run: one-event commits make one each, batched commits one per instance.
    func appends(_ workload: StoreBenchmark.Workload) -> Int {
        switch workload {
        case .oneEventCommits: options.oneEventCommits
        case .batchedCommits: options.batchedCommits * options.instancesPerBatch
        }
    }

    func measure(
        _ engine: StoreBenchmark.Engine,
        _ workload: StoreBenchmark.Workload,
        _ mode: SQLiteEventStore.Synchronous
    ) async throws -> StoreBenchmark.Measurement {
        let path = (directory as NSString).appendingPathComponent("bench-\(UUID().uuidString).sqlite")
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let duration =
            switch engine {
            case .rawSQLite: try await onOwnThread { try raw(workload, mode, path: path) }
            case .grdb: try await onOwnThread { try grdb(workload, mode, path: path) }
            case .grdbAsync: try await grdbAsync(workload, mode, path: path)
            case .store: try await store(workload, mode, path: path)
            }
        return .init(
            engine: engine, workload: workload, synchronous: mode, appends: appends(workload), duration: duration)
    }

    // MARK: The raw C API

    private func raw(
        _ workload: StoreBenchmark.Workload,
        _ mode: SQLiteEventStore.Synchronous,
        path: String
    ) throws -> Duration {
        let connection = try RawSQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = \(mode.pragmaValue); \(Self.tableSQL)")
        let insert = try connection.prepare(Self.insertSQL)
        let begin = try connection.prepare("BEGIN IMMEDIATE")
        let commit = try connection.prepare("COMMIT")
        let type = event.kind.name
        let recordedAt = event.timestamp.storeTime
        var sequence = 0
        func insertRow(_ instance: String) throws {
            try insert.bind(instance, at: 1)
            try insert.bind(sequence, at: 2)
            try insert.bind(type, at: 3)
            try insert.bind(HistoryEvent.formatVersion, at: 4)
            try insert.bind(payload, at: 5)
            try insert.bind(recordedAt, at: 6)
            try insert.run()
            sequence += 1
        }
        for instance in instances { try insertRow(instance) }  // warm-up, untimed
        let clock = ContinuousClock()
        let start = clock.now
        switch workload {
        case .oneEventCommits:
            for index in 0..<options.oneEventCommits {
                try insertRow(instances[index % instances.count])
            }
        case .batchedCommits:
            for _ in 0..<options.batchedCommits {
                try begin.run()
                for instance in instances { try insertRow(instance) }
                try commit.run()
            }
        }
        return clock.now - start
    }

    // MARK: GRDB, same SQL

    /// GRDB's synchronous `write`, on a thread of its own like the raw C API, so that the difference between the
    /// two is GRDB's own cost; the store's `async` commit adds the hop to GRDB's writer queue and back.
    private func grdb(
        _ workload: StoreBenchmark.Workload,
        _ mode: SQLiteEventStore.Synchronous,
        path: String
    ) throws -> Duration {
        let pool = try DatabasePool(path: path)
        defer { try? pool.close() }
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(mode.pragmaValue)")
            try db.execute(sql: Self.tableSQL)
        }
        let rows = EventRows(type: event.kind.name, payload: payload, recordedAt: event.timestamp.storeTime)
        var sequence = 0
        try pool.write { db in try rows.insert(instances, from: 0, db) }  // warm-up, untimed
        sequence += instances.count
        let clock = ContinuousClock()
        let start = clock.now
        switch workload {
        case .oneEventCommits:
            for index in 0..<options.oneEventCommits {
                try pool.write { db in try rows.insert([instances[index % instances.count]], from: sequence, db) }
                sequence += 1
            }
        case .batchedCommits:
            for _ in 0..<options.batchedCommits {
                try pool.write { db in try rows.insert(instances, from: sequence, db) }
                sequence += instances.count
            }
        }
        return clock.now - start
    }

    private func grdbAsync(
        _ workload: StoreBenchmark.Workload,
        _ mode: SQLiteEventStore.Synchronous,
        path: String
    ) async throws -> Duration {
        let pool = try DatabasePool(path: path)
        defer { try? pool.close() }
        try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(mode.pragmaValue)")
            try db.execute(sql: Self.tableSQL)
        }
        let rows = EventRows(type: event.kind.name, payload: payload, recordedAt: event.timestamp.storeTime)
        let instances = self.instances
        var sequence = 0
        try await pool.write { db in try rows.insert(instances, from: 0, db) }  // warm-up, untimed
        sequence += instances.count
        let clock = ContinuousClock()
        let start = clock.now
        switch workload {
        case .oneEventCommits:
            for index in 0..<options.oneEventCommits {
                let instance = [instances[index % instances.count]]
                let first = sequence
                try await pool.write { db in try rows.insert(instance, from: first, db) }
                sequence += 1
            }
        case .batchedCommits:
            for _ in 0..<options.batchedCommits {
                let first = sequence
                try await pool.write { db in try rows.insert(instances, from: first, db) }
                sequence += instances.count
            }
        }
        return clock.now - start
    }

    private struct EventRows: Sendable {
        let type: String
        let payload: String
        let recordedAt: Double

        func insert(_ instances: [String], from sequence: Int, _ db: Database) throws {
            let statement = try db.cachedStatement(sql: BenchmarkRun.insertSQL)
            for (offset, instance) in instances.enumerated() {
                try statement.execute(arguments: [
                    instance, sequence + offset, type, HistoryEvent.formatVersion, payload, recordedAt,
                ])
            }
        }
    }

    // MARK: The store

    private func store(
        _ workload: StoreBenchmark.Workload,
        _ mode: SQLiteEventStore.Synchronous,
        path: String
    ) async throws -> Duration {
        let store = try SQLiteEventStore(
            configuration: .init(path: path, synchronous: mode),
            logger: Logger(label: "chronicle.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        defer { try? store.close() }
        var versions = [Int](repeating: 0, count: instances.count)
        func append(_ index: Int) -> InstanceAppend {
            defer { versions[index] += 1 }
            return InstanceAppend(
                instanceID: InstanceID(instances[index]),
                orchestration: "BookTrip",
                expectedVersion: versions[index],
                events: [event],
                status: .running,
                nextWakeUp: nil,
                at: event.timestamp
            )
        }
        try await store.commit(CommitBatch(appends: instances.indices.map(append)))  // warm-up, untimed
        let clock = ContinuousClock()
        let start = clock.now
        switch workload {
        case .oneEventCommits:
            for index in 0..<options.oneEventCommits {
                try await store.commit(CommitBatch(appends: [append(index % instances.count)]))
            }
        case .batchedCommits:
            for _ in 0..<options.batchedCommits {
                try await store.commit(CommitBatch(appends: instances.indices.map(append)))
            }
        }
        return clock.now - start
    }
}

/// Runs blocking C calls on a thread of their own rather than on the cooperative pool.
private func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            ProcessingThread.nameCurrentThread("bench-store")
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}
