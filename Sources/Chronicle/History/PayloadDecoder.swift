import Foundation

/// Decodes JSON as ``Payload/decoder`` does, without `JSONDecoder`'s generic machinery: every reply, start
/// message and payload the processor reads goes through here.
///
/// It reads strict JSON (RFC 8259, UTF-8) into objects, arrays, strings, integers, booleans and `null`, and
/// decodes from them what messages are made of: strings, integers, booleans, optionals, nested objects and
/// arrays, `UUID`, `Date` (as ``Payload/decoder`` reads it). Anything else — a fraction or exponent, `Data`,
/// `URL`, `Decimal`, 128-bit integers, a key given twice, keys that are one number, more than 64 levels or 64
/// fields — and any error at all, even one the value's own `init(from:)` catches, makes the whole decoding give
/// up (`nil`); the caller then decodes with `JSONDecoder`, which gives the value or the error it always gave. So
/// this decoder never decides what a message means differently: it only decides sooner.
struct PayloadDecoder {
    /// Decodes `type` from `data`, or `nil` to say: ask `JSONDecoder`.
    static func decode<T: Decodable>(
        _ type: T.Type, from data: Data, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) -> T? {
        let root = data.withUnsafeBytes { bytes in
            var reader = JSONReader(bytes: bytes)
            return reader.document()
        }
        guard let root else { return nil }
        let run = DecodingRun(userInfo: userInfo)
        guard let value = try? ValueDecoder(root, run: run, path: nil).decodeValue(T.self),
            !run.gaveUp
        else { return nil }
        return value
    }
}

/// A JSON value read from a message.
private enum JSONValue {
    case string(String)
    /// A number without fraction or exponent, as written.
    case integer(String)
    /// A number with a fraction or exponent: decoding one gives up.
    case otherNumber
    case bool(Bool)
    case null
    case array([JSONValue])
    /// Fields in the order written; the keys are distinct.
    case object([(key: String, value: JSONValue)])
}

/// A strict JSON reader; `nil` for anything it does not accept.
private struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    /// Nesting deeper than this is left to `JSONDecoder`.
    static let maximumDepth = 64
    /// An object with more fields than this is left to `JSONDecoder`: fields are found by looking through them
    /// all, which costs the square of their number (a 50,000-field object took seconds).
    static let maximumFields = 64

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func document() -> JSONValue? {
        guard let value = value(depth: 0) else { return nil }
        skipWhitespace()
        return index == bytes.count ? value : nil
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) -> JSONValue? {
        skipWhitespace()
        guard index < bytes.count, depth < Self.maximumDepth else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "{"): return object(depth: depth + 1)
        case UInt8(ascii: "["): return array(depth: depth + 1)
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    private mutating func literal(_ text: StaticString, _ value: JSONValue) -> JSONValue? {
        let count = text.utf8CodeUnitCount
        guard bytes.count - index >= count,
            memcmp(bytes.baseAddress! + index, text.utf8Start, count) == 0
        else { return nil }
        index += count
        return value
    }

    private mutating func object(depth: Int) -> JSONValue? {
        index += 1
        var fields: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
            // A key given twice: which one JSONDecoder takes is its own business.
            if fields.count == Self.maximumFields || fields.contains(where: { $0.key == key }) { return nil }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            guard let value = value(depth: depth) else { return nil }
            fields.append((key, value))
            skipWhitespace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(fields)
            default: return nil
            }
        }
    }

    private mutating func array(depth: Int) -> JSONValue? {
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            guard let item = value(depth: depth) else { return nil }
            items.append(item)
            skipWhitespace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(items)
            default: return nil
            }
        }
    }

    /// A string from the opening quote on: valid UTF-8, no raw control characters, only JSON's escapes.
    private mutating func string() -> String? {
        index += 1
        let start = index
        // Most strings have no escapes: they are taken as they stand.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            index += 1
        }
        var unescaped = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: unescaped, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "r"): unescaped.append(UInt8(ascii: "\r"))
                case UInt8(ascii: "t"): unescaped.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    unescaped.append(contentsOf: String(Character(scalar)).utf8)
                default: return nil
                }
            default:
                if byte < 0x20 { return nil }
                unescaped.append(byte)
            }
        }
        return nil
    }

    /// The scalar of `\uXXXX` (the `\u` read), or of a surrogate pair; `nil` for a lone surrogate.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let first = hex4() else { return nil }
        if (0xD800..<0xDC00).contains(first) {
            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { return nil }
            index += 2
            guard let second = hex4(), (0xDC00..<0xE000).contains(second) else { return nil }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        }
        return Unicode.Scalar(first)
    }

    private mutating func hex4() -> UInt32? {
        guard bytes.count - index >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    private mutating func number() -> JSONValue? {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { return nil }
        }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
            integral = false
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else { return nil }
            integral = false
        }
        guard integral else { return .otherNumber }
        return .integer(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
    }

    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return index - start
    }
}

/// What one decoding shares: the user info, and whether any part of it gave up.
private final class DecodingRun {
    let userInfo: [CodingUserInfoKey: Any]
    /// Set by every error this decoder throws, so that a value's `init(from:)` that catches one cannot end the
    /// decoding with something `JSONDecoder` would not have given.
    var gaveUp = false

    init(userInfo: [CodingUserInfoKey: any Sendable]) { self.userInfo = userInfo.mapValues { $0 } }

    func giveUp() -> any Error {
        gaveUp = true
        return GaveUp()
    }

    struct GaveUp: Error {}
}

extension JSONValue {
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    func bool(_ run: DecodingRun) throws -> Bool {
        guard case .bool(let bool) = self else { throw run.giveUp() }
        return bool
    }

    func string(_ run: DecodingRun) throws -> String {
        guard case .string(let text) = self else { throw run.giveUp() }
        return text
    }

    func integer<I: FixedWidthInteger>(_ run: DecodingRun) throws -> I {
        guard case .integer(let text) = self, let number = I(text, radix: 10) else { throw run.giveUp() }
        return number
    }
}

/// A step of a coding path: made for values decoded through `init(from:)`, read only when asked for.
private final class PathNode {
    let parent: PathNode?
    let key: any CodingKey

    init(parent: PathNode?, key: any CodingKey) {
        self.parent = parent
        self.key = key
    }
}

/// The `Decoder` for one value.
private struct ValueDecoder: Decoder {
    let value: JSONValue
    let run: DecodingRun
    let path: PathNode?

    init(_ value: JSONValue, run: DecodingRun, path: PathNode?) {
        self.value = value
        self.run = run
        self.path = path
    }

    var codingPath: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = path
        while let step = node {
            keys.append(step.key)
            node = step.parent
        }
        return keys.reversed()
    }

    var userInfo: [CodingUserInfoKey: Any] { run.userInfo }

    func child(_ value: JSONValue, _ key: any CodingKey) -> ValueDecoder {
        ValueDecoder(value, run: run, path: PathNode(parent: path, key: key))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let fields) = value else { throw run.giveUp() }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, fields: fields))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw run.giveUp() }
        return UnkeyedContainer(decoder: self, items: items)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    /// The value as `T`, through the special cases `JSONDecoder` makes for Foundation's types.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == String.self { return unsafeBitCast(try value.string(run), to: T.self) }
        if T.self == Date.self {
            guard let date = Payload.date(from: try value.string(run)) else { throw run.giveUp() }
            return unsafeBitCast(date, to: T.self)
        }
        // JSONDecoder reads these itself (data from Base64, URLs from text, decimals from numbers).
        if T.self == Data.self || T.self == URL.self || T.self == Decimal.self { throw run.giveUp() }
        return try T(from: self)
    }
}

extension ValueDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try value.bool(run) }
    func decode(_ type: String.Type) throws -> String { try value.string(run) }
    func decode(_ type: Double.Type) throws -> Double { throw run.giveUp() }
    func decode(_ type: Float.Type) throws -> Float { throw run.giveUp() }
    func decode(_ type: Int128.Type) throws -> Int128 { throw run.giveUp() }
    func decode(_ type: UInt128.Type) throws -> UInt128 { throw run.giveUp() }
    func decode(_ type: Int.Type) throws -> Int { try value.integer(run) }
    func decode(_ type: Int8.Type) throws -> Int8 { try value.integer(run) }
    func decode(_ type: Int16.Type) throws -> Int16 { try value.integer(run) }
    func decode(_ type: Int32.Type) throws -> Int32 { try value.integer(run) }
    func decode(_ type: Int64.Type) throws -> Int64 { try value.integer(run) }
    func decode(_ type: UInt.Type) throws -> UInt { try value.integer(run) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try value.integer(run) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try value.integer(run) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try value.integer(run) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try value.integer(run) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ValueDecoder
    let fields: [(key: String, value: JSONValue)]

    var codingPath: [any CodingKey] { decoder.codingPath }
    /// The keys in the order written. Where that order could matter — two keys that are one number ("1" and
    /// "01", as a dictionary keyed by integers reads them) — JSONDecoder's order is its hash table's, which
    /// changes from one process to the next: that is left to it.
    var allKeys: [Key] {
        let keys = fields.compactMap { Key(stringValue: $0.key) }
        let numbers = keys.compactMap(\.intValue)
        if Set(numbers).count != numbers.count { decoder.run.gaveUp = true }
        return keys
    }

    func contains(_ key: Key) -> Bool { fields.contains { $0.key == key.stringValue } }

    private func field(_ key: Key) throws -> JSONValue {
        let name = key.stringValue
        guard let field = fields.first(where: { $0.key == name }) else { throw decoder.run.giveUp() }
        return field.value
    }

    private var run: DecodingRun { decoder.run }

    func decodeNil(forKey key: Key) throws -> Bool { try field(key).isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try field(key).bool(run) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try field(key).string(run) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { throw run.giveUp() }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw run.giveUp() }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { throw run.giveUp() }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { throw run.giveUp() }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try field(key).integer(run) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try field(key).integer(run) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try field(key).integer(run) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try field(key).integer(run) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try field(key).integer(run) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try field(key).integer(run) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try field(key).integer(run) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try field(key).integer(run) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try field(key).integer(run) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try field(key).integer(run) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.child(try field(key), key).decodeValue(type)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.child(try field(key), key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.child(try field(key), key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { throw decoder.run.giveUp() }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw decoder.run.giveUp() }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: ValueDecoder
    let items: [JSONValue]
    var currentIndex = 0

    init(decoder: ValueDecoder, items: [JSONValue]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private var run: DecodingRun { decoder.run }

    /// The next element; the index moves on only when it decodes.
    private mutating func take<T>(_ decode: (JSONValue, DecodingRun) throws -> T) throws -> T {
        guard !isAtEnd else { throw run.giveUp() }
        let value = try decode(items[currentIndex], run)
        currentIndex += 1
        return value
    }

    /// The next element through its own decoder.
    private mutating func takeDecoded<T>(_ decode: (ValueDecoder) throws -> T) throws -> T {
        guard !isAtEnd else { throw run.giveUp() }
        let value = try decode(decoder.child(items[currentIndex], IndexKey(intValue: currentIndex)))
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw run.giveUp() }
        guard items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try take { try $0.bool($1) } }
    mutating func decode(_ type: String.Type) throws -> String { try take { try $0.string($1) } }
    mutating func decode(_ type: Double.Type) throws -> Double { throw run.giveUp() }
    mutating func decode(_ type: Float.Type) throws -> Float { throw run.giveUp() }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { throw run.giveUp() }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { throw run.giveUp() }
    mutating func decode(_ type: Int.Type) throws -> Int { try take { try $0.integer($1) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try take { try $0.integer($1) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try take { try $0.integer($1) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try take { try $0.integer($1) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try take { try $0.integer($1) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try take { try $0.integer($1) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try take { try $0.integer($1) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try take { try $0.integer($1) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try take { try $0.integer($1) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try take { try $0.integer($1) } }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try takeDecoded { try $0.decodeValue(type) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try takeDecoded { try $0.container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try takeDecoded { try $0.unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder { throw decoder.run.giveUp() }
}

/// An element's place in an array, for coding paths.
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
