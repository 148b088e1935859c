extension SQLiteEventStore {
    /// How a store opens its file.
    ///
    /// The defaults are the durable ones: `synchronous` is ``Synchronous/full``, so a commit that returned
    /// survives a power loss.
    public struct Configuration: Sendable {
        /// The store file. It is created when absent (its folder must exist); SQLite keeps `<path>-wal` and
        /// `<path>-shm` beside it, so the folder must be writable too.
        public var path: String

        /// When a commit is on disk. Default ``Synchronous/full``.
        public var synchronous: Synchronous

        /// At most this many reads run at once, each on its own connection; none of them blocks the writer
        /// (WAL). Default 4.
        public var maximumReaderCount: Int

        /// How long a read or a commit waits while another process holds the file's lock before it fails
        /// with ``EventStoreError/Code/io``. Default 5 seconds.
        public var busyTimeout: Duration

        /// When set, the file may grow to about this many bytes and no more: a commit that would pass it fails
        /// with ``EventStoreError/Code/storageFull`` and writes nothing, exactly as when the disk is full.
        /// Use it to keep a store from filling a disk it shares. Default `nil` (no limit but the disk).
        public var maximumSize: Int?

        /// A configuration for the store at `path`, with the defaults above.
        public init(
            path: String,
            synchronous: Synchronous = .full,
            maximumReaderCount: Int = 4,
            busyTimeout: Duration = .seconds(5),
            maximumSize: Int? = nil
        ) {
            self.path = path
            self.synchronous = synchronous
            self.maximumReaderCount = maximumReaderCount
            self.busyTimeout = busyTimeout
            self.maximumSize = maximumSize
        }
    }

    /// When SQLite makes a commit durable (its `synchronous` setting, in WAL mode).
    public enum Synchronous: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// Every commit is flushed to the disk (`fsync` of the write-ahead log) before ``SQLiteEventStore/commit(_:)``
        /// returns. A committed step survives the process being killed, an OS crash and a power loss. This is
        /// the guarantee DESIGN.md's processing loop relies on, and the default.
        case full

        /// Commits are flushed to the disk only at checkpoints. A committed step survives the process being
        /// killed, but an OS crash or a power loss can take back the last commits (the file stays consistent:
        /// it rolls back to an earlier commit). For Chronicle that is worse than it sounds: messages of the lost
        /// commits may already have been published, and on replay the orchestration decides those steps again,
        /// so a service can receive a second, *different* command (a new UUID, a new time) for the same step.
        /// Choose it only where the host cannot lose power unannounced or such duplicates are harmless; in
        /// exchange, a commit does not wait for the disk (see `chronicle bench store`).
        case normal

        public var description: String { rawValue.uppercased() }

        var pragmaValue: String { rawValue.uppercased() }
    }
}
