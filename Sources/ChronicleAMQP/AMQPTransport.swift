import Chronicle
import Foundation
import Logging
import ServiceLifecycle

/// Chronicle's ``Transport`` on RabbitMQ, through librabbitmq.
///
/// One connection, owned by a dedicated thread (librabbitmq is not thread-safe and its calls block); the
/// async methods hand work to that thread and never block the cooperative pool.
///
/// - ``publish(_:)`` sends persistent, mandatory messages on a channel in confirm mode, up to
///   ``Configuration/publishWindow`` unconfirmed at once, and returns when all are confirmed. A nack, a
///   return (no queue bound) or a closed channel make it throw ``AMQPError``.
/// - ``consume(queue:prefetch:)`` opens a channel per stream with `basic.qos(prefetch)` and manual acks.
/// - After a dropped connection or a broker restart it reconnects with back-off, declares the topology again,
///   resumes every consumer and republishes what was not confirmed (the same message id, so at-least-once);
///   deliveries of the old connection can no longer be acked (their ``InboundMessage/generation`` is stale)
///   and are redelivered by the broker.
///
/// It is a `Service`: nothing connects until ``run()`` runs, and calls made before wait for it. Run it in a
/// `ServiceGroup` with the processor. A graceful shutdown stops the consumers (their streams end), waits
/// up to ``Configuration/shutdownGracePeriod`` for what was handed out to be acked and what was published
/// to be confirmed, then closes. Cancelling `run()` closes at once; unacked deliveries return to their queues.
///
/// Delivery tags handed out carry the channel in their top 16 bits.
public final class AMQPTransport: Transport, Service {
    public let configuration: Configuration
    private let driver: ConnectionDriver

    /// - Parameters:
    ///   - configuration: the broker, the topology and the tuning.
    ///   - logger: connection events at info, errors that stop the transport at error.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.driver = ConnectionDriver(configuration: configuration, logger: logger)
    }

    /// Connects and serves until a graceful shutdown completes or the task is cancelled.
    ///
    /// Throws when the first connection fails for good: refused credentials, a failed TLS verification, a
    /// topology the broker refuses, or a broker unreachable for ``Configuration/initialConnectTimeout``.
    /// Later connection losses are retried without end.
    public func run() async throws {
        let driver = self.driver
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await driver.run()
            } onGracefulShutdown: {
                driver.submit(.shutdown(graceful: true))
            }
        } onCancel: {
            driver.submit(.shutdown(graceful: false))
        }
    }

    /// How many connections were opened so far: 1 after connecting, more after each reconnect.
    public var connections: UInt64 { driver.connections.load(ordering: .relaxed) }

    /// Shuts down as a graceful shutdown of the service group would.
    public func shutdown() {
        driver.submit(.shutdown(graceful: true))
    }

    public func publish(_ messages: [OutgoingMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await publish(wire: messages.map(WireMessage.init))
    }

    func publish(wire messages: [WireMessage]) async throws {
        let driver = self.driver
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            driver.submit(.publish(messages, PublishBatch(count: messages.count, continuation: continuation)))
        }
    }

    /// Starts consuming; returns once the broker has accepted the consumer.
    ///
    /// - Throws: ``AMQPError/Code/consumeFailed`` when the queue does not exist or may not be read.
    public func consume(queue: String, prefetch: Int) async throws -> AsyncThrowingStream<[InboundMessage], any Error> {
        let driver = self.driver
        let id = driver.makeConsumerID()
        let (stream, continuation) = AsyncThrowingStream<[InboundMessage], any Error>.makeStream()
        continuation.onTermination = { termination in
            if case .cancelled = termination { driver.submit(.cancelConsumer(id)) }
        }
        try await withCheckedThrowingContinuation { (registration: CheckedContinuation<Void, any Error>) in
            driver.submit(
                .consume(
                    Consumer(
                        id: id, queue: queue, prefetch: max(1, prefetch), continuation: continuation,
                        registration: registration)))
        }
        return stream
    }

    /// Hands the acks to the connection's thread, which writes them (using `multiple` where the messages form a
    /// run) before anything submitted after them; returns without waiting for the write. An ack is no promise to
    /// anyone: one that a broken connection loses means the message comes again, as any unacked one does.
    /// Messages of an earlier connection, or already acked, are skipped.
    ///
    /// - Throws: ``AMQPError/Code/shutdown`` once the transport has stopped.
    public func acknowledge(_ messages: [InboundMessage]) async throws {
        guard !messages.isEmpty else { return }
        if !driver.submit(.ack(messages)) {
            throw AMQPError(.shutdown, "the AMQP transport has stopped; the messages will be delivered again")
        }
    }

    /// Publishes a copy to `chronicle.dead-letter` (confirmed) with the reason and the original exchange and
    /// routing key in headers, then acks the original.
    public func deadLetter(_ message: InboundMessage, reason: String) async throws {
        var headers = message.headers
        headers[ChronicleHeader.deadLetterReason] = reason
        headers[ChronicleHeader.deadLetterExchange] = message.exchange
        headers[ChronicleHeader.deadLetterRoutingKey] = message.routingKey
        let copy = WireMessage(
            exchange: Topology.deadLetter,
            routingKey: message.routingKey,
            messageID: message.messageID,
            type: message.type,
            correlationID: message.correlationID,
            contentType: message.contentType,
            timestamp: message.timestamp,
            headers: headers,
            body: message.body,
            deliverAt: nil
        )
        try await publish(wire: [copy])
        try await acknowledge([message])
    }
}
