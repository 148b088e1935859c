/// Moves messages between Chronicle and the services: publish with confirmation, consume with manual
/// acknowledgement, dead-letter what cannot be used, and deliver later what is delayed.
///
/// The processing loop relies on these guarantees:
/// - ``publish(_:)`` returns only when the broker has taken responsibility for every message (publisher
///   confirms). It throws if any message was refused, or could not be routed and is
///   ``OutgoingMessage/mandatory``; commands are never dropped silently. Messages with
///   ``OutgoingMessage/deliverAt`` are delivered no earlier than that time.
/// - A delivery stays unacknowledged, and so is delivered again, until ``acknowledge(_:)`` is called for it
///   (after its effects are committed and the resulting messages published).
/// - ``deadLetter(_:reason:)`` puts a copy of the message on the dead-letter queue with `reason` in the
///   `x-chronicle-dead-letter-reason` header, and only then acknowledges the original.
///
/// Implementations: `AMQPTransport` (ChronicleAMQP) on RabbitMQ; `InMemoryTransport` (ChronicleTesting).
public protocol Transport: Sendable {
    /// Publishes `messages` and returns once every one is confirmed.
    func publish(_ messages: [OutgoingMessage]) async throws

    /// Starts consuming `queue` with at most `prefetch` unacknowledged deliveries. Deliveries come in
    /// batches: all that were available together, in delivery order. The stream ends when the transport
    /// shuts down; it does not end on a reconnect.
    func consume(queue: String, prefetch: Int) async throws -> AsyncThrowingStream<[InboundMessage], any Error>

    /// Acknowledges `messages`, which must all come from ``consume(queue:prefetch:)`` streams of this
    /// transport. Messages of an earlier connection generation are skipped: the broker delivers them again.
    func acknowledge(_ messages: [InboundMessage]) async throws

    /// Publishes a copy of `message` to the dead-letter queue with `reason`, then acknowledges it.
    func deadLetter(_ message: InboundMessage, reason: String) async throws
}

/// Header names Chronicle puts on messages.
public enum ChronicleHeader {
    /// Why a message was dead-lettered.
    public static let deadLetterReason = "x-chronicle-dead-letter-reason"
    /// The exchange a dead-lettered message was first published to.
    public static let deadLetterExchange = "x-chronicle-original-exchange"
    /// The routing key a dead-lettered message was first published with.
    public static let deadLetterRoutingKey = "x-chronicle-original-routing-key"
}
