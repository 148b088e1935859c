import Synchronization
import Testing

@testable import Chronicle

@Suite("Overlapping sends")
struct OverlappingSendsTests {
    @Test("at most `limit` run at once: a start waits for the oldest send", .timeLimit(.minutes(1)))
    func bounded() async throws {
        try await ProcessingThread.run(named: "test-sends") { thread in
            let sends = OverlappingSends(limit: 2, on: thread, interrupting: DeliveryBatches())
            let released = Mutex(false)
            try await sends.start {
                while !released.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
            }
            try await sends.start {}
            let third = Task { try await sends.start {} }
            try await Task.sleep(for: .milliseconds(50))
            #expect(!(await Self.done(third)), "the third send started while two ran")
            released.withLock { $0 = true }
            try await third.value
            try await sends.finish()
        }
    }

    @Test("a send that fails interrupts the batches; cancel() reaches sends started after it", .timeLimit(.minutes(1)))
    func failureAndCancellation() async throws {
        struct Refused: Error {}
        try await ProcessingThread.run(named: "test-sends") { thread in
            let batches = DeliveryBatches()
            let sends = OverlappingSends(limit: 4, on: thread, interrupting: batches)
            try await sends.start { throw Refused() }
            await #expect(throws: Refused.self) { try await batches.next() }
            await #expect(throws: Refused.self) { try await sends.finish() }

            let later = OverlappingSends(limit: 4, on: thread, interrupting: DeliveryBatches())
            later.cancel()
            try await later.start { try await Task.sleep(for: .seconds(30)) }
            await #expect(throws: CancellationError.self) { try await later.finish() }
        }
    }

    /// Whether `task` has finished within 10 ms.
    static func done(_ task: Task<Void, any Error>) async -> Bool {
        let finished = Mutex(false)
        Task {
            _ = try? await task.value
            finished.withLock { $0 = true }
        }
        try? await Task.sleep(for: .milliseconds(10))
        return finished.withLock { $0 }
    }
}
