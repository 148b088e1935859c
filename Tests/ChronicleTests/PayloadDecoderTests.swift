import Foundation
import Testing

@testable import Chronicle

/// `Payload.decode` reads most JSON with its own decoder; these hold it to `Payload.decoder`'s values and errors.
@Suite("Payload's decoder reads what JSONDecoder reads")
struct PayloadDecoderTests {
    typealias Message = CodingSample.Message
    typealias Outcome = CodingSample.Outcome

    private let message = """
        {"tripId":"trip-1","bookingId":"7C1B2E3A-0F4D-4E5A-9B6C-1D2E3F405162","nights":-3,"late":true,
         "requestedAt":"2026-11-22T00:28:43.456Z","tags":["a","","b\\/c"],
         "legs":[{"from":"LIS","to":"ZRH","seats":[0,255],"price":9223372036854775807},
                 {"from":"ZRH","to":"LIS","seats":[],"price":-9223372036854775808}],
         "extras":{"Z10":1,"é":5},"status":"closed","outcome":{"booked":{"reservation":"r-9","count":2}},
         "unknown":{"ignored":[1.5,null,true]}}
        """

    /// A decoding's value, or its error's description.
    enum Decoded<T: Equatable>: Equatable {
        case value(T)
        case error(String)

        init(_ decode: () throws -> T) {
            do { self = .value(try decode()) } catch { self = .error("\(error)") }
        }
    }

    /// What `JSONDecoder` gives.
    private func reference<T: Decodable>(_ type: T.Type, _ data: Data) -> Decoded<T> {
        Decoded { try Payload.sharedDecoder.decode(type, from: data) }
    }

    /// `Payload.decode` gives what `JSONDecoder` gives, value or error; the quick decoder, when it answers, too.
    private func expectAgreement<T: Decodable & Equatable>(
        _ type: T.Type, _ json: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let expected = reference(type, Data(json.utf8))
        let actual = Decoded { try Payload.decode(type, from: Data(json.utf8)) }
        #expect(actual == expected, "\(json)", sourceLocation: sourceLocation)
        if let quick = PayloadDecoder.decode(type, from: Data(json.utf8)) {
            #expect(.value(quick) == expected, "\(json)", sourceLocation: sourceLocation)
        }
    }

    @Test("messages: nested objects and arrays, optionals, enums, UUIDs, dates, escapes")
    func messages() throws {
        let quick = try #require(PayloadDecoder.decode(Message.self, from: Data(message.utf8)))
        #expect(quick == (try Payload.sharedDecoder.decode(Message.self, from: Data(message.utf8))))
        #expect(quick.tags == ["a", "", "b/c"])
        #expect(quick.note == nil)
        let escaped = #"["\"\\\/\b\f\n\r\t\u0000\u00e9\u6f22\ud83e\uddf3 é"]"#
        #expect(
            PayloadDecoder.decode([String].self, from: Data(escaped.utf8)) == ["\"\\/\u{08}\u{0C}\n\r\t\u{00}é漢🧳 é"])
        expectAgreement([String].self, escaped)
        #expect(PayloadDecoder.decode(Int.self, from: Data(" -0 ".utf8)) == 0)
        #expect(PayloadDecoder.decode(String?.self, from: Data("null".utf8)) == .some(nil))
    }

    @Test("what is not strict JSON, or not a value it reads, goes to JSONDecoder")
    func fallbacks() {
        let refused: [(String, any Decodable.Type)] = [
            ("{\"a\":1,\"a\":2}", [String: Int].self),  // a key twice
            ("1.0", Int.self), ("1e2", Int.self), ("2.5", Double.self),  // fractions and exponents
            ("01", Int.self), ("+1", Int.self), ("-", Int.self), ("128", Int8.self),  // not JSON, or too big
            ("5", Int128.self), ("[5]", [UInt128].self), (#"{"n":5}"#, [String: Int128].self),
            ("\"\\ud800\"", String.self), ("\"\\x\"", String.self), ("\"a\u{01}\"", String.self),  // bad strings
            ("\"AAEC\"", Data.self), ("\"https://example.com\"", URL.self), ("1", Decimal.self),
            ("[1,]", [Int].self), ("{\"a\":1,}", [String: Int].self), ("[1] x", [Int].self), ("", Int.self),
            ("\u{FEFF}1", Int.self), ("tru", Bool.self), ("\"2026-13-01T00:00:00Z\"", Date.self),
            (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), [[[Int]]].self),
        ]
        for (json, type) in refused {
            #expect(PayloadDecoder.decode(type, from: Data(json.utf8)) == nil, "\(json) as \(type)")
        }
        // Keys that are one number: JSONDecoder's choice among them changes from process to process.
        #expect(PayloadDecoder.decode([Int: String].self, from: Data(#"{"1":"a","+1":"b"}"#.utf8)) == nil)
        #expect(PayloadDecoder.decode([Int: String].self, from: Data(#"{"1":"a","2":"b"}"#.utf8)) == [1: "a", 2: "b"])
        // Objects of more than 64 fields: looked up one by one, they would cost the square of their number.
        let fields = (0..<65).map { "\"k\($0)\":\($0)" }
        let wide = "{" + fields.joined(separator: ",") + "}"
        #expect(PayloadDecoder.decode([String: Int].self, from: Data(wide.utf8)) == nil)
        let narrow = "{" + fields.dropLast().joined(separator: ",") + "}"
        #expect(PayloadDecoder.decode([String: Int].self, from: Data(narrow.utf8))?.count == 64)
        expectAgreement([String: Int].self, wide)
        // Invalid UTF-8 in a string.
        #expect(PayloadDecoder.decode(String.self, from: Data([0x22, 0xC3, 0x28, 0x22])) == nil)
    }

    /// Catches what its decoder throws, as some `init(from:)` do: a quick decoder that gave up must not leave
    /// it a different value than JSONDecoder gives.
    struct Lenient: Decodable, Equatable {
        enum Key: String, CodingKey { case price, count }
        var price: Double?
        var count: Int?
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            price = try? container.decode(Double.self, forKey: .price)
            count = try? container.decode(Int.self, forKey: .count)
        }
    }

    @Test("a value whose init(from:) catches the quick decoder's refusal is read by JSONDecoder")
    func caughtRefusals() throws {
        #expect(PayloadDecoder.decode(Lenient.self, from: Data(#"{"price":23.5,"count":1}"#.utf8)) == nil)
        #expect(try Payload(json: #"{"price":23.5,"count":1.0}"#).decode(Lenient.self).price == 23.5)
        expectAgreement(Lenient.self, #"{"price":23.5,"count":1.0}"#)
        expectAgreement(Lenient.self, #"{"count":1e0}"#)
    }

    @Test("errors are JSONDecoder's, word for word")
    func errors() {
        for json in ["{", "{}", #"{"tripId":5}"#, "[]", "null", #"{"tripId":"t","bookingId":"not a uuid"}"#] {
            expectAgreement(Message.self, json)
        }
        expectAgreement(Date.self, "\"yesterday\"")
        expectAgreement(Outcome.self, #"{"booked":{"reservation":"r"},"failed":{"_0":"x"}}"#)
    }

    @Test("garbage: 3,000 mutations of a message decode as JSONDecoder decodes them")
    func mutations() {
        var random = SeededRandomNumberGenerator(seed: 2026_11_30)
        let original = Array(message.utf8)
        let alphabet = Array(#"{}[]",:0123456789-.eE+ \tnultrfase\u"#.utf8) + [0x00, 0x80, 0xC3, 0xFF]
        var quickAnswers = 0
        for _ in 0..<3_000 {
            var bytes = original
            for _ in 0...Int.random(in: 0...3, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[index] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: index)
                case 2: bytes.insert(alphabet.randomElement(using: &random)!, at: index)
                default: bytes.removeSubrange(index...)
                }
                if bytes.isEmpty { bytes = [0x20] }
            }
            let data = Data(bytes)
            let expected = reference(Message.self, data)
            let actual = Decoded { try Payload.decode(Message.self, from: data) }
            #expect(actual == expected, "\(String(decoding: bytes, as: UTF8.self))")
            if let quick = PayloadDecoder.decode(Message.self, from: data) {
                quickAnswers += 1
                #expect(.value(quick) == expected, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
        // Most mutations break the message; some leave it valid (whitespace, an ignored field): both kinds ran.
        #expect(quickAnswers > 30)
    }
}
