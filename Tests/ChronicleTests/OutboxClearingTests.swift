import ChronicleTesting
import Foundation
import Testing

@testable import Chronicle

/// Calls Ping once and returns its answer.
let pingsOnce = KeyedScript { context in try await context.call(Ping(n: 1)).n }

@Suite("Outbox rows of published messages, deleted by the next commit")
struct OutboxClearingTests {
    @Test("a commit deletes the rows of the messages published since the one before")
    func nextCommitDeletesPublishedRows() async throws {
        let store = InMemoryEventStore()
        let processor = batchProcessor(running: pingsOnce, startType: "StartPing", store: store)
        let first = try await processor.process([startMessage("StartPing", id: "a")])
        #expect(!first.publish.isEmpty)
        #expect(try await store.outboxDepth() == first.publish.count)

        let second = try await processor.process(
            [startMessage("StartPing", id: "b")], removingFromOutbox: first.publish.map(\.id))
        #expect(try await store.pendingOutbox(limit: 10).map(\.id) == second.publish.map(\.id))
        processor.unloadAll()
    }

    @Test("a row the batch writes again is kept, though its id is among those published")
    func rowWrittenAgainIsKept() async throws {
        // The ids starting "b" writes, learnt from a store of its own.
        let probe = batchProcessor(running: pingsOnce, startType: "StartPing")
        let ids = try await probe.process([startMessage("StartPing", id: "b")]).publish.map(\.id)
        probe.unloadAll()

        let store = InMemoryEventStore()
        let processor = batchProcessor(running: pingsOnce, startType: "StartPing", store: store)
        _ = try await processor.process([startMessage("StartPing", id: "b")], removingFromOutbox: ids)
        #expect(try await store.pendingOutbox(limit: 10).map(\.id).sorted() == ids.sorted())
        processor.unloadAll()
    }
}
