import Chronicle
import Foundation

/// Writes a history event's payload column: the JSON that `HistoryEvent.Kind`'s `Codable` conformance gives
/// with sorted keys, byte for byte, without `JSONEncoder`'s generic machinery (which took an eighth of the
/// processor's time). The store reads it back with `JSONDecoder` like any other row. `nil` for a time that is not
/// a finite number, which JSON cannot hold (`JSONEncoder` refuses it with an error).
enum EventJSON {
    static func encode(_ kind: HistoryEvent.Kind) -> String? {
        var out = JSONText()
        switch kind {
        case .orchestrationStarted(let name, let input):
            out.case("orchestrationStarted") {
                $0.string("input", input.json)
                $0.string("name", name)
            }
        case .uuidRecorded(let step, let uuid):
            out.case("uuidRecorded") {
                $0.int("step", step)
                $0.string("uuid", uuid.uuidString)
            }
        case .timeRecorded(let step, let time):
            out.case("timeRecorded") {
                $0.int("step", step)
                $0.date("time", time)
            }
        case .randomSeedRecorded(let step, let seed):
            out.case("randomSeedRecorded") {
                $0.raw("seed", seed.description)
                $0.int("step", step)
            }
        case .timerScheduled(let step, let fireAt):
            out.case("timerScheduled") {
                $0.date("fireAt", fireAt)
                $0.int("step", step)
            }
        case .timerFired(let step):
            out.case("timerFired") { $0.int("step", step) }
        case .callScheduled(let step, let attempt, let command, let timeoutAt):
            out.case("callScheduled") {
                $0.int("attempt", attempt)
                $0.object("command") {
                    $0.string("body", command.body.json)
                    $0.string("idempotencyKey", command.idempotencyKey)
                    $0.string("routingKey", command.routingKey)
                    $0.string("type", command.type)
                }
                $0.int("step", step)
                if let timeoutAt { $0.date("timeoutAt", timeoutAt) }
            }
        case .callCompleted(let step, let attempt, let reply):
            out.case("callCompleted") {
                $0.int("attempt", attempt)
                $0.string("reply", reply.json)
                $0.int("step", step)
            }
        case .callFailed(let step, let attempt, let failure):
            out.case("callFailed") {
                $0.int("attempt", attempt)
                $0.failure(failure)
                $0.int("step", step)
            }
        case .callTimedOut(let step, let attempt):
            out.case("callTimedOut") {
                $0.int("attempt", attempt)
                $0.int("step", step)
            }
        case .orchestrationCompleted(let output):
            out.case("orchestrationCompleted") { $0.string("output", output.json) }
        case .orchestrationFailed(let failure):
            out.case("orchestrationFailed") { $0.failure(failure) }
        }
        return out.finite ? out.text : nil
    }
}

/// JSON text written field by field; the caller gives the keys in sorted order.
private struct JSONText {
    var text = ""
    /// False once a date that is not a finite number was written.
    var finite = true
    private var needsComma = false

    /// `{"name":{…}}`, the shape of an enum case with associated values.
    mutating func `case`(_ name: String, _ fields: (inout JSONText) -> Void) {
        text += "{"
        object(name, fields)
        text += "}"
    }

    mutating func object(_ key: String, _ fields: (inout JSONText) -> Void) {
        self.key(key)
        text += "{"
        needsComma = false
        fields(&self)
        text += "}"
        needsComma = true
    }

    mutating func string(_ key: String, _ value: String) {
        self.key(key)
        Self.quote(value, into: &text)
    }

    mutating func int(_ key: String, _ value: Int) { raw(key, value.description) }

    /// A date as `Date`'s own encoding gives it: seconds since 2001 as a number.
    mutating func date(_ key: String, _ value: Date) {
        if !value.timeIntervalSinceReferenceDate.isFinite { finite = false }
        var number = value.timeIntervalSinceReferenceDate.description
        if number.hasSuffix(".0") { number.removeLast(2) }
        raw(key, number)
    }

    mutating func failure(_ failure: Failure) {
        object("failure") {
            $0.string("message", failure.message)
            $0.string("type", failure.type)
        }
    }

    mutating func raw(_ key: String, _ value: String) {
        self.key(key)
        text += value
    }

    private mutating func key(_ key: String) {
        if needsComma { text += "," }
        needsComma = true
        Self.quote(key, into: &text)
        text += ":"
    }

    /// A JSON string as `JSONEncoder` writes it (slashes unescaped).
    static func quote(_ value: String, into text: inout String) {
        text += "\""
        var plain = value.utf8.startIndex
        let bytes = value.utf8
        for index in bytes.indices {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            text += value[plain..<index]
            switch byte {
            case UInt8(ascii: "\""): text += "\\\""
            case UInt8(ascii: "\\"): text += "\\\\"
            case 0x08: text += "\\b"
            case 0x0C: text += "\\f"
            case UInt8(ascii: "\n"): text += "\\n"
            case UInt8(ascii: "\r"): text += "\\r"
            case UInt8(ascii: "\t"): text += "\\t"
            default:
                let hex = String(byte, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
            plain = bytes.index(after: index)
        }
        text += value[plain...]
        text += "\""
    }
}
