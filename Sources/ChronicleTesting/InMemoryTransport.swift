import Chronicle
import Foundation
import Synchronization

/// A ``Transport`` on an ``InMemoryBroker``: publish routes at once (or holds a delayed message until its
/// time on `clock`), consume polls the broker's queue, and unacknowledged deliveries count against prefetch.
public final class InMemoryTransport: Transport, Sendable {
    public let broker: InMemoryBroker
    private let clock: @Sendable () -> Date
    /// Unacknowledged deliveries: delivery tag → the queue it came from.
    private let unacknowledged = Mutex<[UInt64: String]>([:])

    /// - Parameters:
    ///   - broker: where messages go.
    ///   - clock: the time delayed messages are released by (a ``VirtualClock``'s `reading` in tests).
    public init(broker: InMemoryBroker = InMemoryBroker(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.broker = broker
        self.clock = clock
    }

    public func publish(_ messages: [OutgoingMessage]) async throws {
        let now = clock()
        for message in messages { try broker.publish(message, now: now) }
    }

    public func consume(queue: String, prefetch: Int) async throws -> AsyncThrowingStream<[InboundMessage], any Error> {
        broker.declareQueue(queue)
        let (stream, continuation) = AsyncThrowingStream<[InboundMessage], any Error>.makeStream()
        let poller = Task { [self] in
            while !Task.isCancelled {
                broker.releaseDue(now: clock())
                let room = prefetch - unacknowledged.withLock { $0.values.count { $0 == queue } }
                let batch = room > 0 ? broker.take(from: queue, limit: room) : []
                if batch.isEmpty {
                    try? await Task.sleep(for: .milliseconds(1))
                    continue
                }
                unacknowledged.withLock { for message in batch { $0[message.deliveryTag] = queue } }
                continuation.yield(batch)
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in poller.cancel() }
        return stream
    }

    public func acknowledge(_ messages: [InboundMessage]) async throws {
        unacknowledged.withLock { tags in for message in messages { tags[message.deliveryTag] = nil } }
    }

    public func deadLetter(_ message: InboundMessage, reason: String) async throws {
        broker.deadLetter(message, reason: reason)
        try await acknowledge([message])
    }
}
