import Chronicle
import Synchronization

/// A ``Transport`` that takes every publish at once and records how each delivery was settled, so that the
/// harness can check that every message was settled exactly once.
///
/// The transport is not under test here: ChronicleTesting's `InMemoryTransport` would route through its broker,
/// whose log keeps every message and would grow without bound over millions of inputs.
final class SettlingTransport: Transport, Sendable {
    struct Record: Sendable {
        var published: [OutgoingMessage] = []
        /// Delivery tags acknowledged, in order.
        var acknowledged: [UInt64] = []
        /// Delivery tags dead-lettered, with the reasons, in order.
        var deadLettered: [(tag: UInt64, reason: String)] = []
    }

    private let record = Mutex(Record())

    /// What was published and settled so far.
    var current: Record { record.withLock { $0 } }

    /// Every message published so far, in order.
    var published: [OutgoingMessage] { record.withLock { $0.published } }

    func publish(_ messages: [OutgoingMessage]) async throws {
        record.withLock { $0.published += messages }
    }

    /// Nothing is consumed: the harness hands batches to ``Processor/handle(_:)`` itself.
    func consume(queue: String, prefetch: Int) async throws -> AsyncThrowingStream<[InboundMessage], any Error> {
        AsyncThrowingStream { $0.finish() }
    }

    func acknowledge(_ messages: [InboundMessage]) async throws {
        record.withLock { $0.acknowledged += messages.map(\.deliveryTag) }
    }

    func deadLetter(_ message: InboundMessage, reason: String) async throws {
        record.withLock { $0.deadLettered.append((message.deliveryTag, reason)) }
    }
}
