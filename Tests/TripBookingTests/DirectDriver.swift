import Chronicle
import Foundation
import TripBooking

/// Drives one BookTrip instance to its end against fake services, with no processor and no broker: each
/// command goes straight to its service, each reply and timer comes back as an input at its virtual time.
/// Used to rebuild instances from any prefix of a history, as after a crash.
struct DirectDriver {
    let hotel: FakeTravelService
    let flight: FakeTravelService
    let orchestration: BookTrip

    private struct Pending {
        var at: Date
        var input: HistoryEvent.Kind
        var timer: DurableTimerID?
    }

    /// Runs `instance` (rebuilt from `history`) until it ends; `start` is applied first if history is empty.
    /// Commands scheduled in `history` without a result are sent again, and its unfired timers re-armed, as the
    /// processor does from its outbox and timer table after a crash.
    func drive(id: InstanceID, history: [HistoryEvent], start: StartTrip) throws -> [HistoryEvent] {
        let instance = OrchestrationInstance(orchestration, id: id, history: history)
        var now = history.last?.timestamp ?? Date(timeIntervalSince1970: 1_767_225_600)
        var pending: [Pending] = []
        var all = history

        // What the outbox and the timer table would hold for this history.
        var resolved = Set<String>()
        for event in history {
            switch event.kind {
            case .callCompleted(let step, let attempt, _), .callFailed(let step, let attempt, _),
                .callTimedOut(let step, let attempt):
                resolved.insert("call-\(step)-\(attempt)")
            case .timerFired(let step):
                resolved.insert("timer-\(step)")
            default: break
            }
        }
        for event in history {
            switch event.kind {
            case .callScheduled(let step, let attempt, let command, let timeoutAt)
            where !resolved.contains("call-\(step)-\(attempt)"):
                pending += send(command, now: now)
                if let timeoutAt {
                    let timer = DurableTimerID.callTimeout(step: step, attempt: attempt)
                    pending.append(Pending(at: timeoutAt, input: timer.firedEvent, timer: timer))
                }
            case .timerScheduled(let step, let fireAt) where !resolved.contains("timer-\(step)"):
                pending.append(Pending(at: fireAt, input: .timerFired(step: step), timer: .sleep(step: step)))
            default: break
            }
        }

        var input: HistoryEvent.Kind? =
            history.isEmpty ? .orchestrationStarted(name: BookTrip.name, input: try Payload(encoding: start)) : nil
        for _ in 0..<1_000 {
            let activation = instance.apply(input, now: now)
            all += activation.newEvents
            if activation.status != .running { return all }
            for call in activation.commands { pending += send(call.command, now: now) }
            for timer in activation.timers {
                pending.append(Pending(at: timer.fireAt, input: timer.id.firedEvent, timer: timer.id))
            }
            pending.removeAll { activation.cancelledTimers.contains($0.timer ?? .sleep(step: 0)) && $0.timer != nil }
            guard let next = pending.indices.min(by: { pending[$0].at < pending[$1].at }) else { break }
            now = max(now, pending[next].at)
            input = pending.remove(at: next).input
        }
        return all
    }

    /// Sends a command to its service; returns the reply as an input due when it arrives.
    private func send(_ command: CommandMessage, now: Date) -> [Pending] {
        let service = command.routingKey.hasPrefix("hotel") ? hotel : flight
        let message = InboundMessage(
            messageID: command.idempotencyKey,
            type: command.type,
            correlationID: nil,
            body: command.body.data,
            exchange: "chronicle.commands",
            routingKey: command.routingKey
        )
        guard let reply = service.handle(message, now: now), let key = IdempotencyKey(command.idempotencyKey) else {
            return []
        }
        let input: HistoryEvent.Kind
        if reply.type.hasSuffix("Failed"),
            let failed = try? Payload.decoder.decode(ReservationFailed.self, from: reply.body)
        {
            input = .callFailed(step: key.step, attempt: key.attempt, failure: failed.error)
        } else {
            input = .callCompleted(step: key.step, attempt: key.attempt, reply: Payload(data: reply.body))
        }
        return [Pending(at: reply.deliverAt ?? now, input: input, timer: nil)]
    }
}

extension [HistoryEvent] {
    /// The outcome the history ends with, as a comparable summary (booking id and times left out: a rebuild
    /// from before the UUID was drawn draws another).
    var outcomeSummary: String {
        guard let last, case .orchestrationCompleted(let output) = last.kind,
            let outcome = try? output.decode(TripOutcome.self)
        else { return "not completed: \(last.map { "\($0.kind)" } ?? "nothing")" }
        switch outcome {
        case .booked(let booked): return "booked \(booked.hotelReservationId) \(booked.flightReservationId)"
        case .compensated(let failed): return "compensated: \(failed.reason)"
        case .failed(let failed): return "failed: \(failed.reason)"
        }
    }
}
