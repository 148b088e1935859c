import Foundation

/// The exchanges, queues and bindings the transport declares, idempotently, on every (re)connect.
///
/// ``chronicle`` is the wire contract of DESIGN.md: the `chronicle.commands` and `chronicle.events` topic
/// exchanges, the dead-letter exchange and queue `chronicle.dead-letter`, and the delay levels. Add your own
/// queues to it:
///
/// ```swift
/// var topology = Topology.chronicle
/// topology.addQueue("chronicle.orchestrator", boundTo: Topology.commands, routingKeys: ["trip.start"])
/// topology.bind(queue: "chronicle.orchestrator", to: Topology.events, routingKeys: ["hotel.*", "flight.*"])
/// ```
///
/// Every queue declared here can receive delayed messages (``OutgoingMessage`` with `deliverAt`, exchange
/// `""`, routing key = the queue): it is bound to the delay levels' delivery exchange.
public struct Topology: Sendable, Hashable {
    /// Commands (topic): `trip.start`, `hotel.reserve`, …
    public static let commands = "chronicle.commands"
    /// Facts (topic): `hotel.reserved`, `trip.booked`, …
    public static let events = "chronicle.events"
    /// The dead-letter exchange (fanout) and queue.
    public static let deadLetter = "chronicle.dead-letter"

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]
    /// The delay infrastructure; `nil` declares none (delayed publishes then fail).
    public var delays: DelayLevels?

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = [], delays: DelayLevels? = nil)
    {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
        self.delays = delays
    }

    /// The wire contract's exchanges, the dead-letter exchange and queue, and the delay levels.
    public static var chronicle: Topology {
        Topology(
            exchanges: [
                Exchange(commands, kind: .topic),
                Exchange(events, kind: .topic),
                Exchange(deadLetter, kind: .fanout),
            ],
            queues: [Queue(deadLetter)],
            bindings: [Binding(queue: deadLetter, exchange: deadLetter, routingKey: "")],
            delays: DelayLevels()
        )
    }

    /// Adds a durable queue (classic by default; see ``Queue/Kind``) bound to `exchange` with each of
    /// `routingKeys`.
    public mutating func addQueue(
        _ name: String,
        kind: Queue.Kind = .classic,
        boundTo exchange: String? = nil,
        routingKeys: [String] = []
    ) {
        if !queues.contains(where: { $0.name == name }) {
            queues.append(Queue(name, kind: kind))
        }
        if let exchange {
            bind(queue: name, to: exchange, routingKeys: routingKeys)
        }
    }

    /// Adds a queue of this connection's own (see ``Queue/exclusive``), named uniquely after `prefix`, bound as
    /// `bindings` say; returns its name. A tap that sees copies of traffic without taking anyone's messages.
    @discardableResult
    public mutating func addExclusiveQueue(prefix: String, bindings: [(exchange: String, routingKey: String)]) -> String
    {
        let name = "\(prefix).\(UUID().uuidString.lowercased())"
        queues.append(Queue(name, exclusive: true))
        for (exchange, routingKey) in bindings {
            self.bindings.append(Binding(queue: name, exchange: exchange, routingKey: routingKey))
        }
        return name
    }

    /// Binds `queue` to `exchange` with each of `routingKeys`.
    public mutating func bind(queue: String, to exchange: String, routingKeys: [String]) {
        for key in routingKeys {
            let binding = Binding(queue: queue, exchange: exchange, routingKey: key)
            if !bindings.contains(binding) { bindings.append(binding) }
        }
    }

    /// Everything to declare, in order: exchanges, queues, bindings, with the delay levels expanded.
    var expanded: (exchanges: [Exchange], queues: [Queue], bindings: [Binding]) {
        guard let delays else { return (exchanges, queues, bindings) }
        let delayTopology = delays.topology(deliveringTo: queues.map(\.name), deadLetterExchange: Self.deadLetter)
        return (
            exchanges + delayTopology.exchanges, queues + delayTopology.queues, bindings + delayTopology.bindings
        )
    }
}

extension Topology {
    /// A value of an `x-` argument.
    public enum Argument: Sendable, Hashable {
        case string(String)
        case int(Int64)
        case bool(Bool)
    }

    /// A durable exchange.
    public struct Exchange: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            case direct, fanout, topic, headers
        }
        public var name: String
        public var kind: Kind
        public var arguments: [String: Argument]

        public init(_ name: String, kind: Kind, arguments: [String: Argument] = [:]) {
            self.name = name
            self.kind = kind
            self.arguments = arguments
        }
    }

    /// A durable queue.
    public struct Queue: Sendable, Hashable {
        /// Classic durable queues keep persistent messages across restarts; quorum queues are replicated too.
        ///
        /// Queues that other programs publish into are classic by default. On RabbitMQ 3.10 a quorum queue
        /// loses part of a burst from a publisher that does not use confirms and disconnects at once (as
        /// `amqp-publish` does): the publisher's channel goes down before the queue has applied its last
        /// enqueues, and those are dropped. Seen with 100-message bursts while the queue was being consumed:
        /// up to half a burst gone; none lost with a classic queue. Chronicle's own delay levels stay quorum
        /// queues: only Chronicle publishes into them, always with confirms.
        public enum Kind: String, Sendable, Hashable {
            case classic, quorum
        }
        public var name: String
        public var kind: Kind
        public var arguments: [String: Argument]
        /// An exclusive queue belongs to the connection: not durable, deleted when the connection closes (and
        /// declared again, under the same name, on a reconnect). Always classic. For taps and private reply
        /// queues.
        public var exclusive: Bool

        public init(_ name: String, kind: Kind = .classic, arguments: [String: Argument] = [:], exclusive: Bool = false)
        {
            self.name = name
            self.kind = exclusive ? .classic : kind
            self.arguments = arguments
            self.exclusive = exclusive
        }

        /// The arguments as declared, with the queue type.
        var declaredArguments: [String: Argument] {
            var arguments = self.arguments
            arguments["x-queue-type"] = .string(kind.rawValue)
            return arguments
        }
    }

    /// Routes from `exchange` to a queue or to another exchange.
    public struct Binding: Sendable, Hashable {
        public enum Destination: Sendable, Hashable {
            case queue(String)
            case exchange(String)
        }
        public var destination: Destination
        public var exchange: String
        public var routingKey: String

        public init(queue: String, exchange: String, routingKey: String) {
            self.destination = .queue(queue)
            self.exchange = exchange
            self.routingKey = routingKey
        }

        public init(exchange destination: String, source: String, routingKey: String) {
            self.destination = .exchange(destination)
            self.exchange = source
            self.routingKey = routingKey
        }
    }
}
