import Chronicle
import Foundation
import Synchronization

/// A small AMQP-like broker in memory: topic exchanges, queues, bindings, delayed delivery by a clock, and a
/// dead-letter queue. ``InMemoryTransport`` and ``TestEnvironment`` are built on it.
///
/// Routing follows AMQP topic rules (`*` one word, `#` zero or more); the default exchange `""` routes to the
/// queue named by the routing key. Publishing a message no queue takes is an error, as a mandatory publish
/// is on RabbitMQ.
public final class InMemoryBroker: Sendable {
    /// A message as it was published, with when.
    public struct Published: Sendable {
        public var message: OutgoingMessage
        public var at: Date
    }

    private struct Binding {
        var exchange: String
        var pattern: String
        var queue: String
    }

    private struct Delayed {
        var message: OutgoingMessage
        var sequence: Int
    }

    private struct State {
        var exchanges: Set<String> = []
        var bindings: [Binding] = []
        var queues: [String: [InboundMessage]] = [:]
        var delayed: [Delayed] = []
        var sequence = 0
        var deliveryTag: UInt64 = 0
        var log: [Published] = []
    }

    /// The queue dead-lettered messages go to.
    public static let deadLetterQueue = "chronicle.dead-letter"

    private let state = Mutex(State())

    public init() {
        state.withLock { $0.queues[Self.deadLetterQueue] = [] }
    }

    public func declareExchange(_ name: String) {
        state.withLock { _ = $0.exchanges.insert(name) }
    }

    public func declareQueue(_ name: String) {
        state.withLock { state in
            if state.queues[name] == nil { state.queues[name] = [] }
        }
    }

    /// Binds `queue` to `exchange` for routing keys matching `pattern`; declares both if needed.
    public func bind(queue: String, exchange: String, pattern: String) {
        state.withLock { state in
            state.exchanges.insert(exchange)
            if state.queues[queue] == nil { state.queues[queue] = [] }
            state.bindings.append(Binding(exchange: exchange, pattern: pattern, queue: queue))
        }
    }

    /// Routes `message` now, or holds it until its `deliverAt` if that is after `now`.
    ///
    /// - Throws: ``InMemoryBrokerError`` if no queue takes a mandatory message (when it is routed); a message
    ///   that is not mandatory is dropped then.
    public func publish(_ message: OutgoingMessage, now: Date) throws {
        try state.withLock { state in
            state.log.append(Published(message: message, at: now))
            if let due = message.deliverAt, due > now {
                state.sequence += 1
                state.delayed.append(Delayed(message: message, sequence: state.sequence))
                return
            }
            try Self.route(message, in: &state)
        }
    }

    /// Routes every held message due by `now`, in due order. Returns how many were released.
    @discardableResult
    public func releaseDue(now: Date) -> Int {
        state.withLock { state in
            let due = state.delayed.filter { $0.message.deliverAt.map { $0 <= now } ?? true }
                .sorted { ($0.message.deliverAt ?? now, $0.sequence) < ($1.message.deliverAt ?? now, $1.sequence) }
            state.delayed.removeAll { $0.message.deliverAt.map { $0 <= now } ?? true }
            for held in due { try? Self.route(held.message, in: &state) }
            return due.count
        }
    }

    /// When the soonest held message is due.
    public var nextDueDate: Date? {
        state.withLock { $0.delayed.compactMap(\.message.deliverAt).min() }
    }

    /// Takes up to `limit` messages from the head of `queue`.
    public func take(from queue: String, limit: Int = .max) -> [InboundMessage] {
        state.withLock { state in
            let messages = state.queues[queue] ?? []
            let taken = Array(messages.prefix(limit))
            state.queues[queue] = Array(messages.dropFirst(taken.count))
            return taken
        }
    }

    /// Puts messages back at the head of `queue`, marked redelivered (as the broker does for unacknowledged
    /// deliveries of a consumer that went away).
    public func requeue(_ messages: [InboundMessage], to queue: String) {
        state.withLock { state in
            let again = messages.map { message in
                var message = message
                message.redelivered = true
                return message
            }
            state.queues[queue] = again + (state.queues[queue] ?? [])
        }
    }

    /// Puts a copy of `message` on the dead-letter queue with `reason` in its headers.
    public func deadLetter(_ message: InboundMessage, reason: String) {
        state.withLock { state in
            var copy = message
            copy.headers[ChronicleHeader.deadLetterReason] = reason
            copy.headers[ChronicleHeader.deadLetterExchange] = message.exchange
            copy.headers[ChronicleHeader.deadLetterRoutingKey] = message.routingKey
            state.queues[Self.deadLetterQueue, default: []].append(copy)
        }
    }

    /// How many messages wait in `queue`.
    public func depth(of queue: String) -> Int {
        state.withLock { $0.queues[queue]?.count ?? 0 }
    }

    /// Names of queues holding messages.
    public var nonEmptyQueues: [String] {
        state.withLock { $0.queues.filter { !$0.value.isEmpty }.keys.sorted() }
    }

    /// Held (delayed) messages not yet due.
    public var heldCount: Int { state.withLock { $0.delayed.count } }

    /// Every message published so far, in order.
    public var log: [Published] { state.withLock { $0.log } }

    private static func route(_ message: OutgoingMessage, in state: inout State) throws {
        let queues: [String]
        if message.exchange.isEmpty {
            queues = state.queues[message.routingKey] != nil ? [message.routingKey] : []
        } else {
            var matched: [String] = []
            for binding in state.bindings
            where binding.exchange == message.exchange && topicMatches(binding.pattern, message.routingKey)
                && !matched.contains(binding.queue)
            {
                matched.append(binding.queue)
            }
            queues = matched
        }
        guard !queues.isEmpty else {
            if !message.mandatory { return }
            throw InMemoryBrokerError(
                reason:
                    "no queue takes \(message.type) on exchange '\(message.exchange)' with key '\(message.routingKey)'"
            )
        }
        for queue in queues {
            state.deliveryTag += 1
            state.queues[queue, default: []].append(
                InboundMessage(
                    messageID: message.id,
                    type: message.type,
                    correlationID: message.correlationID,
                    contentType: "application/json",
                    timestamp: message.timestamp,
                    headers: message.headers,
                    body: message.body,
                    exchange: message.exchange,
                    routingKey: message.routingKey,
                    deliveryTag: state.deliveryTag
                )
            )
        }
    }

    /// AMQP topic matching: words separated by dots; `*` matches one word, `#` zero or more.
    public static func topicMatches(_ pattern: String, _ key: String) -> Bool {
        func match(_ p: ArraySlice<Substring>, _ k: ArraySlice<Substring>) -> Bool {
            guard let head = p.first else { return k.isEmpty }
            if head == "#" {
                return (0...k.count).contains { match(p.dropFirst(), k.dropFirst($0)) }
            }
            guard let word = k.first else { return false }
            return (head == "*" || head == word) && match(p.dropFirst(), k.dropFirst())
        }
        return match(
            ArraySlice(pattern.split(separator: ".", omittingEmptySubsequences: false)),
            ArraySlice(key.split(separator: ".", omittingEmptySubsequences: false))
        )
    }
}

/// A message the in-memory broker could not route.
public struct InMemoryBrokerError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
