import Foundation

extension AMQPTransport {
    /// How the transport connects, publishes and recovers. Every field has a working default.
    public struct Configuration: Sendable {
        /// The broker.
        public var endpoint: AMQPEndpoint
        /// What is declared on every (re)connect.
        public var topology: Topology
        /// Heartbeat interval negotiated with the broker; a connection silent for twice this long is dropped
        /// and reopened. Whole seconds; zero turns heartbeats off.
        public var heartbeat: Duration = .seconds(30)
        /// How many published messages may await their confirm at once. Publishes beyond it wait.
        public var publishWindow: Int = 1_000
        /// The first wait before reconnecting; it doubles on each failed attempt up to ``maximumBackoff``.
        public var initialBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(5)
        /// How long the first connection may keep failing for transient reasons (refused, unreachable)
        /// before `run()` gives up. Refused credentials, a failed TLS verification or a topology the broker
        /// refuses fail at once.
        public var initialConnectTimeout: Duration = .seconds(30)
        /// Timeout of the TCP connect and of the AMQP handshake.
        public var connectTimeout: Duration = .seconds(10)
        /// On graceful shutdown: how long to wait for deliveries already handed out to be acknowledged and
        /// for publishes to be confirmed before closing anyway (what is not acked is redelivered later).
        public var shutdownGracePeriod: Duration = .seconds(10)
        /// Queues consumed as their only consumer (AMQP's exclusive `basic.consume`): while this transport
        /// consumes one, the broker refuses any other consumer of it, and `consume` fails (`.consumeFailed`) if
        /// another consumer holds it already. `chronicle run` consumes its queue so, since the histories of the
        /// instances its messages belong to are in that process's store.
        public var exclusiveQueues: Set<String> = []

        public init(endpoint: AMQPEndpoint, topology: Topology = .chronicle) {
            self.endpoint = endpoint
            self.topology = topology
        }

        /// A configuration from an `amqp://` or `amqps://` URL.
        public init(url: String, caFile: String? = nil, topology: Topology = .chronicle) throws {
            self.init(endpoint: try AMQPEndpoint(url: url, caFile: caFile), topology: topology)
        }
    }
}
