/// Undo steps registered as a saga goes, run in reverse order when it fails.
///
/// ```swift
/// var compensations = Compensations()
/// let hotel = try await context.call(ReserveHotel(…))
/// compensations.add("cancel hotel") { _ = try await context.call(CancelHotel(…)) }
/// do { … } catch {
///     try await compensations.run()   // throws CompensationError if any undo step failed
///     return .compensated(reason: "\(error)")
/// }
/// ```
///
/// Every step is attempted even when an earlier one fails; the failures are collected and thrown together,
/// never swallowed. Each undo step that calls a service is recorded in history like any call.
public struct Compensations: Sendable {
    public typealias Step = @Sendable () async throws -> Void

    private var steps: [(name: String, run: Step)] = []

    public init() {}

    /// Registers an undo step, to run before those registered earlier.
    public mutating func add(_ name: String, _ step: @escaping Step) {
        steps.append((name, step))
    }

    /// The names of the registered steps, in the order they will run.
    public var pending: [String] { steps.reversed().map(\.name) }

    public var isEmpty: Bool { steps.isEmpty }

    /// Runs every registered step, last registered first, then forgets them.
    ///
    /// - Returns: the names of the steps that ran, in order.
    /// - Throws: ``CompensationError`` listing every step that failed, after all were tried;
    ///   `OrchestrationUnloaded` at once if the instance is being unloaded.
    @discardableResult
    public mutating func run() async throws -> [String] {
        let toRun = steps.reversed()
        steps.removeAll()
        var failures: [CompensationError.StepFailure] = []
        var ran: [String] = []
        for step in toRun {
            do {
                try await step.run()
                ran.append(step.name)
            } catch let unloaded as OrchestrationUnloaded {
                throw unloaded
            } catch {
                failures.append(.init(step: step.name, reason: "\(error)"))
            }
        }
        if !failures.isEmpty { throw CompensationError(failures: failures, succeeded: ran) }
        return ran
    }
}

/// One or more compensation steps failed. The steps that succeeded are listed too.
public struct CompensationError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct StepFailure: Hashable, Sendable {
        public var step: String
        public var reason: String
    }

    public var failures: [StepFailure]
    public var succeeded: [String]

    public var description: String {
        let list = failures.map { "\($0.step) (\($0.reason))" }.joined(separator: "; ")
        return "compensation failed: \(list)"
    }
}
