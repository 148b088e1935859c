import Foundation

/// One entry of an orchestration instance's history: the durable record from which it is rebuilt.
///
/// History is append-only. Events are of two sorts:
/// - *decisions*, made by orchestration code as it runs (a UUID drawn, a call scheduled, the outcome);
///   on replay the code makes them again and Chronicle checks that they match;
/// - *inputs*, which come from outside (the start, a reply, a timer firing); on replay they are fed back
///   in their recorded order.
///
/// Steps number the decisions an instance makes, from 1, in the order the code asks for them. A call keeps
/// its step across attempts; each back-off wait is a timer with a step of its own.
public struct HistoryEvent: Hashable, Codable, Sendable {
    /// The version of this event format. A store refuses events written with a newer one.
    public static let formatVersion = 1

    /// When the event was recorded (the processor's clock, or virtual time in tests).
    public var timestamp: Date
    public var kind: Kind

    public init(_ kind: Kind, at timestamp: Date) {
        self.kind = kind
        self.timestamp = timestamp
    }

    public enum Kind: Hashable, Codable, Sendable {
        /// Input: the instance was started with `input` (an ``Orchestration``'s encoded input).
        case orchestrationStarted(name: String, input: Payload)
        /// Decision: `context.newUUID()` drew `uuid`.
        case uuidRecorded(step: Int, uuid: UUID)
        /// Decision: `context.now()` read `time`.
        case timeRecorded(step: Int, time: Date)
        /// Decision: `context.makeRandomNumberGenerator()` drew `seed`.
        case randomSeedRecorded(step: Int, seed: UInt64)
        /// Decision: a durable timer was set to fire at `fireAt`.
        case timerScheduled(step: Int, fireAt: Date)
        /// Input: the timer of `step` fired.
        case timerFired(step: Int)
        /// Decision: attempt `attempt` of a call was sent: `command` with `idempotencyKey` as its message id.
        /// If a reply has not come by `timeoutAt`, the attempt times out.
        case callScheduled(step: Int, attempt: Int, command: CommandMessage, timeoutAt: Date?)
        /// Input: the attempt's reply was a success.
        case callCompleted(step: Int, attempt: Int, reply: Payload)
        /// Input: the attempt's reply was a failure.
        case callFailed(step: Int, attempt: Int, failure: Failure)
        /// Input: no reply came before the attempt's timeout.
        case callTimedOut(step: Int, attempt: Int)
        /// Decision: the orchestration returned `output`.
        case orchestrationCompleted(output: Payload)
        /// Decision: the orchestration threw, or could not go on (for example after non-determinism).
        case orchestrationFailed(failure: Failure)
    }
}

extension HistoryEvent.Kind {
    /// The event's type name, as stored and printed: `callScheduled`, `timerFired`, …
    public var name: String {
        switch self {
        case .orchestrationStarted: "orchestrationStarted"
        case .uuidRecorded: "uuidRecorded"
        case .timeRecorded: "timeRecorded"
        case .randomSeedRecorded: "randomSeedRecorded"
        case .timerScheduled: "timerScheduled"
        case .timerFired: "timerFired"
        case .callScheduled: "callScheduled"
        case .callCompleted: "callCompleted"
        case .callFailed: "callFailed"
        case .callTimedOut: "callTimedOut"
        case .orchestrationCompleted: "orchestrationCompleted"
        case .orchestrationFailed: "orchestrationFailed"
        }
    }

    /// True for events that come from outside the orchestration code; false for its decisions.
    public var isInput: Bool {
        switch self {
        case .orchestrationStarted, .timerFired, .callCompleted, .callFailed, .callTimedOut: true
        default: false
        }
    }

    /// The step a decision or input belongs to, if any.
    public var step: Int? {
        switch self {
        case .uuidRecorded(let step, _), .timeRecorded(let step, _), .randomSeedRecorded(let step, _),
            .timerScheduled(let step, _), .timerFired(let step), .callScheduled(let step, _, _, _),
            .callCompleted(let step, _, _), .callFailed(let step, _, _), .callTimedOut(let step, _):
            step
        case .orchestrationStarted, .orchestrationCompleted, .orchestrationFailed:
            nil
        }
    }

    /// True when the event ends the instance.
    public var isTerminal: Bool {
        switch self {
        case .orchestrationCompleted, .orchestrationFailed: true
        default: false
        }
    }
}

/// A command as sent to a service: its message type, where it is routed and its body.
public struct CommandMessage: Hashable, Codable, Sendable {
    /// The message type (AMQP `type`), e.g. `ReserveHotel`.
    public var type: String
    /// The routing key on the commands exchange, e.g. `hotel.reserve`.
    public var routingKey: String
    /// The idempotency key: the message id of this attempt, the same on every replay.
    public var idempotencyKey: String
    public var body: Payload

    public init(type: String, routingKey: String, idempotencyKey: String, body: Payload) {
        self.type = type
        self.routingKey = routingKey
        self.idempotencyKey = idempotencyKey
        self.body = body
    }
}

/// Why something failed, as recorded in history and sent on the wire: an error type, which retry policies
/// match against `nonRetryableErrors`, and a message for people.
public struct Failure: Error, Hashable, Codable, Sendable, CustomStringConvertible {
    /// A stable name for the kind of failure, e.g. `NoAvailability` or `NonDeterminism`.
    public var type: String
    public var message: String

    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    public var description: String { "\(type): \(message)" }
}
