import Chronicle
import Foundation
import Synchronization

/// An ``EventStore`` in memory, with the same semantics as the SQLite store: atomic batches, expected
/// versions, an outbox, an inbox and timers. For tests; nothing survives the process.
public final class InMemoryEventStore: EventStore, Sendable {
    private struct State {
        var records: [InstanceID: InstanceRecord] = [:]
        var events: [InstanceID: [HistoryEvent]] = [:]
        var outbox: [OutgoingMessage] = []
        var outboxIDs: Set<String> = []
        var inbox: [String: Date] = [:]
        var timers: [String: TimerRecord] = [:]
        var commits = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// How many batches were committed.
    public var commitCount: Int { state.withLock { $0.commits } }

    public func load(_ id: InstanceID) async throws -> StoredInstance? {
        state.withLock { state in
            state.records[id].map { StoredInstance(record: $0, events: state.events[id] ?? []) }
        }
    }

    public func commit(_ batch: CommitBatch) async throws {
        try state.withLock { state in
            for append in batch.appends {
                let actual = state.events[append.instanceID]?.count ?? 0
                guard actual == append.expectedVersion else {
                    throw EventStoreError(
                        .versionConflict,
                        "instance \(append.instanceID) has \(actual) events, the batch expected \(append.expectedVersion)"
                    )
                }
            }
            var next = state
            for append in batch.appends {
                next.events[append.instanceID, default: []] += append.events
                let created = next.records[append.instanceID]?.createdAt ?? append.at
                next.records[append.instanceID] = InstanceRecord(
                    id: append.instanceID,
                    orchestration: append.orchestration,
                    status: append.status,
                    createdAt: created,
                    updatedAt: append.at,
                    nextWakeUp: append.nextWakeUp
                )
            }
            for message in batch.outbox where next.outboxIDs.insert(message.id).inserted {
                next.outbox.append(message)
            }
            let removed = Set(batch.outboxRemovals)
            if !removed.isEmpty {
                next.outbox.removeAll { removed.contains($0.id) }
                next.outboxIDs.subtract(removed)
            }
            let at = batch.appends.first?.at ?? Date()
            for id in batch.inbox where next.inbox[id] == nil { next.inbox[id] = at }
            for change in batch.timers {
                switch change {
                case .schedule(let timer):
                    next.timers[Self.key(timer.instanceID, timer.timerID)] = timer
                case .fired(let instance, let timerID):
                    next.timers[Self.key(instance, timerID)]?.state = .fired
                case .cancelled(let instance, let timerID):
                    next.timers[Self.key(instance, timerID)]?.state = .cancelled
                }
            }
            next.commits += 1
            state = next
        }
    }

    public func appliedMessageIDs(among messageIDs: [String]) async throws -> Set<String> {
        state.withLock { state in Set(messageIDs.filter { state.inbox[$0] != nil }) }
    }

    public func pendingOutbox(limit: Int) async throws -> [OutgoingMessage] {
        state.withLock { Array($0.outbox.prefix(limit)) }
    }

    public func removeFromOutbox(_ messageIDs: [String]) async throws {
        let ids = Set(messageIDs)
        state.withLock { state in
            state.outbox.removeAll { ids.contains($0.id) }
            state.outboxIDs.subtract(ids)
        }
    }

    public func outboxDepth() async throws -> Int {
        state.withLock { $0.outbox.count }
    }

    public func instances(status: InstanceStatus?, limit: Int) async throws -> [InstanceRecord] {
        state.withLock { state in
            let matching = state.records.values.filter { status == nil || $0.status == status }
            return Array(matching.sorted { ($0.updatedAt, $0.id) > ($1.updatedAt, $1.id) }.prefix(limit))
        }
    }

    public func timers(state timerState: TimerState, dueBefore: Date?, limit: Int) async throws -> [TimerRecord] {
        state.withLock { state in
            let matching = state.timers.values.filter { timer in
                timer.state == timerState && (dueBefore.map { timer.dueAt < $0 } ?? true)
            }
            return Array(matching.sorted { ($0.dueAt, $0.timerID) < ($1.dueAt, $1.timerID) }.prefix(limit))
        }
    }

    public func purge(finishedBefore date: Date) async throws -> Int {
        state.withLock { state in
            let old = state.records.values.filter { $0.status != .running && $0.updatedAt < date }.map(\.id)
            for id in old {
                state.records[id] = nil
                state.events[id] = nil
                state.timers = state.timers.filter { $0.value.instanceID != id }
            }
            state.inbox = state.inbox.filter { $0.value >= date }
            return old.count
        }
    }

    private static func key(_ instance: InstanceID, _ timerID: String) -> String {
        "\(instance.rawValue)\u{0}\(timerID)"
    }
}
