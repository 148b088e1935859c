import Foundation

/// A message Chronicle has decided to send: a command, a trip outcome, a timer wake-up.
///
/// It is written to the store's outbox in the same transaction as the events that decided it, and only
/// then published. Publishing it again (after a crash) sends the same `id`, which receivers use to drop
/// duplicates.
public struct OutgoingMessage: Hashable, Codable, Sendable {
    /// The AMQP `message_id`; unique per message and the same on every re-publish.
    public var id: String
    /// The exchange to publish to; `""` is the default exchange, which routes to the queue named by
    /// `routingKey`.
    public var exchange: String
    public var routingKey: String
    /// The AMQP `type`: the message name, e.g. `ReserveHotel`.
    public var type: String
    /// The AMQP `correlation_id`: the instance (trip) id.
    public var correlationID: String?
    /// The AMQP `timestamp`.
    public var timestamp: Date
    /// Application headers.
    public var headers: [String: String]
    /// The JSON body.
    public var body: Data
    /// When set, the message is delivered no earlier than this time (through the transport's delay
    /// mechanism); when `nil` it is delivered at once.
    public var deliverAt: Date?
    /// Whether reaching no queue is an error. True for commands and timers: a command nobody takes would be
    /// lost. False for facts announced to whoever subscribes (a trip's outcome): with no subscriber the broker
    /// drops them, and the store still holds the outcome.
    public var mandatory: Bool

    public init(
        id: String,
        exchange: String,
        routingKey: String,
        type: String,
        correlationID: String?,
        timestamp: Date,
        headers: [String: String] = [:],
        body: Data,
        deliverAt: Date? = nil,
        mandatory: Bool = true
    ) {
        self.id = id
        self.exchange = exchange
        self.routingKey = routingKey
        self.type = type
        self.correlationID = correlationID
        self.timestamp = timestamp
        self.headers = headers
        self.body = body
        self.deliverAt = deliverAt
        self.mandatory = mandatory
    }

    private enum CodingKeys: String, CodingKey {
        case id, exchange, routingKey, type, correlationID, timestamp, headers, body, deliverAt, mandatory
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            exchange: try container.decode(String.self, forKey: .exchange),
            routingKey: try container.decode(String.self, forKey: .routingKey),
            type: try container.decode(String.self, forKey: .type),
            correlationID: try container.decodeIfPresent(String.self, forKey: .correlationID),
            timestamp: try container.decode(Date.self, forKey: .timestamp),
            headers: try container.decode([String: String].self, forKey: .headers),
            body: try container.decode(Data.self, forKey: .body),
            deliverAt: try container.decodeIfPresent(Date.self, forKey: .deliverAt),
            // Rows written before the field existed were all published as mandatory.
            mandatory: try container.decodeIfPresent(Bool.self, forKey: .mandatory) ?? true
        )
    }
}
