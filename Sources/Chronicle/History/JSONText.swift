import Foundation

/// JSON text written field by field, as UTF-8 bytes, for the few documents written on every message — a history
/// event's row, a fake service's reply and journal entry — where `JSONEncoder`'s generic machinery cost a tenth
/// or more of the process's time. The writer gives what `JSONEncoder` with sorted keys gives for the same value,
/// byte for byte (the tests of each document hold it to that); the caller gives the keys in `JSONEncoder`'s
/// sorted order.
package struct JSONText {
    private var bytes: [UInt8] = []
    /// False once a number that is not finite was written, which JSON cannot hold (`JSONEncoder` throws).
    package private(set) var finite = true
    private var needsComma = false

    package init() { bytes.reserveCapacity(512) }

    package var text: String { String(decoding: bytes, as: UTF8.self) }

    package var data: Data { Data(bytes) }

    /// `{…}`: a document that is an object.
    package mutating func document(_ fields: (inout JSONText) -> Void) {
        open(UInt8(ascii: "{"))
        fields(&self)
        close(UInt8(ascii: "}"))
    }

    /// `{"name":{…}}`, the shape of an enum case with associated values.
    package mutating func `case`(_ name: String, _ fields: (inout JSONText) -> Void) {
        document { $0.object(name, fields) }
    }

    package mutating func object(_ key: String, _ fields: (inout JSONText) -> Void) {
        self.key(key)
        document(fields)
    }

    /// `"key":[{…},{…}]`: an array of objects, one written by `element` for each of `elements`.
    package mutating func array<Element>(
        _ key: String, _ elements: [Element], _ element: (inout JSONText, Element) -> Void
    ) {
        self.key(key)
        open(UInt8(ascii: "["))
        for item in elements {
            if needsComma { bytes.append(UInt8(ascii: ",")) }
            document { element(&$0, item) }
        }
        close(UInt8(ascii: "]"))
    }

    /// An object of strings, its keys sorted as `JSONEncoder` sorts them.
    package mutating func strings(_ key: String, _ values: [String: String]) {
        object(key) { $0.fields(values) }
    }

    /// `{"a":"…",…}`, the keys sorted as `JSONEncoder` sorts them.
    package static func object(_ values: [String: String]) -> String {
        var json = JSONText()
        json.document { $0.fields(values) }
        return json.text
    }

    /// `["…","…"]`.
    package static func array(_ values: [String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            quote(value, into: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func fields(_ values: [String: String]) {
        for (name, value) in values.sorted(by: { Self.sortsBefore($0.key, $1.key) }) {
            string(name, value)
        }
    }

    package mutating func string(_ key: String, _ value: String) {
        self.key(key)
        quote(value)
    }

    package mutating func int(_ key: String, _ value: Int) { raw(key, value.description) }

    package mutating func bool(_ key: String, _ value: Bool) { raw(key, value ? "true" : "false") }

    /// A date as `Date`'s own encoding gives it: seconds since 2001 as a number.
    package mutating func date(_ key: String, _ value: Date) {
        let seconds = value.timeIntervalSinceReferenceDate
        if !seconds.isFinite { finite = false }
        var number = seconds.description
        if number.hasSuffix(".0") { number.removeLast(2) }
        raw(key, number)
    }

    /// Bytes as `JSONEncoder` writes `Data` by default: a Base64 string.
    package mutating func base64(_ key: String, _ value: Data) {
        string(key, value.base64EncodedString())
    }

    /// A ``Failure`` as its `Codable` conformance gives it: `"key":{"message":…,"type":…}`.
    package mutating func failure(_ key: String, _ failure: Failure) {
        object(key) {
            $0.string("message", failure.message)
            $0.string("type", failure.type)
        }
    }

    /// A value already in JSON (a number).
    package mutating func raw(_ key: String, _ value: String) {
        self.key(key)
        bytes.append(contentsOf: value.utf8)
    }

    /// The order of `JSONEncoder`'s `.sortedKeys`: by Unicode scalars, as `String`'s `<` compares on Linux.
    package static func sortsBefore(_ a: String, _ b: String) -> Bool { a < b }

    private mutating func open(_ bracket: UInt8) {
        bytes.append(bracket)
        needsComma = false
    }

    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        needsComma = true
    }

    private mutating func key(_ key: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        quote(key)
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func quote(_ value: String) { Self.quote(value, into: &bytes) }

    /// A JSON string as `JSONEncoder` writes it with `.withoutEscapingSlashes`.
    package static func quote(_ value: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Runs that need no escaping are copied whole.
            var runStart = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                escape(byte, into: &bytes)
                runStart = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func escape(_ byte: UInt8, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
        case 0x08: bytes.append(UInt8(ascii: "b"))
        case 0x0C: bytes.append(UInt8(ascii: "f"))
        case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
        default:
            let hex = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [
                UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
            ])
        }
    }
}
