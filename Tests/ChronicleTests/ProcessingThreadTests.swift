import Foundation
import Synchronization
import Testing

@testable import Chronicle

/// Names of the threads that code ran on, in order.
private final class ThreadNames: Sendable {
    private let names = Mutex<[String?]>([])
    /// Records the calling thread (a synchronous function: `Thread.current` is not for async code).
    func record() { names.withLock { $0.append(Thread.current.name) } }
    var all: [String?] { names.withLock { $0 } }
}

@Suite("ProcessingThread")
struct ProcessingThreadTests {
    @Test("the operation, across awaits that other threads resume, and the tasks it starts all run on one thread")
    func everythingRunsOnOneThread() async throws {
        let outside = ThreadNames()
        outside.record()
        let seen = ThreadNames()
        try await ProcessingThread.run(named: "test-loop") { thread in
            seen.record()
            // Resumed from another thread (a dispatch queue's).
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume() }
            }
            seen.record()
            try await Task.sleep(for: .milliseconds(5))
            seen.record()
            await Task(executorPreference: thread) { seen.record() }.value
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { seen.record() } }
            }
        }
        #expect(seen.all.count == 7)
        #expect(seen.all.allSatisfy { $0 == "test-loop" }, "ran on \(seen.all)")
        #expect(outside.all != ["test-loop"])
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
