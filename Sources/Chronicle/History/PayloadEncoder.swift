import Foundation

/// Encodes a value as ``Payload/encoder`` does, byte for byte, without `JSONEncoder`'s generic machinery: every
/// command, start input and result of every saga goes through here, and `JSONEncoder` was the largest single
/// cost of the processor's own code.
///
/// It covers what messages are made of — objects, arrays, strings, integers, booleans, `nil`, `UUID`, `Date`
/// (as ``Payload/encoder``'s ISO 8601 text) — and gives up (``Unsupported``) on anything whose JSON it does not
/// reproduce exactly: floating-point numbers, 128-bit integers, `Data`, `URL`, `Decimal`, nesting over 64 levels,
/// a super-encoder, a key written twice or not in ASCII, a value that writes nothing; also when the value's own
/// `encode(to:)` catches the refusal. ``Payload/init(encoding:)`` then encodes the value with ``Payload/encoder``.
/// The tests hold the two to the same bytes.
struct PayloadEncoder {
    /// The value is not one this encoder writes exactly as `JSONEncoder` does.
    struct Unsupported: Error {}

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let run = EncodingRun()
        let root = try JSONNode.encoding(value, at: nil, nil, run: run, depth: 0)
        // A value's `encode(to:)` may have caught a refusal and gone on without the field.
        guard !run.gaveUp else { throw PayloadEncoder.Unsupported() }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        try root.write(to: &bytes)
        return bytes
    }
}

/// A JSON value being built; objects and arrays are boxes so that containers handed out can fill them later.
private enum JSONNode {
    case text(String)
    /// A number or literal, written as is.
    case literal(String)
    case object(ObjectBox)
    case array(ArrayBox)

    static var null: JSONNode { .literal("null") }

    /// Nesting deeper than this is left to `JSONEncoder` (which refuses 512 levels and more).
    static let maximumDepth = 64

    /// The node `value` encodes to, through the special cases `JSONEncoder` makes for Foundation's types.
    /// - Parameters: `parent` and `key` say where the value is, for its `codingPath`; `depth` how deep.
    static func encoding<T: Encodable>(
        _ value: T, at parent: NodeEncoder?, _ key: (any CodingKey)?, run: EncodingRun, depth: Int
    ) throws -> JSONNode {
        guard depth <= maximumDepth else { throw run.giveUp() }
        if T.self == String.self { return .text(unsafeBitCast(value, to: String.self)) }
        if T.self == UUID.self { return .text(unsafeBitCast(value, to: UUID.self).text) }
        if T.self == Date.self { return .text(unsafeBitCast(value, to: Date.self).formatted(Payload.dateStyle)) }
        if T.self == Int.self { return .literal(unsafeBitCast(value, to: Int.self).description) }
        if T.self == Bool.self { return .literal(unsafeBitCast(value, to: Bool.self) ? "true" : "false") }
        // JSONEncoder writes these itself (data as Base64, URLs as text, decimals as numbers), not as their
        // `encode(to:)` does; floating-point numbers it formats in ways this encoder does not copy.
        if T.self == Data.self || T.self == URL.self || T.self == Decimal.self || T.self == Double.self
            || T.self == Float.self
        {
            throw run.giveUp()
        }
        let encoder = NodeEncoder(parent: parent, key: key, run: run, depth: depth)
        try value.encode(to: encoder)
        guard let node = encoder.node else { throw run.giveUp() }
        return node
    }

    func write(to bytes: inout [UInt8]) throws {
        switch self {
        case .text(let text): JSONText.quote(text, into: &bytes)
        case .literal(let literal): bytes.append(contentsOf: literal.utf8)
        case .array(let box):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in box.items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                try item.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let box):
            box.fields.sort { JSONText.sortsBefore($0.key, $1.key) }
            let fields = box.fields
            bytes.append(UInt8(ascii: "{"))
            for (index, field) in fields.enumerated() {
                // Keys beyond ASCII: Unicode's orderings and equivalences are JSONEncoder's business.
                guard field.key.utf8.allSatisfy({ $0 < 0x80 }) else { throw PayloadEncoder.Unsupported() }
                if index > 0 {
                    // A key written twice: JSONEncoder keeps one of them; which, this encoder does not copy.
                    if field.key == fields[index - 1].key { throw PayloadEncoder.Unsupported() }
                    bytes.append(UInt8(ascii: ","))
                }
                JSONText.quote(field.key, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                try field.value.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}

/// What one encoding shares: whether any part of it gave up.
private final class EncodingRun {
    /// Set by every refusal, so that a value's `encode(to:)` that catches one cannot end the encoding with
    /// something `JSONEncoder` would not have written.
    var gaveUp = false

    func giveUp() -> any Error {
        gaveUp = true
        return PayloadEncoder.Unsupported()
    }
}

private final class ObjectBox {
    var fields: [(key: String, value: JSONNode)]

    init() {
        fields = []
        fields.reserveCapacity(8)
    }
}

private final class ArrayBox {
    var items: [JSONNode] = []
}

/// The `Encoder` handed to a value's `encode(to:)`; it ends with the value's node.
private final class NodeEncoder: Encoder {
    let parent: NodeEncoder?
    let key: (any CodingKey)?
    /// Made when asked for only: most values never ask.
    var codingPath: [any CodingKey] {
        var path = parent?.codingPath ?? []
        if let key { path.append(key) }
        return path
    }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: JSONNode?
    /// The encoding this value is part of: whether any of it gave up.
    let run: EncodingRun

    /// How deep the value is in the document.
    let depth: Int

    init(parent: NodeEncoder?, key: (any CodingKey)?, run: EncodingRun, depth: Int) {
        self.parent = parent
        self.key = key
        self.run = run
        self.depth = depth
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: ObjectBox
        switch node {
        case .none:
            box = ObjectBox()
            node = .object(box)
        case .object(let existing):
            box = existing
        default:
            run.gaveUp = true
            box = ObjectBox()
        }
        return KeyedEncodingContainer(KeyedContainer(encoder: self, box: box, depth: depth))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: ArrayBox
        switch node {
        case .none:
            box = ArrayBox()
            node = .array(box)
        case .array(let existing):
            box = existing
        default:
            run.gaveUp = true
            box = ArrayBox()
        }
        return UnkeyedContainer(encoder: self, box: box, depth: depth)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }

    func check() throws {
        if run.gaveUp { throw PayloadEncoder.Unsupported() }
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: NodeEncoder
    let box: ObjectBox
    /// How deep the object is in the document.
    let depth: Int
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func add(_ node: JSONNode, _ key: Key) throws {
        try encoder.check()
        box.fields.append((key.stringValue, node))
    }

    mutating func encodeNil(forKey key: Key) throws { try add(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try add(.literal(value ? "true" : "false"), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try add(.text(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try add(.literal(value.description), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: Int128, forKey key: Key) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { throw encoder.run.giveUp() }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try add(try JSONNode.encoding(value, at: encoder, key, run: encoder.run, depth: depth + 1), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        if (try? add(.object(nested), key)) == nil { encoder.run.gaveUp = true }
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(encoder: encoder, box: nested, depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        if (try? add(.array(nested), key)) == nil { encoder.run.gaveUp = true }
        return UnkeyedContainer(encoder: encoder, box: nested, depth: depth + 1)
    }

    mutating func superEncoder() -> any Encoder {
        encoder.run.gaveUp = true
        return encoder
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder.run.gaveUp = true
        return encoder
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: NodeEncoder
    let box: ArrayBox
    /// How deep the array is in the document.
    let depth: Int
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { box.items.count }

    private func add(_ node: JSONNode) throws {
        try encoder.check()
        box.items.append(node)
    }

    mutating func encodeNil() throws { try add(.null) }
    mutating func encode(_ value: Bool) throws { try add(.literal(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { try add(.text(value)) }
    mutating func encode(_ value: Int) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: Int8) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: Int16) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: Int32) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: Int64) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: UInt) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: UInt8) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: UInt16) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: UInt32) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: UInt64) throws { try add(.literal(value.description)) }
    mutating func encode(_ value: Double) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: Float) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: Int128) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: UInt128) throws { throw encoder.run.giveUp() }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try add(
            try JSONNode.encoding(value, at: encoder, IndexKey(intValue: count), run: encoder.run, depth: depth + 1))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = ObjectBox()
        if (try? add(.object(nested))) == nil { encoder.run.gaveUp = true }
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(encoder: encoder, box: nested, depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        if (try? add(.array(nested))) == nil { encoder.run.gaveUp = true }
        return UnkeyedContainer(encoder: encoder, box: nested, depth: depth + 1)
    }

    mutating func superEncoder() -> any Encoder {
        encoder.run.gaveUp = true
        return encoder
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func set(_ node: JSONNode) throws {
        try encoder.check()
        // A second value in one single-value container: JSONEncoder refuses it.
        guard encoder.node == nil else { throw encoder.run.giveUp() }
        encoder.node = node
    }

    mutating func encodeNil() throws { try set(.null) }
    mutating func encode(_ value: Bool) throws { try set(.literal(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { try set(.text(value)) }
    mutating func encode(_ value: Int) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: Int8) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: Int16) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: Int32) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: Int64) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: UInt) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: UInt8) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: UInt16) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: UInt32) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: UInt64) throws { try set(.literal(value.description)) }
    mutating func encode(_ value: Double) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: Float) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: Int128) throws { throw encoder.run.giveUp() }
    mutating func encode(_ value: UInt128) throws { throw encoder.run.giveUp() }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try set(
            try JSONNode.encoding(value, at: encoder.parent, encoder.key, run: encoder.run, depth: encoder.depth + 1))
    }
}

extension UUID {
    /// `uuidString`, which formats through `snprintf` on Linux, written directly.
    fileprivate var text: String {
        let hex = Array("0123456789ABCDEF".utf8)
        return withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var count = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[count] = UInt8(ascii: "-")
                        count += 1
                    }
                    out[count] = hex[Int(byte >> 4)]
                    out[count + 1] = hex[Int(byte & 0xF)]
                    count += 2
                }
                return count
            }
        }
    }
}
