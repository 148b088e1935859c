import Foundation
import Testing

@testable import Chronicle

/// `Payload(encoding:)` writes most values with its own encoder; these hold it to `Payload.encoder`'s bytes.
@Suite("Payload's encoder writes what JSONEncoder writes")
struct PayloadEncoderTests {
    /// The bytes of both encoders, and whether the quick one wrote them itself.
    private func encodings(_ value: some Encodable) throws -> (quick: String?, reference: String) {
        let quick = (try? PayloadEncoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
        let reference = String(decoding: try Payload.sharedEncoder.encode(value), as: UTF8.self)
        return (quick, reference)
    }

    /// The quick encoder writes `value` itself, and byte for byte as `JSONEncoder` does.
    private func expectSame(_ value: some Encodable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (quick, reference) = try encodings(value)
        #expect(quick != nil, "the quick encoder gave up on \(reference)", sourceLocation: sourceLocation)
        #expect(quick == reference, sourceLocation: sourceLocation)
        #expect(try Payload(encoding: value).json == reference, sourceLocation: sourceLocation)
    }

    /// The quick encoder gives up on `value`, and `Payload(encoding:)` still writes `JSONEncoder`'s bytes.
    private func expectFallback(_ value: some Encodable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (quick, reference) = try encodings(value)
        #expect(quick == nil, "the quick encoder wrote \(quick ?? "")", sourceLocation: sourceLocation)
        #expect(try Payload(encoding: value).json == reference, sourceLocation: sourceLocation)
    }

    typealias Message = CodingSample.Message
    typealias Leg = CodingSample.Leg
    typealias Outcome = CodingSample.Outcome

    private let when = Date(timeIntervalSinceReferenceDate: 817_000_123.456)

    private func message(note: String? = nil, tripId: String = "trip-1") -> Message {
        Message(
            tripId: tripId,
            bookingId: UUID(uuidString: "7C1B2E3A-0F4D-4E5A-9B6C-1D2E3F405162")!,
            nights: -3,
            late: true,
            requestedAt: when,
            note: note,
            tags: ["a", "", "b/c"],
            legs: [
                Leg(from: "LIS", to: "ZRH", seats: [0, 255], price: .max),
                Leg(from: "ZRH", to: "LIS", seats: [], price: .min),
            ],
            extras: ["Z10": 1, "Z9": 2, "a": 3, "B": 4, "b": 6, "a/b": 7, "_": 8, "~": 9, " ": 10],
            status: .closed,
            outcome: .booked(reservation: "r-9", count: 2)
        )
    }

    @Test("messages: nested objects and arrays, optionals, enums, UUIDs, dates, sorted keys")
    func messages() throws {
        try expectSame(message())
        try expectSame(message(note: "with a note"))
        try expectSame([message(), message(note: "")])
        try expectSame(Outcome.failed("no seat"))
        try expectSame(Outcome.none)
        try expectSame(["only": Outcome.booked(reservation: "r", count: 0)])
    }

    @Test("text that needs escaping, and text that does not")
    func text() throws {
        let awkward = [
            "quote \" backslash \\ slash / tab \t newline \n return \r",
            "controls \u{00}\u{01}\u{08}\u{0B}\u{0C}\u{1F}\u{7F}",
            "unicode é 漢字 🧳 \u{2028}\u{2029} e\u{301}",
            "",
        ]
        for text in awkward {
            try expectSame(text)
            try expectSame(message(note: text, tripId: text))
            if text.utf8.allSatisfy({ $0 < 0x80 }) {
                try expectSame([text: text])
            } else {
                try expectFallback([text: text])
            }
        }
    }

    @Test("top-level scalars, integers at their limits, nil")
    func scalars() throws {
        try expectSame(0)
        try expectSame(Int.min)
        try expectSame(UInt64.max)
        try expectSame(Int8.min)
        try expectSame(true)
        try expectSame(Int?.none)
        try expectSame([Int?.none, 1])
        try expectSame(when)
        try expectSame(UUID(uuidString: "00000000-0000-0000-0000-000000000000")!)
        try expectSame([String: [Int]]())
        try expectSame([[String]]())
        try expectSame([1: "one", 10: "ten", 2: "two"])
    }

    struct Measured: Codable {
        var name: String
        var weight: Double
    }

    struct Attached: Codable {
        var data: Data
        var link: URL
    }

    struct Priced: Codable {
        var price: Decimal
    }

    /// Writes the same key twice, which JSONEncoder resolves in its own way.
    struct TwiceKeyed: Encodable {
        enum Key: String, CodingKey { case a }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(1, forKey: .a)
            try container.encode(2, forKey: .a)
        }
    }

    /// Encodes through a super-encoder, as a subclass does.
    final class Derived: Encodable {
        enum Key: String, CodingKey { case own }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("x", forKey: .own)
            try ["base": 1].encode(to: container.superEncoder())
        }
    }

    /// Encodes nothing at all.
    struct Silent: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    /// Catches a refusal and goes on, as some `encode(to:)` do.
    struct Lenient: Encodable {
        enum Key: String, CodingKey { case name, weight }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode("bag", forKey: .name)
            try? container.encode(23.5, forKey: .weight)
        }
    }

    struct Wrapper<Inner: Encodable>: Encodable {
        var inner: Inner
    }

    @Test("what it does not write as JSONEncoder does goes to JSONEncoder")
    func fallbacks() throws {
        try expectFallback(Measured(name: "bag", weight: 23.5))
        try expectFallback([0.1, 1e21, -0.0])
        try expectFallback(Float(1.5))
        try expectFallback(Int128.max)
        try expectFallback(["n": UInt128(7)])
        try expectFallback(Attached(data: Data([0, 1, 254, 255]), link: URL(string: "https://example.com/a?b=c")!))
        try expectFallback(Priced(price: Decimal(string: "12.30")!))
        try expectFallback(TwiceKeyed())
        try expectFallback(Derived())
        try expectFallback(Wrapper(inner: Silent()))
        try expectFallback(Wrapper(inner: Wrapper(inner: 2.5)))
        try expectFallback(Lenient())
        try expectFallback(["é": 1, "a": 3])
        #expect(try Payload(encoding: Lenient()).json == #"{"name":"bag","weight":23.5}"#)
    }

    /// A list nested `depth` levels deep: [[[…]]].
    indirect enum Nested: Encodable {
        case leaf
        case list(Nested)
        init(depth: Int) { self = depth == 0 ? .leaf : .list(Nested(depth: depth - 1)) }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            if case .list(let inner) = self { try container.encode(inner) }
        }
    }

    @Test("deep nesting is left to JSONEncoder, which refuses 512 levels")
    func nesting() throws {
        try expectSame(Nested(depth: 60))
        try expectFallback(Nested(depth: 100))
        #expect(throws: EncodingError.self) { try Payload(encoding: Nested(depth: 600)) }
    }

    @Test("a value JSONEncoder refuses is refused with JSONEncoder's error")
    func errors() throws {
        #expect(throws: EncodingError.self) { try Payload(encoding: Silent()) }
        #expect(throws: EncodingError.self) { try Payload(encoding: Double.nan) }
        #expect(throws: EncodingError.self) { try Payload(encoding: Wrapper(inner: Double.infinity)) }
    }

    @Test("JSONText's objects of strings are JSONEncoder's; its arrays read back as written")
    func handWritten() throws {
        let values = ["quote\"": "back\\slash/é\n", "Z10": "", "Z9": "\u{01}", "B": "🧳", "a/b": "\t"]
        for object in [values, [:]] {
            #expect(
                JSONText.object(object) == String(decoding: try Payload.sharedEncoder.encode(object), as: UTF8.self))
        }
        let strings = Array(values.keys) + Array(values.values)
        for array in [strings, [], [""]] {
            let text = JSONText.array(array)
            #expect(try JSONDecoder().decode([String].self, from: Data(text.utf8)) == array, "\(text)")
        }
    }
}
