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
                $0.failure("failure", failure)
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
            out.case("orchestrationFailed") { $0.failure("failure", failure) }
        }
        return out.finite ? out.text : nil
    }
}
