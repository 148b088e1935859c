import Chronicle
import ChronicleSQLite
import Foundation
import Testing

@Suite("Purge")
struct PurgeTests {
    @Test func finishedInstancesOlderThanTheDateGoWithTheirEventsAndTimers() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: "{}")))
        try await store.commit(
            CommitBatch(
                appends: [
                    append("done-old", expecting: 0, [started], status: .completed, at: 10),
                    append("failed-old", expecting: 0, [started], status: .failed, at: 20),
                    append("running-old", expecting: 0, [started], status: .running, at: 10),
                    append("done-recent", expecting: 0, [started], status: .completed, at: 100),
                ],
                timers: [
                    .schedule(TimerRecord(instanceID: "done-old", timerID: "sleep-1", dueAt: time(5), state: .fired)),
                    .schedule(TimerRecord(instanceID: "running-old", timerID: "sleep-1", dueAt: time(500))),
                ]
            )
        )

        #expect(try await store.purge(finishedBefore: time(50)) == 2)
        #expect(try await store.load("done-old") == nil)
        #expect(try await store.load("failed-old") == nil)
        #expect(try await store.load("running-old")?.events == [started])
        #expect(try await store.load("done-recent")?.events == [started])
        #expect(try await store.timers(state: .fired, dueBefore: nil, limit: 10).isEmpty)
        #expect(try await store.timers(state: .pending, dueBefore: nil, limit: 10).map(\.instanceID) == ["running-old"])

        // A purged id can start again from nothing.
        try await store.commit(CommitBatch(appends: [append("done-old", expecting: 0, [started], at: 60)]))
        #expect(try await store.load("done-old")?.version == 1)
        #expect(try await store.purge(finishedBefore: time(50)) == 0)
    }

    @Test func purgingRemovesMoreThanOneTransactionsWorth() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: "{}")))
        let appends = (0..<1_234).map { append(InstanceID("trip-\($0)"), expecting: 0, [started], status: .completed) }
        try await store.commit(CommitBatch(appends: appends))
        #expect(try await store.purge(finishedBefore: time(1)) == 1_234)
        #expect(try await store.instances(status: nil, limit: 10).isEmpty)
    }

    @Test func inboxIDsAppliedBeforeTheDateAreForgotten() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: "{}")))
        try await store.commit(CommitBatch(appends: [append("a", expecting: 0, [started], at: 10)], inbox: ["old"]))
        try await store.commit(CommitBatch(appends: [append("b", expecting: 0, [started], at: 100)], inbox: ["new"]))

        _ = try await store.purge(finishedBefore: time(50))
        #expect(try await store.appliedMessageIDs(among: ["old", "new"]) == ["new"])
    }
}
