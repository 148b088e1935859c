import Foundation

/// What applying one input to an instance produced: the events to append, the commands to send and the
/// timers to arm. The processor commits all of it in one transaction, then publishes.
public struct Activation: Sendable {
    /// Whether the input was applied, or ignored (a duplicate, a reply that came after its attempt timed out,
    /// an input for a finished instance). An ignored input changes nothing and can be acknowledged.
    public enum Disposition: Hashable, Sendable {
        case applied
        case ignored(reason: String)
    }

    public var disposition: Disposition
    /// The new events, the input first, in order.
    public var newEvents: [HistoryEvent]
    /// Call attempts to send.
    public var commands: [ScheduledCall]
    /// Timers to arm.
    public var timers: [TimerRequest]
    /// Timers no longer needed (a call attempt's timeout once its reply came).
    public var cancelledTimers: [DurableTimerID]
    /// The instance's status after the activation.
    public var status: InstanceStatus

    static func ignored(_ reason: String, status: InstanceStatus) -> Activation {
        Activation(
            disposition: .ignored(reason: reason),
            newEvents: [],
            commands: [],
            timers: [],
            cancelledTimers: [],
            status: status
        )
    }

    /// The output the instance completed with, if this activation completed it.
    public var output: Payload? {
        for event in newEvents { if case .orchestrationCompleted(let output) = event.kind { return output } }
        return nil
    }

    /// The failure the instance failed with, if this activation failed it.
    public var failure: Failure? {
        for event in newEvents { if case .orchestrationFailed(let failure) = event.kind { return failure } }
        return nil
    }
}

/// One attempt of a call, to be sent.
public struct ScheduledCall: Hashable, Sendable {
    public var step: Int
    public var attempt: Int
    public var command: CommandMessage
    /// When the attempt times out, if it has a timeout (a timer is armed for it too).
    public var timeoutAt: Date?
}

/// A durable timer to arm: when it fires, the processor applies ``DurableTimerID/firedEvent`` to the instance.
public struct TimerRequest: Hashable, Sendable {
    public var id: DurableTimerID
    public var fireAt: Date
}

/// Names a durable timer within an instance, and says what its firing means.
public enum DurableTimerID: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// `context.sleep` (including a retry's back-off wait) at `step`.
    case sleep(step: Int)
    /// The timeout of a call attempt.
    case callTimeout(step: Int, attempt: Int)

    /// The text form, stored and sent in the timer message: `sleep-3`, `timeout-4-2`.
    public var description: String {
        switch self {
        case .sleep(let step): "sleep-\(step)"
        case .callTimeout(let step, let attempt): "timeout-\(step)-\(attempt)"
        }
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        switch (parts.first, parts.count) {
        case ("sleep", 2):
            guard let step = Int(parts[1]), step > 0 else { return nil }
            self = .sleep(step: step)
        case ("timeout", 3):
            guard let step = Int(parts[1]), let attempt = Int(parts[2]), step > 0, attempt > 0 else { return nil }
            self = .callTimeout(step: step, attempt: attempt)
        default:
            return nil
        }
    }

    /// The input event the timer's firing becomes.
    public var firedEvent: HistoryEvent.Kind {
        switch self {
        case .sleep(let step): .timerFired(step: step)
        case .callTimeout(let step, let attempt): .callTimedOut(step: step, attempt: attempt)
        }
    }
}

/// The idempotency key of a call attempt: `INSTANCE/STEP/ATTEMPT`. It is the command's message id, the
/// same on every replay and distinct for every attempt; services drop commands whose key they have seen.
public struct IdempotencyKey: Hashable, Sendable, CustomStringConvertible {
    public var instanceID: InstanceID
    public var step: Int
    public var attempt: Int

    public init(instanceID: InstanceID, step: Int, attempt: Int) {
        self.instanceID = instanceID
        self.step = step
        self.attempt = attempt
    }

    /// Parses a key; the instance id may itself contain `/`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, let step = Int(parts[parts.count - 2]), let attempt = Int(parts[parts.count - 1]),
            step > 0, attempt > 0
        else { return nil }
        let instance = parts.dropLast(2).joined(separator: "/")
        guard !instance.isEmpty else { return nil }
        self.init(instanceID: InstanceID(instance), step: step, attempt: attempt)
    }

    public var description: String { "\(instanceID.rawValue)/\(step)/\(attempt)" }
}
