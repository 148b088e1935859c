import Chronicle
import Foundation
import Logging
import Synchronization

/// Runs orchestrations end to end in memory and in virtual time: the real ``Processor`` (decode, replay,
/// commit, publish, acknowledge) on an ``InMemoryEventStore`` and an ``InMemoryTransport``, with services you
/// write as plain functions. When nothing is left to do, the clock jumps to the next timer, so a saga that
/// waits an hour takes a moment. Like Temporal's time-skipping test environment.
///
/// ```swift
/// let env = TestEnvironment(registry: registry)
/// env.addService(queue: "hotel", routingKeys: ["hotel.*"]) { command, now in [reply] }
/// try env.publish(startMessage)
/// try await env.run()
/// ```
///
/// It can also crash the processor at a chosen point (``crash(at:)``): the batch stays unacknowledged and
/// comes again, the instances in memory are lost, and the outbox is published again on recovery.
public final class TestEnvironment: Sendable {
    /// Where to crash the processor, once, in the next batch.
    public enum CrashPoint: Sendable, CaseIterable {
        /// After the commit, before anything is published.
        case afterCommit
        /// After publishing, before the outbox rows are cleared and the batch acknowledged.
        case afterPublish
        /// Before the batch is acknowledged.
        case beforeAcknowledge
    }

    /// Something that happened, for narration and assertions.
    public enum Step: Sendable {
        case published(OutgoingMessage, at: Date)
        case committed(InstanceID, [HistoryEvent])
        case deadLettered(InboundMessage, reason: String)
        case ignored(InboundMessage, reason: String)
        case serviceHandled(service: String, InboundMessage, at: Date)
        case crashed(CrashPoint, at: Date)
        case clockAdvanced(to: Date)
    }

    public typealias Service = @Sendable (_ command: InboundMessage, _ now: Date) -> [OutgoingMessage]

    public let clock: VirtualClock
    public let store: any EventStore
    public let broker: InMemoryBroker
    public let configuration: ProcessorConfiguration
    public let processor: Processor

    private let transport: CrashingTransport
    private let services = Mutex<[(name: String, queue: String, handler: Service)]>([])
    private let observer: @Sendable (Step) -> Void
    private let publishedSoFar = Mutex(0)

    /// - Parameters:
    ///   - registry: the orchestrations and commands.
    ///   - configuration: the processor's; its queue is bound to the start messages and reply types given to
    ///     ``bindProcessor(exchange:routingKeys:)``.
    ///   - clock: virtual time.
    ///   - store: where history goes; in memory unless given (a `SQLiteEventStore`, say).
    ///   - observer: told of every step, in order (the demo prints them).
    public init(
        registry: OrchestrationRegistry,
        configuration: ProcessorConfiguration = ProcessorConfiguration(),
        clock: VirtualClock = VirtualClock(),
        store: any EventStore = InMemoryEventStore(),
        logger: Logger = Logger(label: "chronicle.test", factory: { _ in SwiftLogNoOpLogHandler() }),
        observer: @escaping @Sendable (Step) -> Void = { _ in }
    ) {
        self.clock = clock
        self.configuration = configuration
        self.store = store
        self.broker = InMemoryBroker()
        self.transport = CrashingTransport(InMemoryTransport(broker: broker, clock: clock.reading))
        self.observer = observer
        self.processor = Processor(
            registry: registry,
            store: store,
            transport: transport,
            configuration: configuration,
            clock: clock.reading,
            logger: logger
        )
        broker.declareQueue(configuration.queue)
    }

    /// Routes messages with `routingKeys` on `exchange` to the processor's queue.
    public func bindProcessor(exchange: String, routingKeys: [String]) {
        for key in routingKeys { broker.bind(queue: configuration.queue, exchange: exchange, pattern: key) }
    }

    /// Adds a service: it takes the commands routed to `queue` (bound to `routingKeys` on the commands
    /// exchange) and answers each with the messages `handler` returns. Replies with a `deliverAt` arrive then
    /// (a service's latency, in virtual time).
    public func addService(_ name: String, queue: String, routingKeys: [String], handler: @escaping Service) {
        for key in routingKeys { broker.bind(queue: queue, exchange: configuration.commandsExchange, pattern: key) }
        services.withLock { $0.append((name, queue, handler)) }
    }

    /// Publishes a message now (a start, say).
    public func publish(_ message: OutgoingMessage) throws {
        try broker.publish(message, now: clock.now)
        reportPublished()
    }

    /// Crashes the processor once, at `point`, in the next batch it handles.
    public func crash(at point: CrashPoint) {
        transport.arm(point)
    }

    /// Runs until nothing is left to do, or until `deadline` (virtual) or `maximumSteps` steps.
    ///
    /// - Returns: the number of steps taken (batches, service deliveries and clock jumps).
    @discardableResult
    public func run(until deadline: Date? = nil, maximumSteps: Int = 1_000_000) async throws -> Int {
        var steps = 0
        while steps < maximumSteps {
            steps += 1
            if try await processorStep() { continue }
            if serviceStep() { continue }
            guard let due = broker.nextDueDate, deadline.map({ due <= $0 }) ?? true else { break }
            clock.advance(to: due)
            observer(.clockAdvanced(to: due))
            broker.releaseDue(now: clock.now)
        }
        return steps
    }

    /// Messages on the dead-letter queue, with their reasons (taken off the queue).
    public func takeDeadLetters() -> [(message: InboundMessage, reason: String)] {
        broker.take(from: InMemoryBroker.deadLetterQueue).map {
            ($0, $0.headers[ChronicleHeader.deadLetterReason] ?? "")
        }
    }

    // MARK: - Steps

    private func processorStep() async throws -> Bool {
        let batch = broker.take(from: configuration.queue, limit: configuration.prefetch)
        guard !batch.isEmpty else { return false }
        do {
            let outcome = try await processor.handle(batch)
            reportPublished()
            for (instance, events) in outcome.committed { observer(.committed(instance, events)) }
            for (message, reason) in outcome.deadLetter { observer(.deadLettered(message, reason: reason)) }
            for (message, reason) in outcome.ignored { observer(.ignored(message, reason: reason)) }
        } catch let crash as SimulatedCrash {
            reportPublished()
            observer(.crashed(crash.point, at: clock.now))
            // The broker takes back what was not acknowledged; the processor restarts with nothing in memory.
            broker.requeue(batch, to: configuration.queue)
            processor.batches.unloadAll()
            try await processor.recover()
            reportPublished()
        }
        return true
    }

    private func serviceStep() -> Bool {
        for (name, queue, handler) in services.withLock({ $0 }) {
            guard let command = broker.take(from: queue, limit: 1).first else { continue }
            observer(.serviceHandled(service: name, command, at: clock.now))
            for reply in handler(command, clock.now) {
                do {
                    try broker.publish(reply, now: clock.now)
                } catch {
                    broker.deadLetter(command, reason: "\(name) reply unroutable: \(error)")
                }
            }
            reportPublished()
            return true
        }
        return false
    }

    private func reportPublished() {
        let log = broker.log
        let fresh = publishedSoFar.withLock { count in
            defer { count = log.count }
            return log[count...]
        }
        for entry in fresh { observer(.published(entry.message, at: entry.at)) }
    }
}

/// Thrown by the test environment's transport to stop a batch where a crash would.
struct SimulatedCrash: Error {
    var point: TestEnvironment.CrashPoint
}

/// Wraps a transport and fails, once, at an armed crash point.
private final class CrashingTransport: Transport, Sendable {
    private let inner: InMemoryTransport
    private let armed = Mutex<TestEnvironment.CrashPoint?>(nil)

    init(_ inner: InMemoryTransport) { self.inner = inner }

    func arm(_ point: TestEnvironment.CrashPoint) { armed.withLock { $0 = point } }

    private func trip(_ point: TestEnvironment.CrashPoint) throws {
        let hit = armed.withLock { armed in
            guard armed == point else { return false }
            armed = nil
            return true
        }
        if hit { throw SimulatedCrash(point: point) }
    }

    func publish(_ messages: [OutgoingMessage]) async throws {
        try trip(.afterCommit)
        try await inner.publish(messages)
        try trip(.afterPublish)
    }

    func consume(queue: String, prefetch: Int) async throws -> AsyncThrowingStream<[InboundMessage], any Error> {
        try await inner.consume(queue: queue, prefetch: prefetch)
    }

    func acknowledge(_ messages: [InboundMessage]) async throws {
        try trip(.beforeAcknowledge)
        try await inner.acknowledge(messages)
    }

    func deadLetter(_ message: InboundMessage, reason: String) async throws {
        try await inner.deadLetter(message, reason: reason)
    }
}
