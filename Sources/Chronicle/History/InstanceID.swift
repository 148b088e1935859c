/// The identity of one orchestration instance: for BookTrip, the trip id.
///
/// It is the AMQP `correlation_id` of every message about the instance.
public struct InstanceID: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The longest id, in UTF-8 bytes, that the processor starts an instance for. The id travels in AMQP's
    /// `correlation_id`, and with a suffix in `message_id` ("…/outcome", "…/step/attempt"), short strings of at most
    /// 255 bytes: a longer one could be stored but never published.
    public static let maximumUTF8Count = 200

    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    public static func < (lhs: InstanceID, rhs: InstanceID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
