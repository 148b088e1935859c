import Foundation

/// A JSON document kept as text: the input and output of an orchestration, a command, a reply.
///
/// Kept as text rather than as bytes so that a history printed or stored as JSON stays readable.
/// Encoding uses sorted keys, so equal values give equal payloads.
public struct Payload: Hashable, Codable, Sendable, CustomStringConvertible {
    public var json: String

    public init(json: String) { self.json = json }

    public init(data: Data) { self.json = String(decoding: data, as: UTF8.self) }

    /// Encodes `value` as JSON with sorted keys and ISO 8601 dates: as ``encoder`` does, byte for byte.
    ///
    /// Most values are written by a quicker encoder of Chronicle's own; a value it cannot follow exactly (one
    /// with floating-point numbers, say) is encoded again by ``encoder``, so its `encode(to:)` may run twice and
    /// should have no side effects. ``decode(_:)`` likewise.
    public init(encoding value: some Encodable) throws {
        // The quick encoder covers what messages are made of; for anything else, and for errors, JSONEncoder.
        if let bytes = try? PayloadEncoder.encode(value) {
            self.json = String(decoding: bytes, as: UTF8.self)
        } else {
            self.json = String(decoding: try Payload.sharedEncoder.encode(value), as: UTF8.self)
        }
    }

    public var data: Data { Data(json.utf8) }

    /// Decodes the payload as `type`.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try Payload.decode(T.self, from: data)
    }

    /// Decodes `data` as `decoder` does — one made by ``decoder``, perhaps with user info of its own — with the
    /// quick decoder where it can.
    package static func decode<T: Decodable>(
        _ type: T.Type, from data: Data, with decoder: JSONDecoder = sharedDecoder
    ) throws -> T {
        if let value = PayloadDecoder.decode(type, from: data, userInfo: decoder.userInfo) { return value }
        return try decoder.decode(type, from: data)
    }

    public var description: String { json }

    public init(from decoder: any Decoder) throws {
        self.json = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(json)
    }

    /// The encoder Chronicle uses for every JSON body: camelCase keys as declared, sorted, ISO 8601 dates
    /// with fractional seconds.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Payload.dateStyle))
        }
        return encoder
    }

    /// The decoder matching ``encoder``; it accepts ISO 8601 dates with or without fractional seconds.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = Payload.date(from: text) { return date }
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "\"\(text)\" is not an ISO 8601 date-time such as 2026-11-29T10:15:00Z"
            )
        }
        return decoder
    }

    /// A date as ``decoder`` reads it: ISO 8601, with or without fractional seconds.
    static func date(from text: String) -> Date? {
        (try? Date(text, strategy: Payload.dateStyle)) ?? (try? Date(text, strategy: .iso8601))
    }

    /// One ``encoder`` and one ``decoder`` for Chronicle's own use (they are safe to share between threads, and
    /// making one per message cost more than the message); users get their own from ``encoder`` and ``decoder``.
    package static let sharedEncoder = encoder
    package static let sharedDecoder = decoder

    package static let dateStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}
