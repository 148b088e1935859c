import Foundation

/// A message delivered to Chronicle by a ``Transport``, not yet acknowledged.
///
/// Properties the sender left out are `nil`: the processor dead-letters what it cannot use, with a reason.
public struct InboundMessage: Sendable {
    public var messageID: String?
    public var type: String?
    public var correlationID: String?
    public var contentType: String?
    public var timestamp: Date?
    public var headers: [String: String]
    public var body: Data
    /// The exchange and routing key it was published with.
    public var exchange: String
    public var routingKey: String
    /// True when the broker delivered it before and it was not acknowledged.
    public var redelivered: Bool
    /// The transport's handle for acknowledging this delivery.
    public var deliveryTag: UInt64
    /// Which connection (or consumer incarnation) delivered it: after a reconnect, tags of an earlier
    /// generation are void, and those messages come again.
    public var generation: UInt64

    public init(
        messageID: String?,
        type: String?,
        correlationID: String?,
        contentType: String? = "application/json",
        timestamp: Date? = nil,
        headers: [String: String] = [:],
        body: Data,
        exchange: String,
        routingKey: String,
        redelivered: Bool = false,
        deliveryTag: UInt64 = 0,
        generation: UInt64 = 0
    ) {
        self.messageID = messageID
        self.type = type
        self.correlationID = correlationID
        self.contentType = contentType
        self.timestamp = timestamp
        self.headers = headers
        self.body = body
        self.exchange = exchange
        self.routingKey = routingKey
        self.redelivered = redelivered
        self.deliveryTag = deliveryTag
        self.generation = generation
    }
}

extension InboundMessage {
    /// The body's top-level string fields (none if it is not a JSON object), read in one parse: what a handler
    /// needs of a message it does not decode whole, such as the ids of a start it refuses.
    public var stringFields: [String: String] {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return [:] }
        return object.compactMapValues { $0 as? String }
    }
}
