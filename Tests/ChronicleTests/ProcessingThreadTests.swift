import Foundation
import Synchronization
import Testing

@testable import Chronicle

/// Whether code ran on the processing thread, in order.
private final class Sightings: Sendable {
    private let seen = Mutex<[Bool]>([])
    func record(_ thread: ProcessingThread) { seen.withLock { $0.append(thread.isCurrent) } }
    var all: [Bool] { seen.withLock { $0 } }
}

@Suite("ProcessingThread")
struct ProcessingThreadTests {
    @Test("the operation, across awaits that other threads resume, and the tasks it starts all run on one thread")
    func everythingRunsOnOneThread() async throws {
        let seen = Sightings()
        let outside = try await ProcessingThread.run(named: "test-loop") { thread in
            seen.record(thread)
            // Resumed from another thread (a dispatch queue's).
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume() }
            }
            seen.record(thread)
            try await Task.sleep(for: .milliseconds(5))
            seen.record(thread)
            await Task(executorPreference: thread) { seen.record(thread) }.value
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { seen.record(thread) } }
            }
            // Code without the preference runs elsewhere.
            return await Task.detached { thread.isCurrent }.value
        }
        #expect(seen.all == Array(repeating: true, count: 7))
        #expect(!outside)
    }

    @Test("the operation's result and error come back to the caller")
    func resultAndError() async throws {
        struct Failed: Error {}
        #expect(try await ProcessingThread.run(named: "test-result") { _ in 42 } == 42)
        await #expect(throws: Failed.self) {
            try await ProcessingThread.run(named: "test-error") { _ in throw Failed() }
        }
    }
}
