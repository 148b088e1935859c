import Foundation
import GRDB

/// A fake service's journal in its own SQLite file: every command it handled, with its reply and its effects.
/// It is the service's memory across restarts (duplicates get the same reply) and the ledger that
/// `chronicle verify` audits.
public final class ServiceJournalFile: Sendable {
    public let path: String
    private let database: DatabaseQueue

    /// Opens (or creates) the journal at `path`.
    ///
    /// - Throws: an error naming the file if it cannot be opened or is not a journal.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // WAL with synchronous NORMAL: an entry survives the service being killed (what the fault tests do),
        // though not a power loss; one fsync per checkpoint rather than two per batch.
        configuration.prepareDatabase { db in
            if db.configuration.readonly == false {
                try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
            }
        }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            try database.write { db in
                // `seq` is the rowid, one more than the largest: entries are never deleted, so it is their order
                // without AUTOINCREMENT's `sqlite_sequence` row, one more page written by every batch. (Journals
                // created before keep AUTOINCREMENT; either reads the same.)
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS journal (
                            seq INTEGER PRIMARY KEY,
                            command_id TEXT NOT NULL UNIQUE,
                            trip_id TEXT NOT NULL,
                            command_type TEXT NOT NULL,
                            entry TEXT NOT NULL
                        )
                        """
                )
            }
        } catch {
            throw JournalError(message: "cannot open the service journal \(path): \(error)")
        }
    }

    /// How an entry is written: sorted keys, slashes as they are (files written before that escape them, which
    /// reads the same). ``JournalEntry/json`` writes the same bytes faster; this is what it is held to, and what
    /// gives the error for an entry it cannot write.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Every entry, in the order they were written.
    public func load() throws -> [JournalEntry] {
        let decoder = JSONDecoder()
        return try database.read { db in
            try String.fetchAll(db, sql: "SELECT entry FROM journal ORDER BY seq").map {
                try decoder.decode(JournalEntry.self, from: Data($0.utf8))
            }
        }
    }

    /// A write transaction on the calling thread: the service's own (see
    /// ``FakeTravelService/serve(over:journal:prefetch:beforeBatch:)``).
    private func write(_ body: (Database) throws -> Void) throws { try database.write(body) }

    /// Appends entries in one transaction, on the calling thread; an entry whose command is already there is
    /// kept as it was.
    public func append(_ entries: [JournalEntry]) async throws {
        guard !entries.isEmpty else { return }
        try insert(
            entries.map { entry in
                (entry, try entry.json ?? String(decoding: try Self.encoder.encode(entry), as: UTF8.self))
            })
    }

    /// Writes entries as the given text, in one transaction, on the calling thread; an entry whose command is
    /// already there is kept as it was.
    func insert(_ rows: [(JournalEntry, String)]) throws {
        try write { db in
            let insert = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO journal (command_id, trip_id, command_type, entry) VALUES (?, ?, ?, ?)")
            for (entry, json) in rows {
                try insert.execute(arguments: [entry.commandId, entry.tripId, entry.commandType, json])
            }
        }
    }
}

/// A journal file that cannot be used.
public struct JournalError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
