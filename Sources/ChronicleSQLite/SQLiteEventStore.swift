import Chronicle
import Foundation
internal import GRDB
import Logging

/// The ``EventStore`` on an SQLite file: histories, instance index, outbox, inbox and timers.
///
/// The file is in WAL mode with one writer connection and a pool of readers (GRDB's `DatabasePool`), so reads
/// never block a commit and a commit never blocks reads. The processing loop's own reads between its commits
/// (the inbox lookup, loading instances) use the writer connection, whose page cache holds what it just wrote.
/// ``commit(_:)`` writes a whole batch in one transaction. With the default ``Synchronous/full`` a commit that
/// returned is on the disk and survives a power loss; see ``Synchronous/normal`` for the trade-off.
///
/// Why GRDB rather than the C API: `chronicle bench store` measures GRDB running the store's `INSERT` against the
/// raw C API on the same thread. On a shared 2-core VM (SQLite 3.40.1) GRDB kept 83–98 % of the raw rate for
/// one-event commits with FULL and 84–98 % for batched commits, but only 73–81 % for one-event commits with
/// NORMAL (some 7 µs more per commit, on 23 µs): more than the 10 % the issue allows on that path, which this
/// comment is here to say. GRDB stays because that is not where a commit's time goes — the JSON encoding and
/// the instance row cost more — while it gives the WAL reader pool, migrations and statement cache that a store
/// on the C API would have to rebuild.
///
/// Every call but ``purge(finishedBefore:)`` and ``checkIntegrity()`` — the commit, the loads, the inbox lookup,
/// the outbox, timer and instance reads — runs on the calling thread and returns when SQLite is done. A
/// ``Processor`` makes them from its ``ProcessingThread``, so its store work takes no hop to another thread and
/// back (on a busy machine, each hop waits to be scheduled: `chronicle bench` measured the loop's latency falling
/// by a fifth without them). They are short — a batch's commit takes about a millisecond — but block the thread
/// meanwhile, and wait up to the busy timeout when another process holds the write lock. Those two, which may run
/// long, run on GRDB's queues instead.
///
/// Failures are ``EventStoreError``s whose message names the file and says what to do.
public final class SQLiteEventStore: EventStore {
    /// The newest store schema this build reads and writes (`PRAGMA user_version` of its files).
    public static var schemaVersion: Int { StoreSchema.version }

    public let configuration: Configuration
    let pool: DatabasePool
    private let logger: Logger

    private var path: String { configuration.path }

    /// Opens the store, creating the file if it is absent and migrating it to ``schemaVersion``.
    ///
    /// Opening reads and may write the file, so call it at start-up rather than on a hot path. A file that is
    /// not SQLite, is truncated or corrupt, belongs to a newer Chronicle or to another application, or is
    /// read-only is refused and left as it was.
    ///
    /// - Throws: ``EventStoreError`` (``EventStoreError/Code/unreadableFile``,
    ///   ``EventStoreError/Code/newerSchema``, ``EventStoreError/Code/readOnly``,
    ///   ``EventStoreError/Code/storageFull`` or ``EventStoreError/Code/io``).
    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let path = configuration.path
        let file = try StoreFile.inspect(
            path: path,
            knownSchemaVersion: StoreSchema.version,
            applicationID: StoreSchema.applicationID
        )

        var grdb = GRDB.Configuration()
        grdb.maximumReaderCount = max(1, configuration.maximumReaderCount)
        grdb.busyMode = .timeout(configuration.busyTimeout.seconds)
        grdb.label = "chronicle.store"
        do {
            pool = try DatabasePool(path: path, configuration: grdb)
        } catch {
            throw EventStoreError.mapping(error, path: path, doing: "opening it")
        }
        do {
            let before = try pool.writeWithoutTransaction { db in
                // GRDB sets `synchronous = NORMAL` when it puts a pool in WAL mode; the writer is the connection
                // whose commits must be durable, so it gets the configured value back here.
                try db.execute(sql: "PRAGMA synchronous = \(configuration.synchronous.pragmaValue)")
                if let maximumSize = configuration.maximumSize {
                    let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                    try db.execute(sql: "PRAGMA max_page_count = \(max(1, maximumSize / pageSize))")
                }
                try StoreSchema.claim(db, path: path)
                return try StoreSchema.migrator.appliedIdentifiers(db)
            }
            try StoreSchema.migrator.migrate(pool)
            let applied = try pool.read { db in try StoreSchema.migrator.appliedIdentifiers(db) }
                .subtracting(before)
            logger.info(
                "Opened the event store",
                metadata: [
                    "chronicle.store.path": "\(path)",
                    "chronicle.store.synchronous": "\(configuration.synchronous)",
                    "chronicle.store.created": "\(file.isNew)",
                    "chronicle.store.migrations": "\(applied.sorted())",
                ]
            )
        } catch {
            try? pool.close()
            throw EventStoreError.mapping(error, path: path, doing: "opening and migrating it")
        }
    }

    /// Opens the store at `path` with the default, durable configuration.
    public convenience init(path: String, logger: Logger) throws {
        try self.init(configuration: Configuration(path: path), logger: logger)
    }

    /// Checkpoints the write-ahead log into the file and closes the file's connections; later calls fail.
    ///
    /// After `close()` the store is the one file at ``Configuration/path`` (an empty `-wal` may remain), ready to
    /// be copied. Releasing the store closes it too, without the checkpoint.
    public func close() throws {
        do {
            // GRDB closes the writer before the readers, and a read-only connection closing last cannot fold the
            // log into the file; so the writer does it first. A reader of another process can keep it from
            // finishing, which leaves the log to the next checkpoint and must not keep the store open.
            do {
                try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            } catch {
                logger.debug(
                    "The log was not checkpointed on close",
                    metadata: ["chronicle.store.path": "\(path)", "chronicle.store.error": "\(error)"]
                )
            }
            try pool.close()
        } catch {
            throw EventStoreError.mapping(error, path: path, doing: "closing it")
        }
    }

    // MARK: Commit

    public func commit(_ batch: CommitBatch) async throws {
        if batch.isEmpty { return }
        let encoded = try EncodedBatch(batch)
        let path = self.path
        do {
            try write { db in try BatchWriter(db: db, path: path).write(encoded) }
        } catch {
            throw EventStoreError.mapping(
                error,
                path: path,
                doing: "committing a batch for \(encoded.instanceCount) instances"
            )
        }
        logger.trace(
            "Committed a batch",
            metadata: [
                "chronicle.store.instances": "\(encoded.instanceCount)",
                "chronicle.store.outbox": "\(encoded.outbox.count)",
            ]
        )
    }

    // MARK: Histories

    public func load(_ id: InstanceID) async throws -> StoredInstance? {
        let path = self.path
        return try read("loading instance \(id)") { db in
            try Self.load(id, db: db, decoder: StoreCoding.makeDecoder(), path: path)
        }
    }

    /// Loads many instances in one read.
    public func load(_ ids: [InstanceID]) async throws -> [InstanceID: StoredInstance] {
        if ids.isEmpty { return [:] }
        let path = self.path
        return try readOnWriter("loading \(ids.count) instances") { db in
            let decoder = StoreCoding.makeDecoder()
            var found: [InstanceID: StoredInstance] = [:]
            for id in ids {
                found[id] = try Self.load(id, db: db, decoder: decoder, path: path)
            }
            return found
        }
    }

    private static func load(_ id: InstanceID, db: Database, decoder: JSONDecoder, path: String) throws
        -> StoredInstance?
    {
        guard
            let recordRow = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM instances WHERE id = ?"),
                arguments: [id.rawValue]
            )
        else { return nil }
        let record = try instanceRecord(recordRow, path: path)
        let version: Int = recordRow["version"]
        let rows = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT sequence, format, payload, recorded_at FROM events
                    WHERE instance = ? ORDER BY sequence
                    """
            ),
            arguments: [id.rawValue]
        )
        var events: [HistoryEvent] = []
        events.reserveCapacity(version)
        while let row = try rows.next() {
            events.append(try event(row, of: id, at: events.count + 1, decoder: decoder, path: path))
        }
        guard version == events.count else {
            throw EventStoreError(
                .unreadableFile,
                """
                Instance \(id) in \(path) should hold \(version) events but holds \(events.count). The store \
                is damaged; restore it from a backup.
                """
            )
        }
        return StoredInstance(record: record, events: events)
    }

    public func instances(status: InstanceStatus?, limit: Int) async throws -> [InstanceRecord] {
        let path = self.path
        return try read("listing instances") { db in
            let rows: [Row]
            if let status {
                rows = try Row.fetchAll(
                    db.cachedStatement(
                        sql: "SELECT * FROM instances WHERE status = ? ORDER BY updated_at DESC, id LIMIT ?"
                    ),
                    arguments: [status.rawValue, max(limit, 0)]
                )
            } else {
                rows = try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT * FROM instances ORDER BY updated_at DESC, id LIMIT ?"),
                    arguments: [max(limit, 0)]
                )
            }
            return try rows.map { try Self.instanceRecord($0, path: path) }
        }
    }

    // MARK: Inbox

    public func appliedMessageIDs(among messageIDs: [String]) async throws -> Set<String> {
        if messageIDs.isEmpty { return [] }
        let list = Self.jsonArray(messageIDs)
        return try readOnWriter("looking up applied messages") { db in
            try String.fetchSet(
                db.cachedStatement(
                    sql: "SELECT message_id FROM inbox WHERE message_id IN (SELECT value FROM json_each(?))"
                ),
                arguments: [list]
            )
        }
    }

    // MARK: Outbox

    public func pendingOutbox(limit: Int) async throws -> [OutgoingMessage] {
        let path = self.path
        return try read("reading the outbox") { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM outbox ORDER BY position LIMIT ?"),
                arguments: [max(limit, 0)]
            )
            let decoder = StoreCoding.makeDecoder()
            return try rows.map { row in
                let id: String = row["id"]
                let headersJSON: String = row["headers"]
                guard let headers = try? decoder.decode([String: String].self, from: Data(headersJSON.utf8)) else {
                    throw EventStoreError(
                        .unreadableFile,
                        "The headers of outbox message \(id) in \(path) cannot be decoded. Restore the store from a backup."
                    )
                }
                let deliverAt: Double? = row["deliver_at"]
                return OutgoingMessage(
                    id: id,
                    exchange: row["exchange"],
                    routingKey: row["routing_key"],
                    type: row["type"],
                    correlationID: row["correlation_id"],
                    timestamp: Date(storeTime: row["timestamp"]),
                    headers: headers,
                    body: row["body"],
                    deliverAt: deliverAt.map(Date.init(storeTime:)),
                    mandatory: row["mandatory"]
                )
            }
        }
    }

    public func removeFromOutbox(_ messageIDs: [String]) async throws {
        if messageIDs.isEmpty { return }
        let list = Self.jsonArray(messageIDs)
        do {
            try write { db in
                try db.cachedStatement(sql: "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))")
                    .execute(arguments: [list])
            }
        } catch {
            throw EventStoreError.mapping(error, path: path, doing: "removing published messages from the outbox")
        }
    }

    public func outboxDepth() async throws -> Int {
        try read("counting the outbox") { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM outbox")) ?? 0
        }
    }

    // MARK: Timers

    public func timers(state: TimerState, dueBefore: Date?, limit: Int) async throws -> [TimerRecord] {
        try read("listing timers") { db in
            let rows: [Row]
            if let dueBefore {
                rows = try Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT * FROM timers WHERE state = ? AND due_at < ?
                            ORDER BY due_at, instance, timer_id LIMIT ?
                            """
                    ),
                    arguments: [state.rawValue, dueBefore.storeTime, max(limit, 0)]
                )
            } else {
                rows = try Row.fetchAll(
                    db.cachedStatement(
                        sql: "SELECT * FROM timers WHERE state = ? ORDER BY due_at, instance, timer_id LIMIT ?"
                    ),
                    arguments: [state.rawValue, max(limit, 0)]
                )
            }
            return rows.map { row in
                TimerRecord(
                    instanceID: InstanceID(rawValue: row["instance"]),
                    timerID: row["timer_id"],
                    dueAt: Date(storeTime: row["due_at"]),
                    state: state
                )
            }
        }
    }

    // MARK: Retention

    /// Deletes finished instances last updated before `date`, with their events and timers, and inbox ids
    /// recorded before `date`.
    ///
    /// It works in transactions of at most 500 instances, so that a large purge does not hold up commits.
    public func purge(finishedBefore date: Date) async throws -> Int {
        let cutoff = date.storeTime
        var removed = 0
        do {
            while true {
                let count = try await pool.write { db in
                    let ids = try String.fetchAll(
                        db.cachedStatement(
                            sql: """
                                SELECT id FROM instances
                                WHERE status IN ('completed', 'failed') AND updated_at < ? LIMIT 500
                                """
                        ),
                        arguments: [cutoff]
                    )
                    for id in ids {
                        try db.cachedStatement(sql: "DELETE FROM events WHERE instance = ?").execute(arguments: [id])
                        try db.cachedStatement(sql: "DELETE FROM timers WHERE instance = ?").execute(arguments: [id])
                        try db.cachedStatement(sql: "DELETE FROM instances WHERE id = ?").execute(arguments: [id])
                    }
                    return ids.count
                }
                removed += count
                if count < 500 { break }
            }
            try await pool.write { db in
                try db.cachedStatement(sql: "DELETE FROM inbox WHERE applied_at < ?").execute(arguments: [cutoff])
            }
        } catch {
            throw EventStoreError.mapping(error, path: path, doing: "purging finished instances")
        }
        logger.info(
            "Purged finished instances",
            metadata: ["chronicle.store.removed": "\(removed)", "chronicle.store.before": "\(date)"]
        )
        return removed
    }

    // MARK: Maintenance

    /// Runs SQLite's full `integrity_check` and checks that every instance holds as many events as its version,
    /// numbered without gaps.
    ///
    /// It reads the whole file: use it after a crash or a restore, not on a hot path.
    ///
    /// - Throws: ``EventStoreError/Code/unreadableFile`` listing the first problems found.
    public func checkIntegrity() async throws {
        let path = self.path
        let problems = try await readElsewhere("checking its integrity") { db in
            var problems = try String.fetchAll(db, sql: "PRAGMA integrity_check(20)").filter { $0 != "ok" }
            let instances = try Row.fetchAll(
                db,
                sql: """
                    SELECT i.id, i.version, COUNT(e.sequence) AS count, COALESCE(MAX(e.sequence), 0) AS last
                    FROM instances i LEFT JOIN events e ON e.instance = i.id
                    GROUP BY i.id
                    HAVING count != i.version OR last != i.version
                    LIMIT 20
                    """
            )
            problems += instances.map { row in
                let id: String = row["id"]
                let version: Int = row["version"]
                let count: Int = row["count"]
                let last: Int = row["last"]
                return "instance \(id): version \(version), \(count) events, the last numbered \(last)"
            }
            let orphans = try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM events WHERE instance NOT IN (SELECT id FROM instances)"
            )
            if let orphans, orphans > 0 {
                problems.append("\(orphans) events belong to no instance")
            }
            return problems
        }
        if !problems.isEmpty {
            throw EventStoreError(
                .unreadableFile,
                """
                The Chronicle store \(path) is damaged: \(problems.joined(separator: "; ")). Restore it from a \
                backup.
                """
            )
        }
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL, 1 is NORMAL): what commits actually wait for.
    func writerSynchronous() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    // MARK: Helpers

    /// Runs `body` in a write transaction, on the calling thread.
    private func write(_ body: (Database) throws -> Void) throws { try pool.write(body) }

    /// Runs `body` in a read transaction on one of the reader connections, on the calling thread.
    func read<T>(_ action: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch {
            throw EventStoreError.mapping(error, path: path, doing: action)
        }
    }

    /// Runs `body` in a read transaction on the writer connection, on the calling thread: for the reads of the
    /// processing loop, between its commits. The writer's page cache holds the pages it wrote; a reader's is
    /// emptied by every commit, so a reader would read the changed pages (the inbox index's, say) back from the
    /// log each time.
    private func readOnWriter<T>(_ action: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                // One transaction, so that the statements see one state of the file.
                var result: T?
                try db.inTransaction(.deferred) {
                    result = try body(db)
                    return .commit
                }
                return result!  // set: the block ran, or inTransaction threw
            }
        } catch {
            throw EventStoreError.mapping(error, path: path, doing: action)
        }
    }

    /// Runs `body` in a read transaction on one of the reader connections, on GRDB's queue (for long reads).
    private func readElsewhere<T: Sendable>(
        _ action: String,
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw EventStoreError.mapping(error, path: path, doing: action)
        }
    }

    private static func instanceRecord(_ row: Row, path: String) throws -> InstanceRecord {
        let id: String = row["id"]
        let statusName: String = row["status"]
        guard let status = InstanceStatus(rawValue: statusName) else {
            throw EventStoreError(
                .unreadableFile,
                "Instance \(id) in \(path) has an unknown status \"\(statusName)\". Restore the store from a backup."
            )
        }
        let nextWakeUp: Double? = row["next_wake_up"]
        return InstanceRecord(
            id: InstanceID(rawValue: id),
            orchestration: row["orchestration"],
            status: status,
            createdAt: Date(storeTime: row["created_at"]),
            updatedAt: Date(storeTime: row["updated_at"]),
            nextWakeUp: nextWakeUp.map(Date.init(storeTime:))
        )
    }

    private static func event(
        _ row: Row,
        of id: InstanceID,
        at expectedSequence: Int,
        decoder: JSONDecoder,
        path: String
    ) throws -> HistoryEvent {
        let sequence: Int = row["sequence"]
        guard sequence == expectedSequence else {
            throw EventStoreError(
                .unreadableFile,
                """
                The history of instance \(id) in \(path) has a gap: event \(sequence) follows event \
                \(expectedSequence - 1). The store is damaged; restore it from a backup.
                """
            )
        }
        let format: Int = row["format"]
        guard format <= HistoryEvent.formatVersion else {
            throw EventStoreError(
                .newerSchema,
                """
                Event \(sequence) of instance \(id) in \(path) has format \(format), newer than this build reads \
                (\(HistoryEvent.formatVersion)). Run the newer Chronicle on this store.
                """
            )
        }
        let payload: String = row["payload"]
        do {
            let kind = try decoder.decode(HistoryEvent.Kind.self, from: Data(payload.utf8))
            return HistoryEvent(kind, at: Date(storeTime: row["recorded_at"]))
        } catch {
            throw EventStoreError(
                .unreadableFile,
                """
                Event \(sequence) of instance \(id) in \(path) cannot be decoded (\(error)). The store is damaged \
                or was written by an incompatible build; restore it from a backup.
                """
            )
        }
    }

    /// A list of strings as one bound JSON array, read back with `json_each`: one cached statement serves lists
    /// of every length.
    private static func jsonArray(_ strings: [String]) -> String { JSONText.array(strings) }
}
