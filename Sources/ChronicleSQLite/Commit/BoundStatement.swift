import Foundation
internal import GRDB
internal import GRDBSQLite

/// A cached statement of the writer connection, run through SQLite's C API with its values bound one by one.
///
/// A commit runs a handful of statements per message. GRDB's `execute(arguments:)` boxes each value into a
/// `DatabaseValue`, looks the statement up by its SQL text on every call and tells its observers: at `chronicle
/// bench trips --rate 900` the writing of a batch's rows took 8 % of the processor loop's samples, and SQLite's own
/// functions a small part of that (`perf`). Here the statement is looked up once per batch and each value goes
/// straight to `sqlite3_bind_*`: 2.5 %.
/// The statement stays GRDB's (its cache prepared it and finalizes it) and is reset after every run, as GRDB
/// leaves its own.
struct BoundStatement {
    private let handle: OpaquePointer
    private let connection: OpaquePointer
    private let sql: String

    init(_ db: Database, sql: String) throws {
        let statement = try db.cachedStatement(sql: sql)
        guard let connection = db.sqliteConnection else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the connection is closed", sql: sql)
        }
        self.handle = statement.sqliteStatement
        self.connection = connection
        self.sql = sql
    }

    /// Binds `values` to the statement's parameters, in order, and runs it to its end.
    func run<each Value: SQLiteValue>(_ values: repeat each Value) throws {
        sqlite3_clear_bindings(handle)
        var position: CInt = 0
        for value in repeat each values {
            position += 1
            try check(value.bind(to: handle, at: position))
        }
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        try check(code)
    }

    private func check(_ code: CInt) throws { try checkSQLite(code, on: connection, sql: sql) }
}

/// Throws GRDB's `DatabaseError`, with the connection's extended result code and message, for a result code
/// that is not a success (`SQLITE_OK`, `SQLITE_DONE`, `SQLITE_ROW`).
func checkSQLite(_ code: CInt, on connection: OpaquePointer, sql: String? = nil) throws {
    guard code == SQLITE_OK || code == SQLITE_DONE || code == SQLITE_ROW else {
        throw DatabaseError(
            resultCode: ResultCode(rawValue: sqlite3_extended_errcode(connection)),
            message: String(cString: sqlite3_errmsg(connection)),
            sql: sql
        )
    }
}

/// A value that binds to a statement parameter through the C API.
protocol SQLiteValue {
    /// Binds the value at `position` (from 1); SQLite's result code.
    func bind(to statement: OpaquePointer, at position: CInt) -> CInt
}

extension String: SQLiteValue {
    func bind(to statement: OpaquePointer, at position: CInt) -> CInt {
        var text = self
        return text.withUTF8 { bytes in
            sqlite3_bind_text(statement, position, bytes.baseAddress, CInt(bytes.count), sqliteTransient)
        }
    }
}

extension Int: SQLiteValue {
    func bind(to statement: OpaquePointer, at position: CInt) -> CInt {
        sqlite3_bind_int64(statement, position, Int64(self))
    }
}

extension Double: SQLiteValue {
    func bind(to statement: OpaquePointer, at position: CInt) -> CInt {
        sqlite3_bind_double(statement, position, self)
    }
}

extension Bool: SQLiteValue {
    func bind(to statement: OpaquePointer, at position: CInt) -> CInt {
        sqlite3_bind_int64(statement, position, self ? 1 : 0)
    }
}

extension Data: SQLiteValue {
    /// A blob; an empty one is a zero-length blob, not NULL.
    func bind(to statement: OpaquePointer, at position: CInt) -> CInt {
        withUnsafeBytes { bytes in
            guard let start = bytes.baseAddress, !bytes.isEmpty else {
                return sqlite3_bind_zeroblob(statement, position, 0)
            }
            return sqlite3_bind_blob64(statement, position, start, UInt64(bytes.count), sqliteTransient)
        }
    }
}

extension Optional: SQLiteValue where Wrapped: SQLiteValue {
    func bind(to statement: OpaquePointer, at position: CInt) -> CInt {
        switch self {
        case .some(let value): value.bind(to: statement, at: position)
        case .none: sqlite3_bind_null(statement, position)
        }
    }
}

/// SQLite's `SQLITE_TRANSIENT`: the library copies a bound value before the call returns.
let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
