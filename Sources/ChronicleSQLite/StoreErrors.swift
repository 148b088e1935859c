import Chronicle
internal import GRDB

extension EventStoreError {
    /// The ``EventStoreError`` for a failure while the store at `path` was `doing` something.
    ///
    /// SQLite's result codes become the protocol's codes; the message says what happened to which file and what
    /// to do. A ``EventStoreError`` and a `CancellationError` pass through unchanged.
    static func mapping(_ error: any Error, path: String, doing action: String) -> any Error {
        if error is EventStoreError || error is CancellationError { return error }
        guard let error = error as? DatabaseError else {
            return EventStoreError(.io, "The Chronicle store \(path) failed while \(action): \(error)")
        }
        let sqlite = "SQLite: \(error.message ?? "\(error.resultCode)")"
        switch error.resultCode {
        case .SQLITE_FULL:
            return EventStoreError(
                .storageFull,
                """
                The disk holding the Chronicle store \(path) is full, or the store reached its configured maximum \
                size, while \(action); nothing of it was written. Free some space (or raise maximumSize) and \
                retry. (\(sqlite))
                """
            )
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
            return EventStoreError(
                .readOnly,
                """
                The Chronicle store \(path) cannot be written while \(action). Make the file, its -wal and -shm \
                files and their folder writable. (\(sqlite))
                """
            )
        case .SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_FORMAT:
            return EventStoreError(
                .unreadableFile,
                """
                The Chronicle store \(path) is corrupt; SQLite found it out while \(action). Stop the processor \
                and restore the store from a backup (`sqlite3 \(path) .recover` may save part of it). (\(sqlite))
                """
            )
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return EventStoreError(
                .io,
                """
                The Chronicle store \(path) stayed locked by another process for longer than the busy timeout \
                while \(action). Check that only one processor writes to it. (\(sqlite))
                """
            )
        default:
            return EventStoreError(
                .io,
                "The Chronicle store \(path) failed while \(action). (\(sqlite), code \(error.extendedResultCode))"
            )
        }
    }
}
