import Foundation
import Synchronization

/// What orchestration code uses for everything that can differ between runs.
///
/// Each method is a *step*: its result is recorded in the instance's history the first time and returned
/// unchanged on every replay. The methods throw ``NonDeterminismError`` when replayed code asks for something
/// other than what history holds (the instance then fails), and ``OrchestrationUnloaded`` when the instance is
/// being dropped from memory; let both propagate.
public final class OrchestrationContext: Sendable {
    /// The instance this code runs for (for BookTrip, the trip id).
    public let instanceID: InstanceID
    /// The orchestration's name.
    public let orchestration: String

    let state: Mutex<ReplayState>

    init(instanceID: InstanceID, orchestration: String) {
        self.instanceID = instanceID
        self.orchestration = orchestration
        self.state = Mutex(ReplayState(instanceID: instanceID, orchestration: orchestration))
    }

    /// True while the code re-runs steps already in history (useful to keep logs quiet on replay).
    public var isReplaying: Bool { state.withLock { $0.undeliveredInputs > 0 || !$0.recordedDecisions.isEmpty } }

    /// A new random UUID, the same on every replay.
    public func newUUID() async throws -> UUID {
        guard case .uuidRecorded(_, let uuid) = try decide(.uuid) else { preconditionFailure() }
        return uuid
    }

    /// The current time, read once and the same on every replay.
    public func now() async throws -> Date {
        guard case .timeRecorded(_, let time) = try decide(.time) else { preconditionFailure() }
        return time
    }

    /// A random number generator whose seed is drawn once and recorded, so replay draws the same numbers.
    public func makeRandomNumberGenerator() async throws -> SeededRandomNumberGenerator {
        guard case .randomSeedRecorded(_, let seed) = try decide(.randomSeed) else { preconditionFailure() }
        return SeededRandomNumberGenerator(seed: seed)
    }

    /// Waits durably: a timer is stored and armed, and the instance may be unloaded from memory until it fires.
    public func sleep(for duration: Duration) async throws {
        let step = state.withLock { $0.allocateStep() }
        let result = try await suspend(.timer(step: step)) { state in
            _ = try state.decide(.step(step), step: step, .timer(after: duration))
        }
        switch result {
        case .fired: return
        case .cancelled: throw CancellationError()
        case .error(let error): throw error
        case .completed, .failed, .timedOut: preconditionFailure("a timer got a call's result")
        }
    }

    /// Sends `command` to its service and waits for the reply, retrying per `options`.
    ///
    /// Every attempt is a message whose id is its ``IdempotencyKey`` (instance, step, attempt): the same on
    /// every replay, different for every attempt. The waits between attempts are durable timers.
    ///
    /// - Throws: ``CallError`` when the last allowed attempt failed or timed out, or a failure's type is in
    ///   the policy's `nonRetryableErrors`.
    public func call<C: Command>(_ command: C, options: CallOptions = CallOptions()) async throws -> C.Reply {
        let body = try Payload(encoding: command)
        let step = state.withLock { $0.allocateStep() }
        var attempt = 1
        var unknownOutcomes = 0
        while true {
            let idempotencyKey = IdempotencyKey(instanceID: instanceID, step: step, attempt: attempt)
            let message = CommandMessage(
                type: C.name,
                routingKey: C.routingKey,
                idempotencyKey: idempotencyKey.description,
                body: body
            )
            let timeout = options.startToCloseTimeout
            let key = WaitKey.call(step: step, attempt: attempt)
            let result = try await suspend(key) { state in
                _ = try state.decide(
                    .call(step: step, attempt: key.attempt), step: step, .call(message, timeout: timeout))
            }
            let failure: Failure
            switch result {
            case .completed(let reply):
                do {
                    return try reply.decode(C.Reply.self)
                } catch {
                    failure = Failure(
                        type: "UndecodableReply", message: "the reply to \(C.name) did not decode: \(error)")
                    unknownOutcomes += 1
                }
            case .failed(let replyFailure):
                failure = replyFailure
            case .timedOut:
                failure = Failure(type: Failure.timeoutType, message: "no reply within \(timeout ?? .zero)")
                unknownOutcomes += 1
            case .cancelled:
                throw CancellationError()
            case .error(let error):
                throw error
            case .fired:
                preconditionFailure("a call got a timer's result")
            }
            guard options.retryPolicy.allowsRetry(after: attempt, failure: failure) else {
                throw CallError(
                    command: C.name, step: step, attempts: attempt, failure: failure, unknownOutcomes: unknownOutcomes)
            }
            try await sleep(for: options.retryPolicy.delay(afterAttempt: attempt))
            attempt += 1
        }
    }

    /// Sends `command` and waits for the reply, retrying per `retry`; see ``call(_:options:)``.
    public func call<C: Command>(
        _ command: C,
        retry: RetryPolicy,
        startToCloseTimeout: Duration? = .seconds(60)
    ) async throws -> C.Reply {
        try await call(command, options: CallOptions(retryPolicy: retry, startToCloseTimeout: startToCloseTimeout))
    }

    // MARK: - Internals

    private func decide(_ request: DecisionRequest) throws -> HistoryEvent.Kind {
        try state.withLock { state in
            let step = state.allocateStep()
            return try state.decide(.step(step), step: step, request)
        }
    }

    /// Records the orchestration's end; called by the root task as its last act.
    func finish(_ request: DecisionRequest) {
        state.withLock { state in _ = try? state.decide(.terminal, step: nil, request) }
    }

    /// Makes a decision and waits for its result; a cancelled task stops waiting (with `.cancelled`) so that
    /// abandoned `async let` children let their parent finish.
    private func suspend(
        _ key: WaitKey,
        decide: @Sendable (inout ReplayState) throws -> Void
    ) async throws -> WaitResult {
        try Task.checkCancellation()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WaitResult, Never>) in
                let refusal: (any Error)? = state.withLock { state in
                    do {
                        try decide(&state)
                    } catch {
                        return error
                    }
                    state.waiters[key] = continuation
                    return nil
                }
                if let refusal { continuation.resume(returning: .error(refusal)) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: key) }
            waiter?.resume(returning: .cancelled)
        }
    }
}
