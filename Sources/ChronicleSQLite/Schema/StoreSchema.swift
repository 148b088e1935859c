import Chronicle
internal import GRDB

/// The store's tables and their versioned migrations.
///
/// Times are `REAL` seconds since 2001-01-01 UTC, Foundation's reference date, because that is how `Date` holds
/// them: a recorded time comes back exactly, which replay relies on. In the `sqlite3` shell,
/// `datetime(updated_at + 978307200, 'unixepoch')` shows one.
///
/// Each migration ends by setting `PRAGMA user_version` to its number, so that a file of a newer Chronicle is
/// recognised from its header, before SQLite opens it (``StoreFile``). GRDB's `grdb_migrations` table remains
/// the record of which migrations ran.
enum StoreSchema {
    /// `PRAGMA application_id` of a Chronicle store: "CHRN".
    static let applicationID: Int32 = 0x4348_524E

    /// The newest schema version this build writes and reads.
    static var version: Int { migrations.count }

    /// The migrations, oldest first. Never edit a published one: append a new one.
    private static let migrations: [(identifier: String, sql: String)] = [
        (
            "v1: events, instances, outbox, inbox, timers",
            """
            CREATE TABLE instances (
                id TEXT PRIMARY KEY NOT NULL,
                orchestration TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
                version INTEGER NOT NULL,           -- the number of events; an append expects it
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                next_wake_up REAL
            ) WITHOUT ROWID;
            -- No index on status or updated_at: every commit changes updated_at, so each append would move an
            -- index entry too, one more page to write per commit. Listing and purging scan this table instead:
            -- one short row per instance.

            CREATE TABLE events (
                instance TEXT NOT NULL,
                sequence INTEGER NOT NULL,          -- 1, 2, 3… within the instance, without gaps
                type TEXT NOT NULL,                 -- HistoryEvent.Kind.name
                format INTEGER NOT NULL,            -- HistoryEvent.formatVersion
                payload TEXT NOT NULL,              -- the event kind as JSON
                recorded_at REAL NOT NULL,
                PRIMARY KEY (instance, sequence)
            ) WITHOUT ROWID;

            CREATE TABLE outbox (
                position INTEGER PRIMARY KEY,       -- insertion order: oldest first
                id TEXT NOT NULL UNIQUE,            -- the AMQP message_id
                exchange TEXT NOT NULL,
                routing_key TEXT NOT NULL,
                type TEXT NOT NULL,
                correlation_id TEXT,
                timestamp REAL NOT NULL,
                headers TEXT NOT NULL,              -- JSON object of strings
                body BLOB NOT NULL,
                deliver_at REAL
            );

            CREATE TABLE inbox (
                message_id TEXT PRIMARY KEY NOT NULL,
                applied_at REAL NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX inbox_by_applied_at ON inbox (applied_at);

            CREATE TABLE timers (
                instance TEXT NOT NULL,
                timer_id TEXT NOT NULL,
                due_at REAL NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'fired', 'cancelled')),
                PRIMARY KEY (instance, timer_id)
            ) WITHOUT ROWID;
            CREATE INDEX timers_by_due ON timers (state, due_at);
            """
        ),
        (
            "v2: outbox.mandatory",
            // Facts announced to subscribers (a trip's outcome) are published without `mandatory`: nobody
            // listening is no error. Rows written before this were all mandatory.
            """
            ALTER TABLE outbox ADD COLUMN mandatory INTEGER NOT NULL DEFAULT 1;
            """
        ),
    ]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for (index, migration) in migrations.enumerated() {
            let sql = migration.sql
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: sql)
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
                try db.execute(sql: "PRAGMA user_version = \(index + 1)")
            }
        }
        return migrator
    }

    /// Refuses, before any migration runs, an open file that is another application's database or a newer
    /// Chronicle's store, and marks a new file as a Chronicle store.
    ///
    /// It repeats the header checks of ``StoreFile`` from inside SQLite, which sees the pages still in the
    /// write-ahead log. The application id is written before the first migration, in a transaction of its own,
    /// so that a process killed while it creates the store (GRDB's `grdb_migrations` table comes first) leaves a
    /// file that the next one recognises as its own.
    static func claim(_ db: Database, path: String) throws {
        let fileApplicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        if fileApplicationID != applicationID {
            let tables = try String.fetchAll(
                db,
                sql: """
                    SELECT name FROM sqlite_master
                    WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'
                    """
            )
            guard fileApplicationID == 0, tables.isEmpty else {
                throw StoreFile.notAStore(path, applicationID: fileApplicationID)
            }
        }
        let userVersion = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if try userVersion > version || migrator.hasBeenSuperseded(db) {
            throw StoreFile.newerSchema(path, version: max(userVersion, version + 1), known: version)
        }
        if fileApplicationID != applicationID {
            try db.execute(sql: "PRAGMA application_id = \(applicationID)")
        }
    }
}
