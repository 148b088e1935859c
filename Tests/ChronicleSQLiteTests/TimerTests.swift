import Chronicle
import ChronicleSQLite
import Foundation
import Testing

@Suite("Timers")
struct TimerTests {
    func timer(_ instance: InstanceID, _ id: String, due seconds: Double) -> TimerChange {
        .schedule(TimerRecord(instanceID: instance, timerID: id, dueAt: time(seconds)))
    }

    @Test func pendingTimersAreListedSoonestFirst() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(
            CommitBatch(timers: [
                timer("trip-1", "sleep-1", due: 30), timer("trip-2", "timeout-4-1", due: 10),
                timer("trip-1", "backoff-5", due: 20),
            ])
        )

        let pending = try await store.timers(state: .pending, dueBefore: nil, limit: 10)
        #expect(pending.map(\.timerID) == ["timeout-4-1", "backoff-5", "sleep-1"])
        #expect(pending.first == TimerRecord(instanceID: "trip-2", timerID: "timeout-4-1", dueAt: time(10)))
        #expect(
            try await store.timers(state: .pending, dueBefore: time(20.5), limit: 10).map(\.timerID) == [
                "timeout-4-1", "backoff-5",
            ])
        #expect(
            try await store.timers(state: .pending, dueBefore: time(20), limit: 10).map(\.timerID) == ["timeout-4-1"])
        #expect(try await store.timers(state: .pending, dueBefore: nil, limit: 1).count == 1)
    }

    @Test func firedAndCancelledTimersLeaveThePendingList() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(
            CommitBatch(timers: [
                timer("trip-1", "sleep-1", due: 10), timer("trip-1", "sleep-2", due: 20),
                timer("trip-1", "sleep-3", due: 30),
            ]))
        try await store.commit(
            CommitBatch(timers: [.fired("trip-1", timerID: "sleep-1"), .cancelled("trip-1", timerID: "sleep-3")]))

        #expect(try await store.timers(state: .pending, dueBefore: nil, limit: 10).map(\.timerID) == ["sleep-2"])
        #expect(
            try await store.timers(state: .fired, dueBefore: nil, limit: 10) == [
                TimerRecord(instanceID: "trip-1", timerID: "sleep-1", dueAt: time(10), state: .fired)
            ])
        #expect(try await store.timers(state: .cancelled, dueBefore: nil, limit: 10).map(\.timerID) == ["sleep-3"])
    }

    @Test func schedulingATimerAgainReArmsIt() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(CommitBatch(timers: [timer("trip-1", "sleep-1", due: 10)]))
        try await store.commit(CommitBatch(timers: [.cancelled("trip-1", timerID: "sleep-1")]))
        try await store.commit(CommitBatch(timers: [timer("trip-1", "sleep-1", due: 40)]))

        #expect(
            try await store.timers(state: .pending, dueBefore: nil, limit: 10) == [
                TimerRecord(instanceID: "trip-1", timerID: "sleep-1", dueAt: time(40))
            ])
        #expect(try await store.timers(state: .cancelled, dueBefore: nil, limit: 10).isEmpty)
    }

    @Test func aChangeToAnUnknownTimerChangesNothing() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(CommitBatch(timers: [.fired("trip-9", timerID: "sleep-1")]))
        #expect(try await store.timers(state: .fired, dueBefore: nil, limit: 10).isEmpty)
    }
}
