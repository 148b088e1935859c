import Foundation
import Synchronization

/// Timer wake-ups due soon, held in the processor's memory instead of the broker's delay levels.
///
/// Most short timers — a call's per-attempt timeout above all — are cancelled by the reply long before they are
/// due. Through the delay levels each would cost the broker a queue hop per set bit of its delay, and the wake-up
/// would still arrive, to be ignored; held here, a cancelled timer costs nothing and a due one one publish straight
/// to the processor's queue. It stays durable: its wake-up is committed to the outbox before it is held here and
/// stays there until the wake-up comes back or the timer is cancelled, so ``Processor/recover()`` sends it again
/// after a restart.
///
/// A min-heap of deadlines beside a map of the timers held; entries of timers that were cancelled or fired
/// are skipped when they reach the top.
final class LocalTimers: Sendable {
    struct Key: Hashable {
        var instance: String
        var timer: String
    }

    private struct State {
        var held: [Key: OutgoingMessage] = [:]
        var heap: [(due: Date, key: Key)] = []

        mutating func push(_ due: Date, _ key: Key) {
            heap.append((due, key))
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].due < heap[parent].due else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> (due: Date, key: Key)? {
            guard !heap.isEmpty else { return nil }
            heap.swapAt(0, heap.count - 1)
            let top = heap.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count && heap[left].due < heap[smallest].due { smallest = left }
                if right < heap.count && heap[right].due < heap[smallest].due { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
            return top
        }
    }

    private let state = Mutex(State())

    /// The key of a timer wake-up message, if it is one.
    static func key(of message: OutgoingMessage) -> Key? {
        guard message.type == TimerMessage.type, let instance = message.correlationID,
            let timer = message.headers[TimerMessage.timerHeader]
        else { return nil }
        return Key(instance: instance, timer: timer)
    }

    /// Holds timer wake-ups (each with its `deliverAt`) until they are due.
    func hold(_ messages: [OutgoingMessage]) {
        state.withLock { state in
            for message in messages {
                guard let key = Self.key(of: message), let due = message.deliverAt else { continue }
                state.held[key] = message
                state.push(due, key)
            }
        }
    }

    /// Forgets the timers that fired or were cancelled.
    func apply(_ changes: [TimerChange]) {
        state.withLock { state in
            for change in changes {
                switch change {
                case .fired(let instance, let timer), .cancelled(let instance, let timer):
                    state.held[Key(instance: instance.rawValue, timer: timer)] = nil
                case .schedule:
                    break
                }
            }
        }
    }

    /// Takes the wake-ups due at `now`, still with their `deliverAt`.
    func takeDue(_ now: Date) -> [OutgoingMessage] {
        state.withLock { state in
            var due: [OutgoingMessage] = []
            while let top = state.heap.first, top.due <= now {
                _ = state.pop()
                // Skip an entry of a timer no longer held, or held again for another time.
                guard let message = state.held[top.key], message.deliverAt == top.due else { continue }
                state.held[top.key] = nil
                due.append(message)
            }
            return due
        }
    }

    /// How many timers are held.
    var count: Int { state.withLock { $0.held.count } }

    /// When the soonest held timer is due; perhaps earlier, if that timer was cancelled (its entry stays until it
    /// reaches the top). `nil` when none is held.
    var nextDue: Date? { state.withLock { $0.held.isEmpty ? nil : $0.heap.first?.due } }
}
