import Foundation

/// The durable source of truth: every instance's history, the outbox, the inbox and the timers.
///
/// A step of an orchestration is decided only once it is committed here, and nothing is published before
/// that. ``commit(_:)`` is atomic for the whole batch: either every instance's events, outbox rows, inbox ids
/// and timer changes are stored, or none is.
///
/// Implementations: `SQLiteEventStore` (ChronicleSQLite); `InMemoryEventStore` (ChronicleTesting).
public protocol EventStore: Sendable {
    /// The instance's record and its whole history, or `nil` if it was never started.
    func load(_ id: InstanceID) async throws -> StoredInstance?

    /// The instances of `ids` that were started, as ``load(_:)-(InstanceID)`` gives them, read at once.
    func load(_ ids: [InstanceID]) async throws -> [InstanceID: StoredInstance]

    /// Commits a batch atomically. Each append names the version (event count) it expects; if any instance
    /// has another, nothing of the batch is written and ``EventStoreError/Code/versionConflict`` is thrown.
    /// Outbox rows whose id is already there and inbox ids already recorded are kept as they are.
    func commit(_ batch: CommitBatch) async throws

    /// Which of `messageIDs` were already applied (recorded in the inbox).
    func appliedMessageIDs(among messageIDs: [String]) async throws -> Set<String>

    /// Outbox rows not yet confirmed by the broker, oldest first.
    func pendingOutbox(limit: Int) async throws -> [OutgoingMessage]

    /// Removes confirmed messages from the outbox.
    func removeFromOutbox(_ messageIDs: [String]) async throws

    /// How many messages wait in the outbox.
    func outboxDepth() async throws -> Int

    /// Instances, most recently updated first; all of them, or those with `status`.
    func instances(status: InstanceStatus?, limit: Int) async throws -> [InstanceRecord]

    /// Timers in `state`, soonest first; when `dueBefore` is set, only those due before it.
    func timers(state: TimerState, dueBefore: Date?, limit: Int) async throws -> [TimerRecord]

    /// Deletes finished (completed or failed) instances last updated before `date` with their events and
    /// timers, and inbox ids recorded before `date`. Returns how many instances were removed.
    func purge(finishedBefore date: Date) async throws -> Int
}

extension EventStore {
    /// One ``load(_:)-(InstanceID)`` after another; a store that can read many at once does better.
    public func load(_ ids: [InstanceID]) async throws -> [InstanceID: StoredInstance] {
        var found: [InstanceID: StoredInstance] = [:]
        for id in ids { found[id] = try await load(id) }
        return found
    }
}

/// What the store holds for one instance.
public struct StoredInstance: Sendable {
    public var record: InstanceRecord
    public var events: [HistoryEvent]
    /// The number of stored events: the version a following append expects.
    public var version: Int { events.count }

    public init(record: InstanceRecord, events: [HistoryEvent]) {
        self.record = record
        self.events = events
    }
}

/// The lifecycle of an instance, as Temporal and Durable Task name it.
public enum InstanceStatus: String, Hashable, Codable, Sendable, CaseIterable {
    case running
    case completed
    case failed
}

/// One row of the instance index, for listing.
public struct InstanceRecord: Hashable, Codable, Sendable {
    public var id: InstanceID
    /// The orchestration's name, e.g. `BookTrip`.
    public var orchestration: String
    public var status: InstanceStatus
    public var createdAt: Date
    public var updatedAt: Date
    /// The soonest pending timer, if any.
    public var nextWakeUp: Date?

    public init(
        id: InstanceID,
        orchestration: String,
        status: InstanceStatus,
        createdAt: Date,
        updatedAt: Date,
        nextWakeUp: Date? = nil
    ) {
        self.id = id
        self.orchestration = orchestration
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.nextWakeUp = nextWakeUp
    }
}

/// Everything one pass of the processing loop decided, committed in one transaction.
public struct CommitBatch: Sendable {
    public var appends: [InstanceAppend]
    public var outbox: [OutgoingMessage]
    /// Ids of the input messages applied by this batch.
    public var inbox: [String]
    public var timers: [TimerChange]
    /// Outbox rows this batch makes void (the wake-ups of timers it fired or cancelled); an id not in the
    /// outbox is no error.
    public var outboxRemovals: [String]

    public init(
        appends: [InstanceAppend] = [],
        outbox: [OutgoingMessage] = [],
        inbox: [String] = [],
        timers: [TimerChange] = [],
        outboxRemovals: [String] = []
    ) {
        self.appends = appends
        self.outbox = outbox
        self.inbox = inbox
        self.timers = timers
        self.outboxRemovals = outboxRemovals
    }

    public var isEmpty: Bool {
        appends.isEmpty && outbox.isEmpty && inbox.isEmpty && timers.isEmpty && outboxRemovals.isEmpty
    }
}

/// New events for one instance, and its index row after them.
public struct InstanceAppend: Sendable {
    public var instanceID: InstanceID
    public var orchestration: String
    /// How many events the store must hold for this instance before the append (0 for a new instance).
    public var expectedVersion: Int
    public var events: [HistoryEvent]
    public var status: InstanceStatus
    public var nextWakeUp: Date?
    /// The time of the change (the instance's `updatedAt`, and `createdAt` if it is new).
    public var at: Date

    public init(
        instanceID: InstanceID,
        orchestration: String,
        expectedVersion: Int,
        events: [HistoryEvent],
        status: InstanceStatus,
        nextWakeUp: Date?,
        at: Date
    ) {
        self.instanceID = instanceID
        self.orchestration = orchestration
        self.expectedVersion = expectedVersion
        self.events = events
        self.status = status
        self.nextWakeUp = nextWakeUp
        self.at = at
    }
}

/// The state of a durable timer.
public enum TimerState: String, Hashable, Codable, Sendable {
    case pending
    case fired
    case cancelled
}

/// A durable timer: a sleep, a back-off wait or a call attempt's timeout.
public struct TimerRecord: Hashable, Codable, Sendable {
    public var instanceID: InstanceID
    /// Unique within the instance, e.g. `sleep-3` or `timeout-4-2`.
    public var timerID: String
    public var dueAt: Date
    public var state: TimerState

    public init(instanceID: InstanceID, timerID: String, dueAt: Date, state: TimerState = .pending) {
        self.instanceID = instanceID
        self.timerID = timerID
        self.dueAt = dueAt
        self.state = state
    }
}

/// A change to the timer table within a ``CommitBatch``.
public enum TimerChange: Hashable, Sendable {
    case schedule(TimerRecord)
    case fired(InstanceID, timerID: String)
    case cancelled(InstanceID, timerID: String)
}

/// An error from an ``EventStore``.
public struct EventStoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case versionConflict, unreadableFile, newerSchema, storageFull, readOnly, io
        }
        private let base: Base

        /// Another writer appended to an instance first; nothing of the batch was written.
        public static let versionConflict = Code(base: .versionConflict)
        /// The file is not a Chronicle store (not SQLite, or corrupt).
        public static let unreadableFile = Code(base: .unreadableFile)
        /// The file was written by a newer Chronicle; this one will not touch it.
        public static let newerSchema = Code(base: .newerSchema)
        /// The disk is full; nothing of the batch was written.
        public static let storageFull = Code(base: .storageFull)
        /// The file or its folder cannot be written.
        public static let readOnly = Code(base: .readOnly)
        /// Any other failure of the storage.
        public static let io = Code(base: .io)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What happened, to what, and what to do next.
    public var message: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { message }
}
