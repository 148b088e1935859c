import Chronicle
import Dispatch
import Foundation
import Testing

@testable import ChronicleSQLite

@Suite("Readers and the writer")
struct ConcurrencyTests {
    @Test(.timeLimit(.minutes(1)))
    func aLongReadDoesNotHoldUpACommit() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: "{}")))
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, [started])]))

        // A read transaction stays open until the commit below is done. If readers blocked the writer, the
        // commit would wait for the read, the read for the commit, and the semaphore would time out.
        let readerIn = DispatchSemaphore(value: 0)
        let commitDone = DispatchSemaphore(value: 0)
        async let readerWaited = store.read("holding a read open") { _ in
            readerIn.signal()
            return commitDone.wait(timeout: .now() + 10) == .success
        }
        await Task.yield()
        #expect(readerIn.wait(timeout: .now() + 10) == .success)
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 1, [event(.timerFired(step: 1))])]))
        commitDone.signal()
        #expect(try await readerWaited)
        #expect(try await store.load("trip-1")?.version == 2)
    }

    @Test func concurrentCommitsToDifferentInstancesAllLand() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: "{}")))
        try await withThrowingTaskGroup { group in
            for index in 0..<50 {
                group.addTask {
                    try await store.commit(
                        CommitBatch(
                            appends: [append(InstanceID("trip-\(index)"), expecting: 0, [started])],
                            outbox: [message("m-\(index)")])
                    )
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.instances(status: nil, limit: 100).count == 50)
        #expect(try await store.outboxDepth() == 50)
    }
}
