import CRabbitMQ
import Chronicle
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Owns the transport's librabbitmq connection on one dedicated thread.
///
/// Async callers submit commands through a mutex-guarded inbox and a wake-up pipe; the thread sends
/// publishes (keeping up to `publishWindow` unconfirmed), reads every frame (confirms, returns, deliveries,
/// closes), hands deliveries to consumers in batches, and reconnects with back-off. Everything below the
/// inbox is touched by that thread only, which is why the class is `@unchecked Sendable`.
final class ConnectionDriver: @unchecked Sendable {
    private struct Inbox {
        var commands: [Command] = []
        var wakePending = false
        /// The thread is (about to be) blocked in poll(2): only then does a submit write to the pipe.
        var sleeping = false
        var started = false
        var stopped: AMQPError?
    }

    enum Command {
        case publish([WireMessage], PublishBatch)
        case consume(Consumer)
        case cancelConsumer(Int)
        case ack([InboundMessage])
        case shutdown(graceful: Bool)
    }

    private let configuration: AMQPTransport.Configuration
    private let logger: Logger
    private let inbox = Mutex(Inbox())
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let nextConsumerID = Atomic<Int>(1)
    /// ``generation`` as other threads may read it.
    let connections = Atomic<UInt64>(0)

    // Thread-confined state.
    private var connection: AMQPConnection?
    private var generation: UInt64 = 0
    private var pending: [PendingPublish] = []
    private var pendingHead = 0
    private var inflight = ConfirmTracker<PendingPublish>()
    private var consumers: [Consumer] = []
    private var shutdown: (graceful: Bool, deadline: ContinuousClock.Instant)?
    private var lastActivity = ContinuousClock.now
    private static let publishChannel: UInt16 = 1

    init(configuration: AMQPTransport.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "cannot create a pipe: \(errno)")
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(wakeRead, F_SETFL, O_NONBLOCK)
        _ = fcntl(wakeWrite, F_SETFL, O_NONBLOCK)
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    // MARK: Submitting (any thread)

    /// Hands `command` to the connection thread; `false` when the transport has stopped.
    @discardableResult
    func submit(_ command: Command) -> Bool {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard inbox.stopped == nil else { return (false, false) }
            inbox.commands.append(command)
            let wake = inbox.sleeping && !inbox.wakePending
            if wake { inbox.wakePending = true }
            return (true, wake)
        }
        if wake {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
        if !accepted { reject(command) }
        return accepted
    }

    /// Fails a command that arrived after the thread stopped.
    private func reject(_ command: Command) {
        let error = inbox.withLock { $0.stopped } ?? AMQPError(.shutdown, "the AMQP transport has stopped")
        switch command {
        case .publish(_, let batch): batch.fail(all: error)
        case .consume(let consumer): consumer.fail(error)
        case .ack, .cancelConsumer, .shutdown: break
        }
    }

    func makeConsumerID() -> Int { nextConsumerID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Runs the connection thread until shutdown; throws when the first connection cannot be made.
    func run() async throws {
        let alreadyStarted = inbox.withLock { inbox -> Bool in
            defer { inbox.started = true }
            return inbox.started
        }
        if alreadyStarted {
            throw AMQPError(.alreadyRunning, "run() was called twice on the same AMQPTransport")
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread { [self] in
                ProcessingThread.nameCurrentThread("chronicle-amqp")
                let failure = threadMain()
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
            }
            thread.start()
        }
    }

    // MARK: The thread

    private func threadMain() -> AMQPError? {
        var backoff = configuration.initialBackoff
        let started = ContinuousClock.now
        var connectedOnce = false
        var failure: AMQPError?
        while shutdown == nil || shutdown?.graceful == true && (!pendingIsEmpty || !inflight.isEmpty) {
            if let shutdown, ContinuousClock.now >= shutdown.deadline { break }
            do {
                try connect()
                connectedOnce = true
                backoff = configuration.initialBackoff
            } catch {
                disconnect()
                let fatal = [.authenticationFailed, .tlsFailed, .topologyFailed, .invalidURL].contains(error.code)
                if !connectedOnce && (fatal || ContinuousClock.now - started > configuration.initialConnectTimeout) {
                    logger.error("cannot connect to the broker", metadata: ["amqp.error": "\(error)"])
                    failure = error
                    break
                }
                logger.warning(
                    "cannot connect to the broker; retrying",
                    metadata: ["amqp.error": "\(error)", "amqp.backoff": "\(backoff)"])
                wait(for: backoff)
                backoff = min(backoff * 2, configuration.maximumBackoff)
                continue
            }
            do {
                try serve()
                break
            } catch {
                logger.warning("lost the connection to the broker; reconnecting", metadata: ["amqp.error": "\(error)"])
                disconnect()
            }
        }
        connection?.close()
        disconnect()
        let error = failure ?? AMQPError(.shutdown, "the AMQP transport has shut down")
        let leftover = inbox.withLock { inbox -> [Command] in
            inbox.stopped = error
            defer { inbox.commands = [] }
            return inbox.commands
        }
        for command in leftover { reject(command) }
        for entry in pending[pendingHead...] { entry.batch.complete(error) }
        pending = []
        pendingHead = 0
        for consumer in consumers { consumer.finish(throwing: failure) }
        consumers = []
        return failure
    }

    private var pendingIsEmpty: Bool { pendingHead == pending.count }

    /// Opens the connection, declares the topology, opens the publish channel and resumes every consumer.
    private func connect() throws(AMQPError) {
        let heartbeat = Int(configuration.heartbeat.components.seconds)
        let connection = try AMQPConnection(
            endpoint: configuration.endpoint, heartbeatSeconds: heartbeat, timeout: configuration.connectTimeout)
        try connection.openChannel(Self.publishChannel)
        try connection.declare(configuration.topology, on: Self.publishChannel)
        try connection.selectConfirms(Self.publishChannel)
        self.connection = connection
        generation += 1
        connections.store(generation, ordering: .relaxed)
        lastActivity = .now
        for consumer in consumers where consumer.active {
            do {
                try register(consumer, on: connection)
            } catch  where error.code == .consumeFailed {
                // The queue is gone or forbidden: this stream ends; the others go on.
                consumer.active = false
                consumer.finish(throwing: error)
            }
        }
        consumers.removeAll { !$0.active }
        logger.info(
            "connected to the broker",
            metadata: ["amqp.endpoint": "\(configuration.endpoint)", "amqp.generation": "\(generation)"])
    }

    private func register(_ consumer: Consumer, on connection: AMQPConnection) throws(AMQPError) {
        let channel = UInt16(clamping: 1 + consumer.id)
        consumer.channel = channel
        consumer.outstanding = []
        try connection.openChannel(channel)
        try connection.setPrefetch(channel, consumer.prefetch)
        try connection.consume(
            channel, queue: consumer.queue, consumerTag: consumer.tag,
            exclusive: configuration.exclusiveQueues.contains(consumer.queue))
        consumer.registered()
    }

    /// Drops the connection: unconfirmed publishes go back to the front of the queue, to be republished
    /// (same message id) on the next connection; deliveries not yet acked will come again.
    private func disconnect() {
        connection = nil
        let unconfirmed = inflight.reset().map { entry -> PendingPublish in
            var entry = entry
            entry.returned = nil
            return entry
        }
        if !unconfirmed.isEmpty {
            pending = unconfirmed + pending[pendingHead...]
            pendingHead = 0
        }
        for consumer in consumers { consumer.outstanding = [] }
    }

    /// Waits up to `duration`, still taking commands (a shutdown ends the wait).
    private func wait(for duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while shutdown == nil, ContinuousClock.now < deadline {
            sleep(socket: -1, milliseconds: milliseconds(deadline - .now))
            try? takeCommands()
        }
    }

    /// Serves the open connection until a shutdown completes (returns) or the connection fails (throws).
    private func serve() throws(AMQPError) {
        guard let connection else { return }
        let heartbeat = configuration.heartbeat
        while true {
            try takeCommands()
            if let shutdown {
                let drained = pendingIsEmpty && inflight.isEmpty && consumers.allSatisfy(\.outstanding.isEmpty)
                if !shutdown.graceful || drained || ContinuousClock.now >= shutdown.deadline {
                    connection.close()
                    self.connection = nil
                    return
                }
            }
            try sendPending(on: connection, delays: configuration.topology.delays)
            // The acknowledgements and publishes of this round leave in as few segments as they fit.
            connection.flushWrites()
            while let frame = try connection.nextFrame() {
                lastActivity = .now
                try handle(frame, on: connection)
            }
            for consumer in consumers where !consumer.batch.isEmpty {
                logger.trace(
                    "deliveries handed out",
                    metadata: [
                        "amqp.queue": "\(consumer.queue)", "amqp.count": "\(consumer.batch.count)",
                        "amqp.outstanding": "\(consumer.outstanding.count)",
                    ])
                consumer.flush()
            }
            connection.releaseBuffers()
            if !connection.hasBufferedInput && sleep(socket: connection.socketDescriptor, milliseconds: 200) {
                lastActivity = .now
            }
            if heartbeat > .zero, ContinuousClock.now - lastActivity > heartbeat * 2 {
                throw AMQPError(.connectionLost, "the broker sent nothing for two heartbeat intervals")
            }
        }
    }

    /// Blocks until `socket` is readable (returns true), a command is submitted, or the time passes. Returns
    /// at once when commands wait. Submitters write to the pipe only while the thread sleeps here, so a busy
    /// thread costs them no system call.
    @discardableResult
    private func sleep(socket: Int32, milliseconds: Int) -> Bool {
        let mayWait = inbox.withLock { inbox -> Bool in
            guard inbox.commands.isEmpty else { return false }
            inbox.sleeping = true
            return true
        }
        guard mayWait else { return false }
        let ready = chronicle_poll_two(socket, wakeRead, Int32(milliseconds))
        inbox.withLock { $0.sleeping = false }
        if ready & 2 != 0 {
            // A byte may be written after its command was taken: drain whatever is there.
            var buffer: (UInt64, UInt64) = (0, 0)
            while read(wakeRead, &buffer, MemoryLayout.size(ofValue: buffer)) > 0 {}
        }
        return ready & 1 != 0
    }

    private func takeCommands() throws(AMQPError) {
        let commands = inbox.withLock { inbox -> [Command] in
            inbox.wakePending = false
            defer { inbox.commands = [] }
            return inbox.commands
        }
        for command in commands {
            switch command {
            case .publish(let messages, let batch):
                for message in messages { pending.append(PendingPublish(message: message, batch: batch)) }
            case .consume(let consumer):
                if shutdown != nil {
                    consumer.fail(AMQPError(.shutdown, "the AMQP transport is shutting down"))
                    continue
                }
                consumers.append(consumer)
                if let connection {
                    do {
                        try register(consumer, on: connection)
                    } catch {
                        consumers.removeAll { $0 === consumer }
                        consumer.fail(error)
                        if error.code != .consumeFailed { throw error }
                    }
                }
            case .cancelConsumer(let id):
                guard let consumer = consumers.first(where: { $0.id == id }), consumer.active else { continue }
                consumer.active = false
                if let connection {
                    // Closing the channel returns its unacknowledged deliveries to the queue.
                    connection.closeChannel(consumer.channel)
                }
                consumers.removeAll { $0 === consumer }
            case .ack(let messages):
                try acknowledge(messages)
            case .shutdown(let graceful):
                beginShutdown(graceful: graceful)
            }
        }
    }

    private func beginShutdown(graceful: Bool) {
        if let shutdown, !shutdown.graceful || graceful { return }
        shutdown = (graceful, ContinuousClock.now + (graceful ? configuration.shutdownGracePeriod : .zero))
        logger.info("AMQP transport shutting down", metadata: ["amqp.graceful": "\(graceful)"])
        for consumer in consumers where consumer.active {
            consumer.active = false
            if graceful, let connection {
                // Stop taking deliveries; those handed out may still be acked until the grace period ends.
                try? connection.cancel(consumer.channel, consumerTag: consumer.tag)
            }
            consumer.finish(throwing: nil)
        }
    }

    // MARK: Publishing

    private func sendPending(on connection: AMQPConnection, delays: DelayLevels?) throws(AMQPError) {
        while !pendingIsEmpty && inflight.count < configuration.publishWindow {
            let entry = pending[pendingHead]
            var exchange = entry.message.exchange
            var routingKey = entry.message.routingKey
            if let deliverAt = entry.message.deliverAt {
                let milliseconds = (deliverAt.timeIntervalSinceNow * 1000).rounded(.up)
                if milliseconds > 0 {
                    guard let delays else {
                        advance(failing: entry, AMQPError(.unsupportedDelay, "the topology declares no delay levels"))
                        continue
                    }
                    guard exchange.isEmpty else {
                        advance(
                            failing: entry,
                            AMQPError(
                                .unsupportedDelay,
                                "message \(entry.message.messageID ?? "?") is delayed to exchange '\(exchange)'; "
                                    + "delayed messages go to a queue: exchange \"\" and the queue as routing key"))
                        continue
                    }
                    guard milliseconds <= Double(delays.maximumMilliseconds) else {
                        advance(
                            failing: entry,
                            AMQPError(
                                .delayOutOfRange,
                                "message \(entry.message.messageID ?? "?") is delayed \(Int(milliseconds / 1000)) s; "
                                    + "the delay levels reach \(delays.maximumMilliseconds / 1000) s"))
                        continue
                    }
                    (exchange, routingKey) = delays.route(milliseconds: UInt64(milliseconds), queue: routingKey)
                }
            }
            if let problem = entry.message.unsendable(exchange: exchange, routingKey: routingKey) {
                advance(failing: entry, AMQPError(.invalidMessage, problem))
                continue
            }
            try connection.publish(
                entry.message, exchange: exchange, routingKey: routingKey, channel: Self.publishChannel)
            inflight.sent(entry)
            pendingHead += 1
        }
        if pendingHead > 1024 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        if pendingIsEmpty {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
    }

    private func advance(failing entry: PendingPublish, _ error: AMQPError) {
        pendingHead += 1
        entry.batch.complete(error)
    }

    private func confirm(upTo tag: UInt64, multiple: Bool, error: AMQPError?) {
        for entry in inflight.settle(upTo: tag, multiple: multiple) {
            entry.batch.complete(error ?? entry.returned)
        }
    }

    // MARK: Frames

    private func handle(_ frame: IncomingFrame, on connection: AMQPConnection) throws(AMQPError) {
        switch frame {
        case .ack(let tag, let multiple):
            confirm(upTo: tag, multiple: multiple, error: nil)
        case .nack(let tag, let multiple):
            confirm(
                upTo: tag, multiple: multiple,
                error: AMQPError(
                    .nacked, "the broker refused responsibility for the message (basic.nack); publish it again"))
        case .returned(let messageID, let code, let text, let exchange, let routingKey):
            let error = AMQPError(
                .unroutable,
                "message \(messageID ?? "?") to exchange '\(exchange)' with routing key '\(routingKey)' "
                    + "reached no queue (\(code) \(text)); declare and bind a queue for it in the Topology")
            inflight.updateOldest(
                where: { $0.message.messageID == messageID && $0.returned == nil },
                with: { $0.returned = error })
        case .deliver(let channel, let delivery):
            guard let consumer = consumers.first(where: { $0.channel == channel }), consumer.active else {
                // Not handed out: it returns to the queue when its channel closes.
                return
            }
            consumer.outstanding.append(delivery.deliveryTag)
            consumer.batch.append(inbound(delivery, channel: channel))
        case .cancel(let channel):
            if let consumer = consumers.first(where: { $0.channel == channel }), consumer.active {
                consumer.active = false
                consumer.finish(
                    throwing: AMQPError(
                        .consumeFailed, "the broker cancelled consuming queue '\(consumer.queue)' (was it deleted?)"))
            }
        case .channelClosed(let channel, let code, let text):
            connection.confirmChannelClose(channel)
            guard channel == Self.publishChannel else {
                throw AMQPError(.connectionLost, "the broker closed consumer channel \(channel): \(code) \(text)")
            }
            let error = AMQPError(
                .channelClosed,
                "the broker closed the publishing channel (\(code) \(text)); the messages awaiting a confirm "
                    + "were not accepted: check that their exchanges exist, then publish them again")
            for entry in inflight.reset() { entry.batch.complete(error) }
            try connection.openChannel(Self.publishChannel)
            try connection.selectConfirms(Self.publishChannel)
        case .connectionClosed(let code, let text):
            connection.confirmConnectionClose()
            throw AMQPError(.connectionLost, "the broker closed the connection: \(code) \(text)")
        case .other:
            break
        }
    }

    private func inbound(_ delivery: Delivery, channel: UInt16) -> InboundMessage {
        var exchange = delivery.exchange
        var routingKey = delivery.routingKey
        if let delays = configuration.topology.delays, exchange.hasPrefix(delays.prefix + "."),
            let queue = delays.destination(ofRoutingKey: routingKey)
        {
            // Delivered through the delay levels: show it as sent, to the queue by the default exchange.
            exchange = ""
            routingKey = queue
        }
        return InboundMessage(
            messageID: delivery.messageID,
            type: delivery.type,
            correlationID: delivery.correlationID,
            contentType: delivery.contentType,
            timestamp: delivery.timestamp,
            headers: delivery.headers,
            body: delivery.body,
            exchange: exchange,
            routingKey: routingKey,
            redelivered: delivery.redelivered,
            deliveryTag: UInt64(channel) << 48 | delivery.deliveryTag,
            generation: generation
        )
    }

    // MARK: Acknowledging

    /// Acks the messages of the current connection; others are skipped (the broker redelivers them). Tags
    /// already acked are skipped too, since acking one twice would close the channel.
    private func acknowledge(_ messages: [InboundMessage]) throws(AMQPError) {
        guard let connection else { return }
        var byChannel: [UInt16: Set<UInt64>] = [:]
        for message in messages where message.generation == generation {
            byChannel[UInt16(message.deliveryTag >> 48), default: []].insert(message.deliveryTag & 0xFFFF_FFFF_FFFF)
        }
        for (channel, tags) in byChannel {
            guard let consumer = consumers.first(where: { $0.channel == channel }) else { continue }
            logger.trace(
                "acknowledging",
                metadata: [
                    "amqp.queue": "\(consumer.queue)", "amqp.count": "\(tags.count)",
                    "amqp.tags": "\(tags.min() ?? 0)...\(tags.max() ?? 0)",
                    "amqp.outstanding": "\(consumer.outstanding.count)",
                ])
            var prefix = 0
            while prefix < consumer.outstanding.count && tags.contains(consumer.outstanding[prefix]) { prefix += 1 }
            if prefix > 0 {
                try connection.ack(channel, tag: consumer.outstanding[prefix - 1], multiple: prefix > 1)
            }
            for tag in consumer.outstanding[prefix...] where tags.contains(tag) {
                try connection.ack(channel, tag: tag, multiple: false)
            }
            consumer.outstanding.removeAll { tags.contains($0) }
        }
    }

    private func milliseconds(_ duration: Duration) -> Int {
        max(0, Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000))
    }
}

/// A message waiting to be sent or confirmed.
struct PendingPublish {
    var message: WireMessage
    var batch: PublishBatch
    /// Set when the broker returned it as unroutable; reported when its confirm arrives.
    var returned: AMQPError?
}

/// One `publish` call: resumed when every message of it is confirmed, with the first error if any failed.
final class PublishBatch: @unchecked Sendable {
    // Touched only by the connection thread after creation.
    private var remaining: Int
    private var error: AMQPError?
    private let continuation: CheckedContinuation<Void, any Error>

    init(count: Int, continuation: CheckedContinuation<Void, any Error>) {
        self.remaining = count
        self.continuation = continuation
    }

    func complete(_ failure: AMQPError?) {
        guard remaining > 0 else { return }
        if error == nil { error = failure }
        remaining -= 1
        if remaining == 0 {
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }

    func fail(all failure: AMQPError) {
        guard remaining > 0 else { return }
        remaining = 0
        continuation.resume(throwing: failure)
    }
}

/// One `consume` stream.
final class Consumer: @unchecked Sendable {
    let id: Int
    let queue: String
    let prefetch: Int
    var tag: String { "chronicle-\(id)" }
    private let continuation: AsyncThrowingStream<[InboundMessage], any Error>.Continuation
    private var registration: CheckedContinuation<Void, any Error>?

    // Touched only by the connection thread.
    var channel: UInt16 = 0
    var active = true
    /// Broker delivery tags handed out and not yet acked, in delivery order.
    var outstanding: [UInt64] = []
    var batch: [InboundMessage] = []

    init(
        id: Int,
        queue: String,
        prefetch: Int,
        continuation: AsyncThrowingStream<[InboundMessage], any Error>.Continuation,
        registration: CheckedContinuation<Void, any Error>
    ) {
        self.id = id
        self.queue = queue
        self.prefetch = prefetch
        self.continuation = continuation
        self.registration = registration
    }

    func registered() {
        registration?.resume()
        registration = nil
    }

    /// The first registration failed: `consume` throws.
    func fail(_ error: AMQPError) {
        if let registration {
            registration.resume(throwing: error)
            self.registration = nil
        }
        continuation.finish(throwing: error)
    }

    func flush() {
        continuation.yield(batch)
        batch = []
    }

    func finish(throwing error: (any Error)?) {
        if let registration {
            registration.resume(throwing: error ?? AMQPError(.shutdown, "the AMQP transport has shut down"))
            self.registration = nil
        }
        if !batch.isEmpty { flush() }
        continuation.finish(throwing: error)
    }
}
