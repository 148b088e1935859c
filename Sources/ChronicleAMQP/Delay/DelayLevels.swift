import Foundation

/// Delayed delivery without a broker plugin: a cascade of TTL levels.
///
/// Level N is a quorum queue whose every message lives 2^N milliseconds (`x-message-ttl`), then is
/// dead-lettered (at-least-once) to the exchange of level N-1. Each level's topic exchange looks at one word
/// of the routing key: the delay's bit N. A message with that bit set waits in level N's queue; otherwise it
/// moves on to level N-1's exchange at once. Below level 0 the delivery exchange routes it by the rest of the
/// routing key, the destination queue's name. So a message waits exactly the sum of its set bits, every
/// queue holds messages of one TTL (no head-of-line blocking: the head always expires first), and messages
/// are persistent in quorum queues (they survive a broker restart).
///
/// A message is published to the exchange of its highest set bit.
/// Routing key of a delayed message: `b(N-1).….b1.b0.<queue>`, bits as `0`/`1` words, highest first.
public struct DelayLevels: Sendable, Hashable {
    /// How many levels; the longest delay is 2^levels - 1 ms (36 levels: about 795 days).
    public var levels: Int
    /// Names start with this: `<prefix>.NN` for level NN, `<prefix>.deliver` for the delivery exchange.
    public var prefix: String

    public init(levels: Int = 36, prefix: String = "chronicle.delay") {
        precondition((1...48).contains(levels), "delay levels must be between 1 and 48")
        self.levels = levels
        self.prefix = prefix
    }

    /// The longest delay, in milliseconds.
    public var maximumMilliseconds: UInt64 { (UInt64(1) << UInt64(levels)) - 1 }

    /// The exchange (and queue) of level `level`.
    public func name(level: Int) -> String {
        level < 10 ? "\(prefix).0\(level)" : "\(prefix).\(level)"
    }

    /// The exchange that routes expired messages to their queue.
    public var deliveryExchange: String { "\(prefix).deliver" }

    /// Where a message delayed by `milliseconds` (at least 1) for `queue` is published: the exchange of the
    /// level of its highest set bit (publishing to the top level would work too, but every level above costs
    /// the broker a topic match), and a routing key carrying the delay's bits and the queue.
    func route(milliseconds: UInt64, queue: String) -> (exchange: String, routingKey: String) {
        var key = ""
        key.reserveCapacity(levels * 2 + queue.utf8.count)
        for bit in stride(from: levels - 1, through: 0, by: -1) {
            key += (milliseconds >> UInt64(bit)) & 1 == 1 ? "1." : "0."
        }
        key += queue
        return (name(level: min(levels - 1, 63 - milliseconds.leadingZeroBitCount)), key)
    }

    /// The destination queue of a routing key made by ``route(milliseconds:queue:)``, if it is one.
    func destination(ofRoutingKey key: String) -> String? {
        var rest = Substring(key)
        for _ in 0..<levels {
            guard rest.count > 2, rest.first == "0" || rest.first == "1",
                rest[rest.index(after: rest.startIndex)] == "."
            else { return nil }
            rest = rest.dropFirst(2)
        }
        return String(rest)
    }

    private var anyBits: String { Array(repeating: "*", count: levels).joined(separator: ".") }

    /// The delay infrastructure, delivering to `queues`; what the delivery exchange cannot route goes to
    /// `deadLetterExchange` (its alternate exchange) rather than being dropped.
    func topology(
        deliveringTo queues: [String],
        deadLetterExchange: String
    ) -> (exchanges: [Topology.Exchange], queues: [Topology.Queue], bindings: [Topology.Binding]) {
        var exchanges = [
            Topology.Exchange(
                deliveryExchange,
                kind: .topic,
                arguments: ["alternate-exchange": .string(deadLetterExchange)]
            )
        ]
        var levelQueues: [Topology.Queue] = []
        var bindings: [Topology.Binding] = []
        for level in 0..<levels {
            let name = name(level: level)
            let next = level == 0 ? deliveryExchange : self.name(level: level - 1)
            exchanges.append(Topology.Exchange(name, kind: .topic))
            levelQueues.append(
                Topology.Queue(
                    name,
                    kind: .quorum,
                    arguments: [
                        "x-message-ttl": .int(Int64(1) << Int64(level)),
                        "x-dead-letter-exchange": .string(next),
                        "x-dead-letter-strategy": .string("at-least-once"),
                        "x-overflow": .string("reject-publish"),
                    ]
                )
            )
            let higher = Array(repeating: "*.", count: levels - 1 - level).joined()
            bindings.append(Topology.Binding(queue: name, exchange: name, routingKey: "\(higher)1.#"))
            bindings.append(Topology.Binding(exchange: next, source: name, routingKey: "\(higher)0.#"))
        }
        for queue in queues {
            bindings.append(
                Topology.Binding(queue: queue, exchange: deliveryExchange, routingKey: "\(anyBits).\(queue)"))
        }
        return (exchanges, levelQueues, bindings)
    }
}
