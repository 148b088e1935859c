/// A long business process written as a plain `async` function, run durably by Chronicle.
///
/// Chronicle records every value that can differ between runs (UUIDs, time, replies, timers) as events, so
/// `run` may be stopped at any `await` on the ``OrchestrationContext`` and replayed later, on this host or
/// another, with the same result. The rule that makes this work: everything that can differ between two
/// runs comes from the context. Don't read the clock, draw random numbers, call services or sleep any other
/// way; don't await anything but the context (and your own `async let` or task groups built from it).
///
/// ```swift
/// struct BookTrip: Orchestration {
///     static let name = "BookTrip"
///     func run(_ trip: StartTrip, context: OrchestrationContext) async throws -> TripOutcome { … }
/// }
/// ```
public protocol Orchestration: Sendable {
    associatedtype Input: Codable & Sendable
    associatedtype Output: Codable & Sendable

    /// A stable name, stored with every instance: the orchestration's identity across deployments
    /// (Temporal's workflow type, Durable Task's orchestrator name).
    static var name: String { get }

    /// The process itself. Runs until it returns (the instance completes) or throws (it fails).
    func run(_ input: Input, context: OrchestrationContext) async throws -> Output
}
