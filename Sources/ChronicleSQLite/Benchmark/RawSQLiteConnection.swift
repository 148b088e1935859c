import Foundation
internal import GRDB
internal import GRDBSQLite

/// One connection of the SQLite C API, with nothing between the caller and `libsqlite3`: the benchmark's
/// ceiling. It owns its handle and closes it in `deinit`; it is used from one thread only.
///
/// Failures are GRDB's `DatabaseError`, with SQLite's result code and message.
final class RawSQLiteConnection {
    private let handle: OpaquePointer

    init(path: String) throws {
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) }
            sqlite3_close_v2(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
        }
        self.handle = handle
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    func execute(_ sql: String) throws {
        try check(sqlite3_exec(handle, sql, nil, nil, nil))
    }

    func prepare(_ sql: String) throws -> RawSQLiteStatement {
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil))
        guard let statement else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "empty SQL: \(sql)") }
        return RawSQLiteStatement(statement, connection: self)
    }

    fileprivate func check(_ code: CInt) throws { try checkSQLite(code, on: handle) }
}

/// A prepared statement of a ``RawSQLiteConnection``, finalized in `deinit`.
final class RawSQLiteStatement {
    private let handle: OpaquePointer
    private let connection: RawSQLiteConnection

    fileprivate init(_ handle: OpaquePointer, connection: RawSQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(handle)
    }

    func bind(_ value: some SQLiteValue, at position: CInt) throws {
        try connection.check(value.bind(to: handle, at: position))
    }

    /// Runs the statement with the values bound so far, to its end, and resets it for the next run.
    func run() throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        try connection.check(code)
    }
}

/// The version of the `libsqlite3` in use, e.g. `3.40.1`.
var sqliteLibraryVersion: String { String(cString: sqlite3_libversion()) }
