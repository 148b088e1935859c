/// Replayed orchestration code asked for something other than what its history recorded: the code changed
/// while the instance was running, or it depends on something outside the context (the clock, randomness,
/// a global). The instance fails with this error rather than diverging silently; nothing is sent.
public struct NonDeterminismError: Error, Hashable, Sendable, CustomStringConvertible {
    public var orchestration: String
    public var instanceID: InstanceID
    /// The step where history and code part.
    public var step: Int?
    /// What history holds there.
    public var recorded: String
    /// What the code asked for.
    public var requested: String

    public var description: String {
        let at = step.map { "at step \($0)" } ?? "at its end"
        return """
            \(orchestration) instance \(instanceID) diverged from its history \(at): history recorded \(recorded), \
            but the code asked for \(requested). The code changed while this instance was running, or it reads \
            something outside the context. Run the instance to its end with the version that started it, or \
            keep the old path for instances started before the change.
            """
    }

    /// The failure recorded for the instance.
    public var failure: Failure { Failure(type: "NonDeterminism", message: description) }
}
