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

/// Which loop ran when.
private final class Turns: Sendable {
    private let taken = Mutex<[String]>([])
    func take(_ name: String) { taken.withLock { $0.append(name) } }
    var order: [String] { taken.withLock { $0 } }
}

@Suite("ProcessingThread")
struct ProcessingThreadTests {
    @Test("the system thread carries the name, cut to the 15 bytes Linux keeps rather than refused")
    func theSystemThreadIsNamed() async throws {
        let comm = { try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8) }
        #expect(try await ProcessingThread.run(named: "short") { _ in try comm() } == "short\n")
        #expect(try await ProcessingThread.run(named: "a-rather-long-name") { _ in try comm() } == "a-rather-long-n\n")
    }

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

    @Test("loops sharing a thread run on it and take turns; the caller's own code does not")
    func sharedThread() async throws {
        let seen = Sightings()
        let turns = Turns()
        let callerOnThread = try await ProcessingThread.shared(named: "test-shared") { thread in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for name in ["hotel", "flight"] {
                    group.addTask {
                        try await thread.run { thread in
                            for _ in 0..<3 {
                                seen.record(thread)
                                turns.take(name)
                                try await Task.sleep(for: .milliseconds(2))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            return thread.isCurrent
        }
        #expect(seen.all == Array(repeating: true, count: 6))
        let order = turns.order
        // Each waits at every sleep: the other runs meanwhile, so neither ran all its turns first.
        #expect(
            order.count == 6 && order.prefix(3) != ["hotel", "hotel", "hotel"]
                && order.prefix(3) != ["flight", "flight", "flight"], "\(order)")
        #expect(!callerOnThread)
    }
}
