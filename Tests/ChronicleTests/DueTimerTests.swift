import ChronicleTesting
import Foundation
import Testing

@testable import Chronicle

/// Sleeps zero, forever.
let sleepsZeroForever = KeyedScript { context in
    while true { try await context.sleep(for: .zero) }
}

@Suite("Timers due when armed")
struct DueTimerTests {
    @Test(
        "code that sleeps zero in a loop fires a bounded number of timers per pass, then waits like any timer",
        .timeLimit(.minutes(1)))
    func sleepingZeroInALoopDoesNotHoldUpTheBatch() async throws {
        let store = InMemoryEventStore()
        let processor = batchProcessor(running: sleepsZeroForever, startType: "StartLoop", store: store)
        let outcome = try await processor.process([startMessage("StartLoop", id: "loop")])

        let kinds = try #require(try await store.load("loop")).events.map(\.kind.name)
        #expect(kinds.filter { $0 == "timerFired" }.count == BatchProcessor.timersFiredInPass)
        #expect(kinds.filter { $0 == "timerScheduled" }.count == BatchProcessor.timersFiredInPass + 1)
        // The one beyond the bound goes out as a wake-up, with its timer row.
        #expect(outcome.publish.map(\.type) == [TimerMessage.type])
        #expect(try await store.timers(state: .pending, dueBefore: nil, limit: 10).count == 1)
        processor.unloadAll()
    }
}

/// Races a long sleep against a short one and finishes when the short one ends, the long one's timer still armed.
let leavesASleep = KeyedScript { context in
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await context.sleep(for: .seconds(30)) }
        group.addTask { try await context.sleep(for: .zero) }
        try await group.next()
        group.cancelAll()
    }
    return 1
}

@Suite("Wake-ups in the outbox")
struct WakeUpRowTests {
    @Test("a wake-up the instance ignores (it finished meanwhile) still clears the wake-up's outbox row")
    func anIgnoredWakeUpClearsItsRow() async throws {
        let store = InMemoryEventStore()
        let processor = batchProcessor(running: leavesASleep, startType: "StartNap", store: store)
        let first = try await processor.process([startMessage("StartNap", id: "nap")])
        #expect(try await store.load("nap")?.record.status == .completed)
        // Not published (as when the processor holds the timer in memory): the row stays.
        let wakeUp = try #require(first.publish.first { $0.type == TimerMessage.type })
        #expect(try await store.pendingOutbox(limit: 10).map(\.id) == [wakeUp.id])

        let delivered = InboundMessage(
            messageID: wakeUp.id, type: wakeUp.type, correlationID: wakeUp.correlationID, headers: wakeUp.headers,
            body: wakeUp.body, exchange: wakeUp.exchange, routingKey: wakeUp.routingKey)
        let second = try await processor.process([delivered])
        #expect(second.ignored.count == 1)
        #expect(try await store.pendingOutbox(limit: 10).isEmpty)
    }
}
