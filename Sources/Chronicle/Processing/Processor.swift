import Foundation
import Logging
import Synchronization

/// The processing loop of DESIGN.md, over any ``EventStore`` and ``Transport``:
/// decode → drop duplicates → replay → one store transaction for the batch → publish the outbox with
/// confirms → acknowledge the inputs.
///
/// A crash between any two steps loses nothing: unacknowledged input comes again and is deduplicated;
/// outbox rows not yet confirmed are published again by ``recover()`` at start-up, with the same message ids.
public final class Processor: Sendable {
    private let store: any EventStore
    private let transport: any Transport
    private let configuration: ProcessorConfiguration
    private let clock: @Sendable () -> Date
    private let logger: Logger
    public let batches: BatchProcessor
    /// Timers due within ``ProcessorConfiguration/localTimerHorizon``.
    private let localTimers = LocalTimers()

    public init(
        registry: OrchestrationRegistry,
        store: any EventStore,
        transport: any Transport,
        configuration: ProcessorConfiguration = ProcessorConfiguration(),
        clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.store = store
        self.transport = transport
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.batches = BatchProcessor(
            registry: registry,
            store: store,
            configuration: configuration,
            clock: clock,
            logger: logger
        )
    }

    /// Recovers, then consumes until the transport's stream ends or the task is cancelled.
    ///
    /// Cancelling `run()` stops the intake: the batch in hand is finished (committed, published, acknowledged)
    /// first, so a shutdown leaves nothing half done.
    ///
    /// The loop runs on a ``ProcessingThread`` of its own: deliveries, confirms and store calls that finish on
    /// other threads hand their results to it, and a store whose calls run on the calling thread (the SQLite
    /// store's do) does its work there.
    public func run() async throws {
        try await ProcessingThread.run(named: "chronicle-loop") { thread in try await self.run(on: thread) }
    }

    private func run(on thread: ProcessingThread) async throws {
        try await recover()
        let deliveries = try await transport.consume(queue: configuration.queue, prefetch: configuration.prefetch)
        logger.info("processing", metadata: ["chronicle.queue": "\(configuration.queue)"])
        let batches = DeliveryBatches()
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await batches.pump(deliveries) }
                group.addTask { await self.housekeeping() }
                // Batches overlap: batch N+1 is decoded, replayed and committed, and its messages published, while
                // earlier batches' messages wait for their confirms and their inputs are acknowledged (up to
                // `sendsInFlight` of them). Each batch still goes commit → publish → acknowledge, and batches are
                // committed, and their messages handed to the transport, in order. A send that fails (an
                // acknowledgement the transport refuses) ends the loop at once. The sends do not inherit the
                // cancellation of run(): a batch runs to its end, unless it is waiting out a failure (see
                // `retryDelay`).
                let sends = OverlappingSends(limit: Self.sendsInFlight, on: thread, interrupting: batches)
                do {
                    while let batch = try await batches.next() {
                        let committed = try await Task(executorPreference: thread) { try await self.commit(batch) }
                            .value
                        try await sends.start { try await self.send(committed) }
                        if Task.isCancelled { break }
                    }
                    try await sends.finish()
                } catch {
                    await sends.drain()
                    throw error
                }
                group.cancelAll()
                do {
                    try await clearConfirmed()
                } catch {
                    logger.warning(
                        "could not delete the outbox rows of published messages; the next start publishes them again",
                        metadata: ["chronicle.error": "\(error)"])
                }
            }
        } onCancel: {
            stopping.withLock { $0 = true }
        }
    }

    /// How many committed batches may wait for their confirms and acknowledgements at once. With one, a batch's
    /// messages went out only when the batch before was confirmed and acknowledged: `chronicle bench trips
    /// --rate 945` measured p50 28-35 ms that way, 19-23 ms with four (and two).
    static let sendsInFlight = 4

    /// Set when `run()` is cancelled: a batch that is waiting to retry a failed commit or publish gives up
    /// (unacknowledged, so it comes again to the next run) instead of holding up the shutdown.
    private let stopping = Mutex(false)

    /// Sleeps `delay` before a retry, or throws `error` if the processor is stopping.
    private func retryDelay(_ delay: Duration, after error: any Error) async throws {
        if stopping.withLock({ $0 }) { throw error }
        try await Task.sleep(for: delay)
    }

    /// Publishes outbox rows left by an earlier run (among them the wake-ups of timers it held in memory, which
    /// from then on wait in the transport's delayed delivery), and re-arms timers that are due but may have lost
    /// their wake-up message (a duplicate wake-up is ignored by the instance).
    public func recover() async throws {
        var republished = 0
        while true {
            let pending = try await store.pendingOutbox(limit: 1_000)
            if pending.isEmpty { break }
            try await publishConfirmed(pending)
            republished += pending.count
        }
        // Timers that are due, and those due within the horizon, held again in memory: the outbox has the
        // wake-ups of those the run that ended held, but a store written by an older Chronicle may not. (One that
        // also waits in the delay levels fires twice; the instance ignores the second.)
        let now = clock()
        let horizon = now.addingTimeInterval(configuration.localTimerHorizon.seconds)
        let pending = try await store.timers(state: .pending, dueBefore: horizon, limit: 100_000)
        let queue = configuration.queue
        let wakeUp = { (timer: TimerRecord) in
            TimerMessage.wakeUp(
                id: TimerMessage.wakeUpID(instance: timer.instanceID, timer: timer.timerID) + "/rearmed",
                instance: timer.instanceID,
                timer: timer.timerID, queue: queue, at: now, due: timer.dueAt)
        }
        localTimers.hold(pending.filter { $0.dueAt > now }.map(wakeUp))
        let wakeUps = pending.filter { $0.dueAt <= now }.map { wakeUp($0).immediate }
        if !wakeUps.isEmpty { try await transport.publish(wakeUps) }
        if republished > 0 || !pending.isEmpty {
            logger.info(
                "recovered",
                metadata: ["chronicle.republished": "\(republished)", "chronicle.rearmed_timers": "\(pending.count)"]
            )
        }
    }

    /// Processes one batch of deliveries, end to end: commit, publish, dead-letter, acknowledge, and clear the
    /// outbox of what was published.
    @discardableResult
    public func handle(_ batch: [InboundMessage]) async throws -> BatchProcessor.Outcome {
        let committed = try await commit(batch)
        try await send(committed)
        try await clearConfirmed()
        return committed.outcome
    }

    /// A committed batch, and which of its messages are sent (the rest are timer wake-ups held in memory).
    private struct Committed: Sendable {
        var outcome: BatchProcessor.Outcome
        var sent: [OutgoingMessage] = []
    }

    /// Decodes, replays and commits a batch; then holds the timers due soon and forgets those that fired or were
    /// cancelled (in batch order, before the next batch is committed).
    private func commit(_ batch: [InboundMessage]) async throws -> Committed {
        logger.trace("batch", metadata: ["chronicle.count": "\(batch.count)"])
        let published = takeConfirmed()
        let outcome: BatchProcessor.Outcome
        do {
            outcome = try await processWithRetry(batch, removingFromOutbox: published)
        } catch {
            keepConfirmed(published)
            throw error
        }
        var committed = Committed(outcome: outcome)
        // Timers due soon wait in memory; the rest is published. A held timer's wake-up keeps its outbox row until
        // the commit that takes the wake-up or cancels the timer removes it, so a restart (with any horizon) sends
        // it again: held in memory, it is in no queue.
        let now = clock()
        let horizon = now.addingTimeInterval(configuration.localTimerHorizon.seconds)
        var held: [OutgoingMessage] = []
        for message in committed.outcome.publish {
            if let due = message.deliverAt, due > now, due <= horizon, LocalTimers.key(of: message) != nil {
                held.append(message)
            } else {
                committed.sent.append(message)
            }
        }
        localTimers.hold(held)
        localTimers.apply(committed.outcome.timerChanges)
        if !held.isEmpty { housekeepingBell.ring() }
        return committed
    }

    /// Publishes a committed batch's messages with confirms, dead-letters what was refused and acknowledges the
    /// inputs. The published messages' outbox rows are deleted later (see ``confirmed``).
    private func send(_ committed: Committed) async throws {
        try await publishWithRetry(committed.sent)
        keepConfirmed(committed.sent.map(\.id))
        for (message, reason) in committed.outcome.deadLetter {
            try await transport.deadLetter(message, reason: reason)
        }
        try await transport.acknowledge(committed.outcome.acknowledge)
    }

    /// Commits the batch, retrying while the store cannot: a version conflict is retried at once with fresh
    /// history; other store failures (a full disk, say) hold the batch unacknowledged and retry with back-off.
    private func processWithRetry(_ batch: [InboundMessage], removingFromOutbox published: [String]) async throws
        -> BatchProcessor.Outcome
    {
        var conflicts = 0
        var delay = Duration.milliseconds(100)
        while true {
            do {
                return try await batches.process(batch, removingFromOutbox: published)
            } catch let error as EventStoreError where error.code == .versionConflict && conflicts < 3 {
                conflicts += 1
                logger.warning(
                    "another writer appended first; replaying the batch", metadata: ["chronicle.error": "\(error)"])
            } catch let error as EventStoreError {
                logger.error(
                    "the store cannot commit; holding \(batch.count) messages unacknowledged and retrying in \(delay)",
                    metadata: ["chronicle.error": "\(error)"]
                )
                try await retryDelay(delay, after: error)
                delay = min(delay * 2, .seconds(10))
            }
        }
    }

    /// Until cancelled, in rounds: publishes held timer wake-ups that fell due, straight to the processor's queue
    /// (a wake-up the broker does not take is held again and tried a second later), and deletes the outbox rows of
    /// published messages that no commit has taken for two rounds. Rounds come every 10 ms; once two rounds
    /// passed with no send and no timer held (no ring of ``housekeepingBell``), and no rows wait, housekeeping
    /// rests until the next held timer is due, a second at most, or until the bell rings: an idle processor wakes
    /// once a second, not a hundred times (`chronicle run` idle took 1.8 % of a core with rounds every 10 ms, under
    /// 0.1 % resting).
    private func housekeeping() async {
        var retryTimersAt = ContinuousClock.now
        var rings = housekeepingBell.rings
        var quietRounds = 0
        while !Task.isCancelled {
            if quietRounds >= 2, let rest = housekeepingRest() {
                await housekeepingBell.wait(upTo: rest)
            } else {
                try? await Task.sleep(for: .milliseconds(10))
            }
            housekeepingRounds.add(1, ordering: .relaxed)
            let rang = housekeepingBell.rings
            quietRounds = rang == rings ? quietRounds + 1 : 0
            rings = rang
            if ContinuousClock.now >= retryTimersAt, !(await fireDueTimers()) {
                retryTimersAt = .now + .seconds(1)
            }
            let idle = confirmed.withLock { rows -> [String] in
                guard !rows.ids.isEmpty else { return [] }
                rows.idleRounds += 1
                guard rows.idleRounds >= 2 else { return [] }
                defer { rows = ConfirmedRows() }
                return rows.ids
            }
            if !idle.isEmpty { try? await clear(idle) }
        }
    }

    /// How long housekeeping may rest before its next round; `nil` while confirmed rows wait to be deleted or a
    /// held timer is due within 10 ms (rounds every 10 ms then).
    private func housekeepingRest() -> Duration? {
        if confirmed.withLock({ !$0.ids.isEmpty }) { return nil }
        guard let due = localTimers.nextDue else { return .seconds(1) }
        let wait = due.timeIntervalSince(clock())
        return wait > 0.01 ? .seconds(min(wait, 1)) : nil
    }

    /// Rung when housekeeping has new work: rows to delete, a timer held.
    private let housekeepingBell = Doorbell()

    /// Rounds of housekeeping so far (for tests).
    let housekeepingRounds = Atomic<Int>(0)

    /// Publishes the held timer wake-ups that are due; `false` if the broker did not take them (they are held
    /// again).
    private func fireDueTimers() async -> Bool {
        let due = localTimers.takeDue(clock())
        guard !due.isEmpty else { return true }
        do {
            try await transport.publish(due.map(\.immediate))
            return true
        } catch {
            if !Task.isCancelled {
                logger.warning(
                    "publishing \(due.count) due timer wake-ups failed; retrying in 1 s",
                    metadata: ["chronicle.error": "\(error)"])
            }
            localTimers.hold(due)
            return false
        }
    }

    /// Outbox rows of messages the broker confirmed, not yet deleted. The next commit deletes them in its own
    /// transaction — one write per batch instead of two — or, when none comes for two rounds of
    /// ``housekeeping()``, a write of their own does. Rows a crash leaves are published again at start-up with
    /// the same message ids, as are those of a crash between a confirm and any deletion.
    private let confirmed = Mutex(ConfirmedRows())

    private struct ConfirmedRows {
        var ids: [String] = []
        /// Rounds of ``housekeeping()`` since no commit took the rows.
        var idleRounds = 0
    }

    /// The ids of every confirmed message whose row is not yet deleted, to be deleted by the caller.
    private func takeConfirmed() -> [String] {
        confirmed.withLock { rows in
            defer { rows = ConfirmedRows() }
            return rows.ids
        }
    }

    /// Adds rows to delete (published just now, or given back by a commit or deletion that failed) and tells
    /// housekeeping.
    private func keepConfirmed(_ ids: [String]) {
        guard !ids.isEmpty else { return }
        confirmed.withLock { $0.ids += ids }
        housekeepingBell.ring()
    }

    /// Deletes the outbox rows of every confirmed message now.
    private func clearConfirmed() async throws {
        try await clear(takeConfirmed())
    }

    /// Deletes these outbox rows; on failure they wait for the next commit or round.
    private func clear(_ ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        do {
            try await store.removeFromOutbox(ids)
        } catch {
            keepConfirmed(ids)
            throw error
        }
    }

    /// Publishes committed outbox rows and deletes them (at start-up).
    private func publishConfirmed(_ messages: [OutgoingMessage]) async throws {
        try await publishWithRetry(messages)
        if !messages.isEmpty { try await store.removeFromOutbox(messages.map(\.id)) }
    }

    /// Publishes committed outbox rows. A refusal (a nack, an unroutable command) is logged and retried with
    /// back-off: the rows stay in the outbox and the batch stays unacknowledged meanwhile, so nothing is lost
    /// and the processor does not stop over it.
    private func publishWithRetry(_ messages: [OutgoingMessage]) async throws {
        guard !messages.isEmpty else { return }
        var delay = Duration.milliseconds(100)
        while true {
            do {
                try await transport.publish(messages)
                break
            } catch let error where !(error is CancellationError) && !Task.isCancelled {
                logger.error(
                    "publishing \(messages.count) committed messages failed; they stay in the outbox, retrying in \(delay)",
                    metadata: ["chronicle.error": "\(error)"]
                )
                try await retryDelay(delay, after: error)
                delay = min(delay * 2, .seconds(10))
            }
        }
    }
}

extension OutgoingMessage {
    /// The same message, to be delivered now.
    fileprivate var immediate: OutgoingMessage {
        var message = self
        message.deliverAt = nil
        return message
    }
}
