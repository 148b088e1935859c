/// An error from the RabbitMQ transport.
///
/// `description` never contains credentials: it names the broker by host, port and virtual host only.
/// Catch a kind of failure by its code: `catch let error as AMQPError where error.code == .unroutable`.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidURL, connectionFailed, authenticationFailed, tlsFailed, connectionLost, topologyFailed
            case unroutable, nacked, channelClosed, consumeFailed, delayOutOfRange, unsupportedDelay
            case shutdown, alreadyRunning, invalidMessage
        }
        private let base: Base

        /// The AMQP URL cannot be used (scheme, host, port or encoding).
        public static let invalidURL = Code(base: .invalidURL)
        /// No connection could be opened (refused, unreachable, timed out).
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The broker refused the credentials or access to the virtual host.
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// The TLS handshake failed, e.g. the broker's certificate is not signed by the configured CA.
        public static let tlsFailed = Code(base: .tlsFailed)
        /// An established connection broke (broker restart, network, missed heartbeats).
        public static let connectionLost = Code(base: .connectionLost)
        /// The broker refused to declare part of the topology (e.g. a queue exists with other arguments).
        public static let topologyFailed = Code(base: .topologyFailed)
        /// A mandatory publish matched no queue: the broker returned it.
        public static let unroutable = Code(base: .unroutable)
        /// The broker refused responsibility for a message (basic.nack).
        public static let nacked = Code(base: .nacked)
        /// The broker closed the publishing channel (e.g. the exchange does not exist).
        public static let channelClosed = Code(base: .channelClosed)
        /// The broker refused to let us consume a queue (e.g. it does not exist).
        public static let consumeFailed = Code(base: .consumeFailed)
        /// A delay is longer than the delay levels reach.
        public static let delayOutOfRange = Code(base: .delayOutOfRange)
        /// A delayed message must name a queue (exchange `""`) declared in the topology.
        public static let unsupportedDelay = Code(base: .unsupportedDelay)
        /// A message cannot be put on the wire: a property, the exchange or the routing key is longer than AMQP's
        /// short strings (255 bytes).
        public static let invalidMessage = Code(base: .invalidMessage)
        /// The transport is shutting down or not running.
        public static let shutdown = Code(base: .shutdown)
        /// `run()` was called on a transport that already runs.
        public static let alreadyRunning = Code(base: .alreadyRunning)

        public var description: String { base.rawValue }

        /// Lets `catch AMQPError.Code.unroutable` work, as GRDB's `ResultCode` does.
        public static func ~= (code: Code, error: any Error) -> Bool {
            (error as? AMQPError)?.code == code
        }
    }

    public var code: Code
    /// What happened, to what, and what to do next. Never contains a password.
    public var message: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "\(code): \(message)" }
}
