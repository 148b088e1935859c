import Foundation
import Logging
import Synchronization

/// Steps 1 to 5 of the processing loop for one batch of deliveries: decode, drop duplicates, replay, and
/// commit everything in one store transaction. What is left (publish, then acknowledge) is the caller's,
/// in that order: ``Processor`` does it with a ``Transport``; the in-memory test environment does it with
/// its broker.
///
/// Not for concurrent use: one batch at a time.
public final class BatchProcessor: Sendable {
    /// What the caller does after the commit, in order: publish ``publish`` (with confirms) and remove those
    /// rows from the outbox; dead-letter ``deadLetter``; acknowledge ``acknowledge``.
    public struct Outcome: Sendable {
        public var publish: [OutgoingMessage] = []
        public var deadLetter: [(message: InboundMessage, reason: String)] = []
        public var acknowledge: [InboundMessage] = []
        /// The events committed, per instance, in order (for logs and the demo's narration).
        public var committed: [(instance: InstanceID, events: [HistoryEvent])] = []
        /// Inputs that changed nothing, and why (duplicates, stale replies, a second start).
        public var ignored: [(message: InboundMessage, reason: String)] = []
        /// The timers committed: scheduled, fired, cancelled.
        public var timerChanges: [TimerChange] = []
    }

    private let registry: OrchestrationRegistry
    private let store: any EventStore
    private let configuration: ProcessorConfiguration
    private let clock: @Sendable () -> Date
    private let logger: Logger
    private let router: MessageRouter
    private let cache: Mutex<InstanceCache>

    public init(
        registry: OrchestrationRegistry,
        store: any EventStore,
        configuration: ProcessorConfiguration = ProcessorConfiguration(),
        clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.registry = registry
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.router = MessageRouter(registry: registry, maximumMessageBytes: configuration.maximumMessageBytes)
        self.cache = Mutex(InstanceCache(capacity: configuration.cacheCapacity))
    }

    /// Unloads the instances still in memory: their suspended code holds references to itself and would
    /// otherwise never be released.
    deinit {
        cache.withLock { $0.removeAll() }
    }

    /// How many instances are in memory.
    public var cachedInstances: Int { cache.withLock { $0.count } }

    /// Decodes, deduplicates, replays and commits one batch; the commit also deletes the outbox rows
    /// `removingFromOutbox` names (messages published since the last commit). Throws only if the commit fails;
    /// then nothing of the batch is stored, the instances it touched are dropped from memory, and the whole batch
    /// may be processed again.
    public func process(_ messages: [InboundMessage], removingFromOutbox published: [String] = []) async throws
        -> Outcome
    {
        let now = clock()
        var outcome = Outcome()
        var batch = CommitBatch()

        // 1. Decode.
        var routed: [(message: InboundMessage, route: MessageRouter.Routed)] = []
        var rejectedStarts: [(InstanceID, String, OrchestrationRegistry.Entry)] = []
        for message in messages {
            switch router.route(message) {
            case .success(let route):
                routed.append((message, route))
            case .failure(let rejection):
                logger.info(
                    "dead-lettering a message",
                    metadata: ["chronicle.reason": "\(rejection.reason)", "amqp.type": "\(message.type ?? "")"]
                )
                outcome.deadLetter.append((message, rejection.reason))
                if let instance = rejection.instance, let name = rejection.orchestration,
                    let entry = registry.entries[name]
                {
                    rejectedStarts.append((instance, rejection.reason, entry))
                }
            }
        }

        // 2. Drop duplicates: applied before (inbox), or twice in this batch.
        let ids = routed.compactMap(\.message.messageID).filter { !$0.isEmpty }
        let applied = ids.isEmpty ? [] : try await store.appliedMessageIDs(among: ids)
        var seen = Set<String>()
        var byInstance: [InstanceID: [(InboundMessage, MessageRouter.Routed)]] = [:]
        var order: [InstanceID] = []
        for (message, route) in routed {
            if let id = message.messageID, !id.isEmpty, applied.contains(id) || !seen.insert(id).inserted {
                outcome.ignored.append((message, "message \(id) was applied before"))
                outcome.acknowledge.append(message)
                continue
            }
            let instance: InstanceID
            switch route {
            case .start(_, let id, _): instance = id
            case .input(let id, _): instance = id
            }
            if byInstance[instance] == nil { order.append(instance) }
            byInstance[instance, default: []].append((message, route))
        }

        // 3–4. Replay each instance with its new inputs.
        var touched: [(InstanceID, OrchestrationInstance, Int)] = []
        do {
            // The instances not in memory, read at once.
            let missing = cache.withLock { cache in order.filter { !cache.contains($0) } }
            let stored = missing.isEmpty ? [:] : try await store.load(missing)
            for instanceID in order {
                let inputs = byInstance[instanceID] ?? []
                guard let (instance, version) = loadInstance(instanceID, stored[instanceID], firstInput: inputs[0].1)
                else {
                    for (message, route) in inputs {
                        let reason: String
                        if case .start = route {
                            reason = "no orchestration is registered for this start"
                        } else {
                            reason = "no instance \(instanceID) exists (a reply or timer for an unknown instance)"
                        }
                        outcome.deadLetter.append((message, reason))
                    }
                    continue
                }
                touched.append((instanceID, instance, version))
                var events: [HistoryEvent] = []
                var nextWakeUp: Date?
                for (message, route) in inputs {
                    let input: HistoryEvent.Kind
                    switch route {
                    case .start(let name, _, let payload): input = .orchestrationStarted(name: name, input: payload)
                    case .input(_, let kind): input = kind
                    }
                    let activation = instance.apply(input, now: now)
                    let wokenTimer = Self.timerID(of: input)
                    var forged: String?
                    if case .ignored(let reason) = activation.disposition {
                        forged = try await unsentCall(instanceID, input, recent: events + activation.newEvents)
                        if let forged {
                            outcome.deadLetter.append((message, forged))
                        } else {
                            outcome.ignored.append((message, reason))
                        }
                        logger.debug(
                            "input ignored",
                            metadata: [
                                "chronicle.instance": "\(instanceID)", "chronicle.reason": "\(forged ?? reason)",
                            ])
                    } else if let timer = wokenTimer {
                        batch.timers.append(.fired(instanceID, timerID: timer))
                    }
                    if forged == nil {
                        if let id = message.messageID, !id.isEmpty { batch.inbox.append(id) }
                        outcome.acknowledge.append(message)
                        // A wake-up that came, applied or not, voids its outbox row (held timers keep one).
                        if let timer = wokenTimer {
                            batch.outboxRemovals.append(TimerMessage.wakeUpID(instance: instanceID, timer: timer))
                        }
                    }
                    // A timer already due (a sleep of zero) fires in this pass, right after the activation that
                    // armed it: no wake-up message and no timer row. Up to a bound per pass, so that code that
                    // sleeps zero in a loop cannot hold up the batch: beyond it, timers go the usual way.
                    var activations = [activation]
                    var index = 0
                    while index < activations.count {
                        let activation = activations[index]
                        index += 1
                        var later: [TimerRequest] = []
                        for timer in activation.timers {
                            if timer.fireAt <= now && activations.count <= Self.timersFiredInPass {
                                activations.append(instance.apply(timer.id.firedEvent, now: now))
                            } else {
                                later.append(timer)
                            }
                        }
                        events += activation.newEvents
                        batch.outbox += outgoing(
                            instanceID, instance.orchestration, activation, timers: later, now: now,
                            returned: instance.returnedOutput)
                        batch.timers += later.map {
                            .schedule(TimerRecord(instanceID: instanceID, timerID: $0.id.description, dueAt: $0.fireAt))
                        }
                        batch.timers += activation.cancelledTimers.map {
                            .cancelled(instanceID, timerID: $0.description)
                        }
                        if let soonest = later.map(\.fireAt).min() { nextWakeUp = min(nextWakeUp ?? soonest, soonest) }
                    }
                }
                if !events.isEmpty {
                    batch.appends.append(
                        InstanceAppend(
                            instanceID: instanceID,
                            orchestration: instance.orchestration,
                            expectedVersion: version,
                            events: events,
                            status: instance.status,
                            nextWakeUp: instance.status == .running ? nextWakeUp : nil,
                            at: now
                        )
                    )
                    outcome.committed.append((instanceID, events))
                }
            }
            for (instanceID, reason, entry) in rejectedStarts where try await store.load(instanceID) == nil {
                if let announcement = entry.announce(
                    instanceID, .failure(Failure(type: "InvalidStart", message: reason)), nil)
                {
                    batch.outbox.append(announce(announcement, instanceID, id: "\(instanceID)/rejected", now: now))
                }
            }

            // A timer that was cancelled voids its wake-up's outbox row, if it is still there (a timer held in
            // memory keeps its row until then; see Processor).
            batch.outboxRemovals += batch.timers.compactMap { change in
                if case .cancelled(let instance, let timer) = change {
                    return TimerMessage.wakeUpID(instance: instance, timer: timer)
                }
                return nil
            }

            // Rows published since the last commit; not one this batch writes again (a re-armed timer's wake-up).
            if !published.isEmpty {
                let written = Set(batch.outbox.map(\.id))
                batch.outboxRemovals += published.filter { !written.contains($0) }
            }

            // 5. Commit the whole batch at once.
            if !batch.isEmpty { try await store.commit(batch) }
        } catch {
            cache.withLock { cache in
                for (id, instance, _) in touched {
                    instance.unload()
                    cache.evict(id)
                }
            }
            throw error
        }

        cache.withLock { cache in
            for (id, instance, version) in touched {
                let appended = batch.appends.first { $0.instanceID == id }?.events.count ?? 0
                cache.put(id, instance: instance, version: version + appended, now: now)
            }
        }
        outcome.publish = batch.outbox
        outcome.timerChanges = batch.timers
        return outcome
    }

    /// Drops every instance from memory (they are rebuilt from the store when needed).
    public func unloadAll() {
        cache.withLock { $0.removeAll() }
    }

    // MARK: - Helpers

    /// The instance from memory, else from what the store holds (`stored`, read for the batch when it was not in
    /// memory), else a new one for a start.
    private func loadInstance(_ id: InstanceID, _ stored: StoredInstance?, firstInput: MessageRouter.Routed) -> (
        OrchestrationInstance, Int
    )? {
        if let cached = cache.withLock({ $0.take(id) }) { return (cached.instance, cached.version) }
        if let stored {
            guard let entry = registry.entries[stored.record.orchestration] else { return nil }
            return (entry.makeInstance(id, stored.events), stored.version)
        }
        guard case .start(let name, _, _) = firstInput, let entry = registry.entries[name] else { return nil }
        return (entry.makeInstance(id, []), 0)
    }

    /// For a reply the instance did not take: why it is not a late or repeated reply but one to a command never
    /// sent (a forged or misaddressed attempt number or step), so that it is dead-lettered rather than quietly
    /// acknowledged; `nil` when the command was sent. Only ignored replies come here, so the store is rarely read.
    private func unsentCall(_ id: InstanceID, _ input: HistoryEvent.Kind, recent: [HistoryEvent]) async throws
        -> String?
    {
        let step: Int
        let attempt: Int
        switch input {
        case .callCompleted(let s, let a, _), .callFailed(let s, let a, _): (step, attempt) = (s, a)
        default: return nil
        }
        let history = (try await store.load(id)?.events ?? []) + recent
        let sent = history.contains { event in
            if case .callScheduled(step, attempt, _, _) = event.kind { return true }
            return false
        }
        return sent ? nil : "no command \(id)/\(step)/\(attempt) was sent: a reply to it is forged or misaddressed"
    }

    /// The timer whose wake-up `input` is, if it is one.
    private static func timerID(of input: HistoryEvent.Kind) -> String? {
        switch input {
        case .timerFired(let step): DurableTimerID.sleep(step: step).description
        case .callTimedOut(let step, let attempt): DurableTimerID.callTimeout(step: step, attempt: attempt).description
        default: nil
        }
    }

    /// How many due timers an instance may fire in one pass (see `process`).
    static let timersFiredInPass = 100

    /// The messages an activation sends: its commands, the `timers` it armed that are not yet due (as delayed
    /// messages to the processor's own queue) and, if it ended the instance, the announcement of the outcome
    /// (made from `returned`, the value the code returned, when at hand).
    private func outgoing(
        _ instance: InstanceID,
        _ orchestration: String,
        _ activation: Activation,
        timers: [TimerRequest],
        now: Date,
        returned: (any Sendable)?
    ) -> [OutgoingMessage] {
        var messages = activation.commands.map { call in
            OutgoingMessage(
                id: call.command.idempotencyKey,
                exchange: configuration.commandsExchange,
                routingKey: call.command.routingKey,
                type: call.command.type,
                correlationID: instance.rawValue,
                timestamp: now,
                body: call.command.body.data
            )
        }
        messages += timers.map { timer in
            TimerMessage.wakeUp(
                id: TimerMessage.wakeUpID(instance: instance, timer: timer.id.description), instance: instance,
                timer: timer.id.description,
                queue: configuration.queue, at: now, due: timer.fireAt)
        }
        let result: Result<Payload, Failure>? =
            if let output = activation.output { .success(output) } else { activation.failure.map { .failure($0) } }
        if let result, let entry = registry.entries[orchestration],
            let announcement = entry.announce(instance, result, returned)
        {
            messages.append(announce(announcement, instance, id: "\(instance)/outcome", now: now))
        }
        return messages
    }

    private func announce(
        _ announcement: OrchestrationRegistry.Announcement,
        _ instance: InstanceID,
        id: String,
        now: Date
    ) -> OutgoingMessage {
        OutgoingMessage(
            id: id,
            exchange: configuration.eventsExchange,
            routingKey: announcement.routingKey,
            type: announcement.type,
            correlationID: instance.rawValue,
            timestamp: now,
            body: announcement.body.data,
            mandatory: false
        )
    }
}
