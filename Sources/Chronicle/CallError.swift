/// Thrown by `context.call` when a call has failed for good: its last attempt failed or timed out and the
/// retry policy allows no other.
public struct CallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The command's message type, e.g. `ReserveFlight`.
    public var command: String
    /// The call's step in the instance's history.
    public var step: Int
    /// How many attempts were made.
    public var attempts: Int
    /// The last attempt's failure; ``Failure/timeoutType`` if it got no reply in time.
    public var failure: Failure
    /// How many attempts ended without a usable answer — no reply in time, or a reply that did not decode —
    /// and so may yet take effect at the service. A saga should undo what they may have done (see
    /// ``mayHaveTakenEffect``).
    public var unknownOutcomes: Int

    public init(command: String, step: Int, attempts: Int, failure: Failure, unknownOutcomes: Int = 0) {
        self.command = command
        self.step = step
        self.attempts = attempts
        self.failure = failure
        self.unknownOutcomes = unknownOutcomes
    }

    /// Whether some attempt may have taken effect although the call failed: one timed out or was answered
    /// with a reply that did not decode. A timed-out reservation may still be made when the service catches
    /// up, so a saga that failed such a call compensates it as if it had succeeded.
    public var mayHaveTakenEffect: Bool { unknownOutcomes > 0 }

    public var description: String {
        let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
        return "\(command) failed after \(tries): \(failure)"
    }
}

/// Thrown into orchestration code that is being unloaded from memory: every wait ends with it, and no
/// further step is recorded. Let it propagate; the instance is rebuilt from its history when it is needed.
public struct OrchestrationUnloaded: Error, Hashable, Sendable {
    public init() {}
}
