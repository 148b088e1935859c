import Foundation
import Synchronization

/// One orchestration instance in memory: its code suspended where it waits, and the driver that feeds it
/// inputs and collects what it decides.
///
/// Build one from the instance's history (empty for a new instance) and ``apply(_:now:)`` inputs to it. The
/// first call replays the history: recorded inputs are fed back in their recorded order, and the code, on the
/// instance's ``DeterministicExecutor``, makes its decisions again, each checked against what history holds.
/// Then the new input is applied and the code runs until every task waits on the context again.
///
/// An instance may be dropped at any moment (``unload()`` releases its suspended code) and rebuilt from history
/// later with identical behaviour: this is how waiting instances cost no memory, and how a crash loses nothing.
///
/// Not for concurrent use: apply one input at a time. The code runs on the calling thread.
public final class OrchestrationInstance: Sendable {
    public let id: InstanceID
    public let orchestration: String

    /// Most jobs one activation may run before the code is deemed to loop without end.
    public let jobBudget: Int

    private let executor = DeterministicExecutor()
    private let context: OrchestrationContext
    private let startCode: @Sendable (Payload, OrchestrationContext) -> Void
    private let driver: Mutex<Driver>
    /// The value the code returned, once it completed in this process (not when rebuilt as completed): the
    /// announcement of the outcome is made from it, rather than from its payload decoded again.
    private let returned = ReturnedValue()

    private final class ReturnedValue: Sendable {
        let value = Mutex<(any Sendable)?>(nil)
    }

    private struct Driver: Sendable {
        var history: [HistoryEvent]
        var rebuilt = false
        var started = false
        var status: InstanceStatus = .running
    }

    /// - Parameters:
    ///   - orchestration: the code.
    ///   - id: the instance.
    ///   - history: the instance's stored history, oldest first; empty for an instance not yet started.
    ///   - jobBudget: most jobs one activation may run before the code is deemed to loop without end.
    public init<O: Orchestration>(
        _ orchestration: O,
        id: InstanceID,
        history: [HistoryEvent] = [],
        jobBudget: Int = 1_000_000
    ) {
        self.id = id
        self.jobBudget = jobBudget
        self.orchestration = O.name
        let executor = self.executor
        let returned = self.returned
        self.context = OrchestrationContext(instanceID: id, orchestration: O.name)
        self.startCode = { payload, context in
            Task(executorPreference: executor) {
                let outcome: DecisionRequest
                do {
                    let input = try payload.decode(O.Input.self)
                    let output = try await orchestration.run(input, context: context)
                    outcome = .completion(try Payload(encoding: output))
                    returned.value.withLock { $0 = output }
                } catch is OrchestrationUnloaded {
                    return
                } catch is NonDeterminismError {
                    return
                } catch {
                    outcome = .failure(Failure(type: String(describing: type(of: error)), message: "\(error)"))
                }
                context.finish(outcome)
            }
        }
        var driver = Driver(history: history)
        for event in history {
            switch event.kind {
            case .orchestrationCompleted: driver.status = .completed
            case .orchestrationFailed: driver.status = .failed
            default: break
            }
        }
        self.driver = Mutex(driver)
    }

    /// The value the code returned, if it completed in this process.
    var returnedOutput: (any Sendable)? { returned.value.withLock { $0 } }

    /// The instance's status as of the last activation.
    public var status: InstanceStatus { driver.withLock { $0.status } }

    /// When the instance can next expect an input: the time of the last activation if it awaits a reply,
    /// else its soonest timer; `nil` when it awaits nothing (it is finished).
    public var expectedInputAt: Date? { context.state.withLock { $0.expectedInputAt } }

    /// Applies one input (a start, a reply, a timer firing) and runs the code until it waits again.
    ///
    /// - Parameters:
    ///   - input: the new input; `nil` only replays history (and records any decisions the code makes after
    ///     its last recorded input).
    ///   - now: the time of this activation: the timestamp of new events and the base of new timers.
    /// - Returns: the new events, commands and timers; or an ignored disposition for an input that does not
    ///   apply (a duplicate or stale reply, a second start, an input for a finished instance).
    public func apply(_ input: HistoryEvent.Kind?, now: Date) -> Activation {
        driver.withLock { driver in
            context.state.withLock { $0.now = now }
            if driver.status != .running {
                return .ignored("the instance is \(driver.status.rawValue)", status: driver.status)
            }
            executor.beginDriving()
            defer { executor.endDriving() }
            if !driver.rebuilt {
                driver.rebuilt = true
                rebuild(&driver)
            }
            var ignoredReason: String?
            if let input, context.state.withLock({ $0.divergence == nil }) {
                ignoredReason = deliverNew(input, now: now, driver: &driver)
            }
            if ignoredReason == nil || !context.state.withLock({ $0.newEvents.isEmpty }) {
                settle(&driver)
            }
            return collect(&driver, ignoredReason: ignoredReason)
        }
    }

    /// Releases the suspended code: every wait ends with ``OrchestrationUnloaded`` and the code unwinds without
    /// recording anything. Call it before dropping an instance that has not finished.
    public func unload() {
        driver.withLock { driver in
            guard driver.started else { return }
            tearDown()
        }
    }

    // MARK: - Replay

    private func rebuild(_ driver: inout Driver) {
        let inputs = driver.history.filter(\.kind.isInput)
        context.state.withLock { state in
            for (index, event) in driver.history.enumerated() where !event.kind.isInput {
                let key: DecisionKey
                switch event.kind {
                case .callScheduled(let step, let attempt, _, _): key = .call(step: step, attempt: attempt)
                case .orchestrationCompleted, .orchestrationFailed: key = .terminal
                default: key = .step(event.kind.step ?? 0)
                }
                state.recordedDecisions[key] = (index, event.kind)
            }
            state.undeliveredInputs = inputs.count
        }
        for (index, input) in inputs.enumerated() {
            context.state.withLock { state in
                state.undeliveredInputs = inputs.count - index - 1
                state.nextRecordedInput = index + 1 < inputs.count ? inputs[index + 1].kind : nil
            }
            if case .orchestrationStarted(_, let payload) = input.kind {
                guard !driver.started else {
                    divergeOnInput(input.kind)
                    return
                }
                driver.started = true
                startCode(payload, context)
            } else if let (waiter, result) = context.state.withLock({ $0.takeWaiter(for: input.kind) }) {
                waiter.resume(returning: result)
            } else {
                divergeOnInput(input.kind)
                return
            }
            guard runJobs() else { return }
        }
        context.state.withLock { state in
            // Timers cancelled by recorded replies were cancelled when those replies were first applied.
            state.cancelledTimers.removeAll()
            if state.divergence == nil, let first = state.recordedDecisions.values.min(by: { $0.index < $1.index }) {
                _ = state.diverge(
                    step: first.kind.step,
                    recorded: ReplayState.describe(first.kind),
                    requested: "nothing more: the code no longer makes this step"
                )
            }
        }
    }

    private func divergeOnInput(_ input: HistoryEvent.Kind) {
        context.state.withLock { state in
            _ = state.diverge(
                step: input.step,
                recorded: ReplayState.describe(input),
                requested: "nothing that waits for it: the code did not make that step"
            )
        }
    }

    /// Feeds a new input to the code; returns why it was ignored, or `nil` if it was applied.
    private func deliverNew(_ input: HistoryEvent.Kind, now: Date, driver: inout Driver) -> String? {
        if case .orchestrationStarted(_, let payload) = input {
            guard !driver.started else { return "the instance was already started" }
            driver.started = true
            context.state.withLock { $0.newEvents.append(HistoryEvent(input, at: now)) }
            startCode(payload, context)
            return nil
        }
        guard driver.started else { return "the instance has not been started" }
        guard input.isInput else { return "\(input.name) is not an input" }
        guard
            let (waiter, result) = context.state.withLock({ state in
                state.takeWaiter(for: input).map { pair in
                    state.newEvents.append(HistoryEvent(input, at: now))
                    return pair
                }
            })
        else {
            return "nothing waits for \(ReplayState.describe(input)) (a duplicate, or it came too late)"
        }
        waiter.resume(returning: result)
        return nil
    }

    /// Runs the code until it waits again; false if it did not settle within the budget.
    private func runJobs() -> Bool {
        return executor.runUntilIdle(budget: jobBudget) < jobBudget
    }

    /// Runs the code until it waits, then checks that it waits only on the context; fails the instance if not.
    private func settle(_ driver: inout Driver) {
        let settled = runJobs()
        let (divergence, finished, waiting) = context.state.withLock {
            ($0.divergence, $0.finished, !$0.waiters.isEmpty)
        }
        let problem: Failure?
        if let divergence {
            problem = divergence.failure
        } else if !settled {
            problem = Failure(
                type: "NotSettling",
                message: "\(orchestration) instance \(id) ran \(jobBudget) jobs without waiting on the context: "
                    + "an endless loop? Every loop in an orchestration must await a context step."
            )
        } else if executor.strayJobSeen {
            problem = Failure(
                type: "NonDeterminism",
                message: "\(orchestration) instance \(id) awaited something outside its context (an actor, "
                    + "Task.sleep, a continuation of its own) that resumed on its own schedule; replay could "
                    + "not repeat that. Use context.sleep and context.call, and keep other awaits out of "
                    + "orchestrations."
            )
        } else if driver.started && !finished && !waiting {
            problem = Failure(
                type: "NonDeterminism",
                message: "\(orchestration) instance \(id) is suspended on something that is not a context step "
                    + "(Task.sleep, an actor, a continuation of its own): nothing could ever resume it durably. "
                    + "Use context.sleep and context.call instead."
            )
        } else {
            problem = nil
        }
        if let problem { fail(with: problem, driver: &driver) }
    }

    /// Fails the instance: keeps the inputs of this activation, drops its other decisions, records the failure.
    private func fail(with failure: Failure, driver: inout Driver) {
        context.state.withLock { state in
            state.newEvents = state.newEvents.filter(\.kind.isInput)
            state.newEvents.append(HistoryEvent(.orchestrationFailed(failure: failure), at: state.now))
            state.commands.removeAll()
            state.timers.removeAll()
            state.cancelledTimers.removeAll()
            state.finished = true
        }
        tearDown()
    }

    private func tearDown() {
        let waiters = context.state.withLock { state in
            state.unloading = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        executor.beginDriving()
        defer { executor.endDriving() }
        for waiter in waiters { waiter.resume(returning: .error(OrchestrationUnloaded())) }
        _ = executor.runUntilIdle(budget: jobBudget)
    }

    private func collect(_ driver: inout Driver, ignoredReason: String?) -> Activation {
        context.state.withLock { state in
            let events = state.newEvents
            for event in events {
                switch event.kind {
                case .orchestrationCompleted: driver.status = .completed
                case .orchestrationFailed: driver.status = .failed
                default: break
                }
            }
            driver.history.append(contentsOf: events)
            let activation = Activation(
                disposition: ignoredReason.map { .ignored(reason: $0) } ?? .applied,
                newEvents: events,
                commands: state.commands,
                timers: state.timers,
                cancelledTimers: state.cancelledTimers,
                status: driver.status
            )
            state.newEvents.removeAll()
            state.commands.removeAll()
            state.timers.removeAll()
            state.cancelledTimers.removeAll()
            return activation
        }
    }
}
