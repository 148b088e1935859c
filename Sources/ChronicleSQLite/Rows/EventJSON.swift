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

/// JSON text written field by field, as UTF-8 bytes (one `String` at the end: appending to a `String` piece by
/// piece cost more than the writing); the caller gives the keys in sorted order.
private struct JSONText {
    private var bytes: [UInt8] = []
    /// False once a date that is not a finite number was written.
    var finite = true
    private var needsComma = false

    init() { bytes.reserveCapacity(512) }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// `{"name":{…}}`, the shape of an enum case with associated values.
    mutating func `case`(_ name: String, _ fields: (inout JSONText) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        object(name, fields)
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func object(_ key: String, _ fields: (inout JSONText) -> Void) {
        self.key(key)
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        fields(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func string(_ key: String, _ value: String) {
        self.key(key)
        quote(value)
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
        bytes.append(contentsOf: value.utf8)
    }

    private mutating func key(_ key: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        quote(key)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A JSON string as `JSONEncoder` writes it (slashes unescaped).
    private mutating func quote(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                continue
            }
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
        bytes.append(UInt8(ascii: "\""))
    }
}
