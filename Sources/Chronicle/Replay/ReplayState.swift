import Foundation

/// What a suspended piece of orchestration code waits for.
enum WaitKey: Hashable, Sendable {
    case timer(step: Int)
    case call(step: Int, attempt: Int)

    var attempt: Int {
        if case .call(_, let attempt) = self { return attempt }
        return 0
    }
}

/// How a wait ended.
enum WaitResult: Sendable {
    case fired
    case completed(Payload)
    case failed(Failure)
    case timedOut
    case cancelled
    case error(any Error)
}

/// Where a decision lives in history.
enum DecisionKey: Hashable, Sendable {
    case step(Int)
    case call(step: Int, attempt: Int)
    case terminal
}

/// What orchestration code asks for at a step.
enum DecisionRequest: Sendable {
    case uuid
    case time
    case randomSeed
    case timer(after: Duration)
    case call(CommandMessage, timeout: Duration?)
    case completion(Payload)
    case failure(Failure)

    var description: String {
        switch self {
        case .uuid: "newUUID()"
        case .time: "now()"
        case .randomSeed: "makeRandomNumberGenerator()"
        case .timer(let duration): "sleep(for: \(duration))"
        case .call(let command, _): "call \(command.type) (\(command.routingKey))"
        case .completion: "to complete"
        case .failure(let failure): "to fail (\(failure))"
        }
    }
}

/// The bookkeeping of one instance's replay, as a value: which recorded decisions are still to be claimed,
/// who waits for what, and what this activation has produced. ``OrchestrationInstance`` drives it;
/// ``OrchestrationContext`` asks it for decisions.
struct ReplayState: Sendable {
    let instanceID: InstanceID
    let orchestration: String
    /// The activation's time: the timestamp of new events and the base of new timers.
    var now = Date(timeIntervalSince1970: 0)

    /// Decisions found in history and not yet made again by the code.
    var recordedDecisions: [DecisionKey: (index: Int, kind: HistoryEvent.Kind)] = [:]
    /// Inputs of history not yet fed back; while any remain, the code may not make a new decision.
    var undeliveredInputs = 0
    /// The next recorded input, for error messages.
    var nextRecordedInput: HistoryEvent.Kind?
    var nextStep = 1

    var waiters: [WaitKey: CheckedContinuation<WaitResult, Never>] = [:]
    /// Call attempts with a timeout timer armed, so it can be cancelled when the reply comes first.
    var armedTimeouts: Set<WaitKey> = []
    /// When each durable sleep is due, by step.
    var timersDue: [Int: Date] = [:]

    var newEvents: [HistoryEvent] = []
    var commands: [ScheduledCall] = []
    var timers: [TimerRequest] = []
    var cancelledTimers: [DurableTimerID] = []

    var divergence: NonDeterminismError?
    var unloading = false
    var finished = false

    init(instanceID: InstanceID, orchestration: String) {
        self.instanceID = instanceID
        self.orchestration = orchestration
    }

    mutating func allocateStep() -> Int {
        defer { nextStep += 1 }
        return nextStep
    }

    /// Makes a decision: returns what history recorded for `key` if the code asks for the same thing, or a new
    /// event once history is used up. Throws on divergence or while unloading.
    mutating func decide(_ key: DecisionKey, step: Int?, _ request: DecisionRequest) throws -> HistoryEvent.Kind {
        if unloading { throw OrchestrationUnloaded() }
        if let divergence { throw divergence }
        if let recorded = recordedDecisions.removeValue(forKey: key) {
            guard Self.matches(recorded.kind, request) else {
                throw diverge(step: step, recorded: Self.describe(recorded.kind), requested: request.description)
            }
            if case .callScheduled(let step, let attempt, _, .some) = recorded.kind {
                armedTimeouts.insert(.call(step: step, attempt: attempt))
            }
            if case .timerScheduled(let step, let fireAt) = recorded.kind { timersDue[step] = fireAt }
            return recorded.kind
        }
        if undeliveredInputs > 0 || recordedDecisions.keys.contains(.terminal) {
            let next = nextRecordedInput.map { "nothing there; its next event is \(Self.describe($0))" }
            throw diverge(step: step, recorded: next ?? "nothing there", requested: request.description)
        }
        let kind = makeEvent(step: step, request)
        newEvents.append(HistoryEvent(kind, at: now))
        switch kind {
        case .timerScheduled(let step, let fireAt):
            timers.append(TimerRequest(id: .sleep(step: step), fireAt: fireAt))
            timersDue[step] = fireAt
        case .callScheduled(let step, let attempt, let command, let timeoutAt):
            commands.append(ScheduledCall(step: step, attempt: attempt, command: command, timeoutAt: timeoutAt))
            if let timeoutAt {
                timers.append(TimerRequest(id: .callTimeout(step: step, attempt: attempt), fireAt: timeoutAt))
                armedTimeouts.insert(.call(step: step, attempt: attempt))
            }
        case .orchestrationCompleted, .orchestrationFailed:
            finished = true
        default:
            break
        }
        return kind
    }

    private func makeEvent(step: Int?, _ request: DecisionRequest) -> HistoryEvent.Kind {
        let step = step ?? 0
        switch request {
        case .uuid: return .uuidRecorded(step: step, uuid: .random())
        case .time: return .timeRecorded(step: step, time: now)
        case .randomSeed: return .randomSeedRecorded(step: step, seed: UInt64.random(in: .min ... .max))
        case .timer(let duration): return .timerScheduled(step: step, fireAt: now.adding(duration))
        case .call(let command, let timeout):
            let key = IdempotencyKey(command.idempotencyKey)
            return .callScheduled(
                step: step,
                attempt: key?.attempt ?? 1,
                command: command,
                timeoutAt: timeout.map { now.adding($0) }
            )
        case .completion(let output): return .orchestrationCompleted(output: output)
        case .failure(let failure): return .orchestrationFailed(failure: failure)
        }
    }

    /// Takes the waiter an input resumes, and what it resumes with; `nil` when nobody waits for it.
    mutating func takeWaiter(for input: HistoryEvent.Kind) -> (CheckedContinuation<WaitResult, Never>, WaitResult)? {
        let key: WaitKey
        let result: WaitResult
        switch input {
        case .timerFired(let step):
            (key, result) = (.timer(step: step), .fired)
        case .callCompleted(let step, let attempt, let reply):
            (key, result) = (.call(step: step, attempt: attempt), .completed(reply))
        case .callFailed(let step, let attempt, let failure):
            (key, result) = (.call(step: step, attempt: attempt), .failed(failure))
        case .callTimedOut(let step, let attempt):
            (key, result) = (.call(step: step, attempt: attempt), .timedOut)
        default:
            return nil
        }
        guard let waiter = waiters.removeValue(forKey: key) else { return nil }
        if case .timer(let step) = key { timersDue[step] = nil }
        if case .call(let step, let attempt) = key, armedTimeouts.remove(key) != nil {
            if case .callTimedOut = input {
            } else {
                cancelledTimers.append(.callTimeout(step: step, attempt: attempt))
            }
        }
        return (waiter, result)
    }

    /// The soonest moment an input can be expected: now if a call is awaited (its reply can come any time),
    /// else the soonest awaited timer; `nil` if nothing is awaited.
    var expectedInputAt: Date? {
        var soonest: Date?
        for key in waiters.keys {
            switch key {
            case .call: return now
            case .timer(let step): soonest = timersDue[step].map { min(soonest ?? $0, $0) } ?? soonest
            }
        }
        return soonest
    }

    mutating func diverge(step: Int?, recorded: String, requested: String) -> NonDeterminismError {
        let error = NonDeterminismError(
            orchestration: orchestration,
            instanceID: instanceID,
            step: step,
            recorded: recorded,
            requested: requested
        )
        if divergence == nil { divergence = error }
        return divergence!
    }

    static func matches(_ recorded: HistoryEvent.Kind, _ request: DecisionRequest) -> Bool {
        switch (recorded, request) {
        case (.uuidRecorded, .uuid), (.timeRecorded, .time), (.randomSeedRecorded, .randomSeed),
            (.timerScheduled, .timer), (.orchestrationCompleted, .completion), (.orchestrationFailed, .failure):
            return true
        case (.callScheduled(_, _, let recordedCommand, _), .call(let command, _)):
            return recordedCommand.type == command.type && recordedCommand.routingKey == command.routingKey
        default:
            return false
        }
    }

    /// A person's description of an event, for non-determinism errors.
    static func describe(_ kind: HistoryEvent.Kind) -> String {
        switch kind {
        case .orchestrationStarted(let name, _): "the start of \(name)"
        case .uuidRecorded(let step, _): "newUUID() at step \(step)"
        case .timeRecorded(let step, _): "now() at step \(step)"
        case .randomSeedRecorded(let step, _): "makeRandomNumberGenerator() at step \(step)"
        case .timerScheduled(let step, let fireAt): "a timer at step \(step) due \(fireAt)"
        case .timerFired(let step): "the timer of step \(step) firing"
        case .callScheduled(let step, let attempt, let command, _):
            "call \(command.type) (\(command.routingKey)) at step \(step), attempt \(attempt)"
        case .callCompleted(let step, let attempt, _): "the reply to step \(step), attempt \(attempt)"
        case .callFailed(let step, let attempt, _): "the failure of step \(step), attempt \(attempt)"
        case .callTimedOut(let step, let attempt): "the timeout of step \(step), attempt \(attempt)"
        case .orchestrationCompleted: "the orchestration completing"
        case .orchestrationFailed: "the orchestration failing"
        }
    }
}

extension Date {
    func adding(_ duration: Duration) -> Date { addingTimeInterval(duration.seconds) }
}

extension UUID {
    /// A random (version 4) UUID, as `UUID()` makes, from the system's generator: `UUID()` on Linux opens,
    /// reads and closes /dev/urandom for each one, three system calls where this makes two.
    static func random() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var bytes = (generator.next(), generator.next())
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = raw[6] & 0x0F | 0x40  // version 4
            raw[8] = raw[8] & 0x3F | 0x80  // variant 10 (RFC 9562)
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }
}
