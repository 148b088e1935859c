import Chronicle
import Foundation
import Testing

@testable import ChronicleSQLite

@Suite("Commit")
struct CommitTests {
    let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: "{}")))

    @Test func appendsContinueTheHistory() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, [started])]))
        let more = [
            event(.uuidRecorded(step: 1, uuid: UUID()), at: 1), event(.timeRecorded(step: 2, time: time(1)), at: 1),
        ]
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 1, more, at: 1)]))

        let loaded = try #require(try await store.load("trip-1"))
        #expect(loaded.events == [started] + more)
        #expect(loaded.record.createdAt == time(0))
        #expect(loaded.record.updatedAt == time(1))
    }

    @Test("many instances load in one read, the same as one by one; those never started are absent")
    func loadsMany() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let fired = event(.timerFired(step: 1), at: 1)
        try await store.commit(
            CommitBatch(appends: [
                append("trip-1", expecting: 0, [started, fired]), append("trip-2", expecting: 0, [started]),
            ])
        )
        let loaded = try await store.load(["trip-1", "trip-2", "trip-3"])
        #expect(loaded.keys.sorted { $0.rawValue < $1.rawValue } == ["trip-1", "trip-2"])
        for id: InstanceID in ["trip-1", "trip-2"] {
            let one = try #require(try await store.load(id))
            #expect(loaded[id]?.events == one.events)
            #expect(loaded[id]?.record == one.record)
        }
        #expect(try await store.load([InstanceID]()).isEmpty)
    }

    @Test func oneBatchCanAppendTwiceToTheSameInstance() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let fired = event(.timerFired(step: 1), at: 1)
        try await store.commit(
            CommitBatch(appends: [
                append("trip-1", expecting: 0, [started]), append("trip-1", expecting: 1, [fired], at: 1),
            ])
        )
        #expect(try await store.load("trip-1")?.events == [started, fired])
    }

    @Test(arguments: [0, 2])
    func aVersionConflictWritesNothingOfTheBatch(expected: Int) async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, [started])]))

        let conflicting = CommitBatch(
            appends: [
                append("trip-2", expecting: 0, [started]),
                append("trip-1", expecting: expected, [event(.timerFired(step: 1))]),
            ],
            outbox: [message("m-1")],
            inbox: ["in-1"],
            timers: [.schedule(TimerRecord(instanceID: "trip-2", timerID: "sleep-1", dueAt: time(5)))]
        )
        let error = try await #require(throws: EventStoreError.self) { try await store.commit(conflicting) }
        #expect(error.code == .versionConflict)
        #expect(error.message.contains("trip-1"))

        #expect(try await store.load("trip-1")?.events == [started])
        #expect(try await store.load("trip-2") == nil)
        #expect(try await store.outboxDepth() == 0)
        #expect(try await store.appliedMessageIDs(among: ["in-1"]).isEmpty)
        #expect(try await store.timers(state: .pending, dueBefore: nil, limit: 10).isEmpty)
        #expect(try await store.instances(status: nil, limit: 10).map(\.id) == ["trip-1"])
    }

    @Test func appendingToAnInstanceThatDoesNotExistIsAConflict() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let error = try await #require(throws: EventStoreError.self) {
            try await store.commit(CommitBatch(appends: [append("ghost", expecting: 3, [started])]))
        }
        #expect(error.code == .versionConflict)
        #expect(try await store.load("ghost") == nil)
    }

    @Test func theOutboxKeepsTheFirstRowOfAnIDAndListsOldestFirst() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let first = message("m-2", body: "first")
        try await store.commit(CommitBatch(outbox: [first, message("m-1")]))
        try await store.commit(CommitBatch(outbox: [message("m-2", body: "second"), message("m-3")]))

        #expect(try await store.outboxDepth() == 3)
        let pending = try await store.pendingOutbox(limit: 10)
        #expect(pending.map(\.id) == ["m-2", "m-1", "m-3"])
        #expect(pending.first == first)
        #expect(try await store.pendingOutbox(limit: 2).map(\.id) == ["m-2", "m-1"])

        try await store.removeFromOutbox(["m-1", "m-2", "unknown"])
        #expect(try await store.pendingOutbox(limit: 10).map(\.id) == ["m-3"])
        #expect(try await store.outboxDepth() == 1)
    }

    @Test("a commit removes the outbox rows it voids, in the same transaction")
    func aCommitRemovesVoidedOutboxRows() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(CommitBatch(outbox: [message("m-1"), message("m-2")]))
        try await store.commit(
            CommitBatch(appends: [append("trip-1", expecting: 0, [started])], outboxRemovals: ["m-1", "unknown"]))
        #expect(try await store.pendingOutbox(limit: 10).map(\.id) == ["m-2"])
        // A batch that fails writes nothing, removals included.
        let conflicting = CommitBatch(appends: [append("trip-1", expecting: 5, [started])], outboxRemovals: ["m-2"])
        await #expect(throws: EventStoreError.self) { try await store.commit(conflicting) }
        #expect(try await store.pendingOutbox(limit: 10).map(\.id) == ["m-2"])
    }

    @Test func outboxRowsComeBackExactly() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let delayed = OutgoingMessage(
            id: "wake-1",
            exchange: "",
            routingKey: "chronicle.delay.3",
            type: "TimerFired",
            correlationID: nil,
            timestamp: time(0.000_3),
            headers: [:],
            body: Data([0, 1, 2, 255]),
            deliverAt: time(12.5)
        )
        let command = message("m-1")
        var fact = message("m-2")
        fact.mandatory = false
        fact.headers = ["quote\"": "back\\slash/é\n", "Z10": "", "Z9": "\u{01}"]
        try await store.commit(CommitBatch(outbox: [delayed, command, fact]))
        #expect(try await store.pendingOutbox(limit: 10) == [delayed, command, fact])
    }

    @Test func theInboxRemembersAppliedMessagesOnce() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, [started])], inbox: ["a", "b"]))
        // Ids are looked up as one JSON array: the awkward ones must come back as they went in.
        let awkward = ["it's \"quoted\"", "back\\slash/slash", "tab\tcontrol\u{01}", "é 🧳"]
        try await store.commit(CommitBatch(inbox: ["b", "c"] + awkward))

        #expect(try await store.appliedMessageIDs(among: ["a", "b", "c", "d"]) == ["a", "b", "c"])
        #expect(try await store.appliedMessageIDs(among: ["d"] + awkward) == Set(awkward))
        #expect(try await store.appliedMessageIDs(among: ["d", "it's", "back\\slash", "é"]).isEmpty)
        #expect(try await store.appliedMessageIDs(among: []).isEmpty)
    }

    @Test func instancesAreListedMostRecentlyUpdatedFirst() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        try await store.commit(
            CommitBatch(appends: [
                append("old", expecting: 0, [started], status: .completed, at: 1),
                append("new", expecting: 0, [started], at: 3),
                append("middle", expecting: 0, [started], status: .failed, at: 2),
            ])
        )

        #expect(try await store.instances(status: nil, limit: 10).map(\.id) == ["new", "middle", "old"])
        #expect(try await store.instances(status: nil, limit: 2).map(\.id) == ["new", "middle"])
        #expect(try await store.instances(status: .completed, limit: 10).map(\.id) == ["old"])
        #expect(try await store.instances(status: .running, limit: 10).map(\.status) == [.running])
        #expect(try await store.instances(status: nil, limit: 0).isEmpty)
    }

    @Test func aCommitWaitsForTheDiskOnlyWhenAskedTo() async throws {
        let fixture = try StoreFixture()
        // SQLite's values: 2 is FULL, 1 is NORMAL. GRDB sets NORMAL on WAL pools; the store must undo that.
        #expect(try await writerSynchronous(fixture.open()) == 2)
        #expect(try await writerSynchronous(fixture.open(synchronous: .normal)) == 1)
    }

    @Test func aFullDiskFailsTheBatchAndWritesNothing() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open(maximumSize: 256 * 1024)
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, [started])]))

        let big = Payload(json: "\"" + String(repeating: "x", count: 100_000) + "\"")
        let tooMuch = CommitBatch(
            appends: (1...10).map {
                append(InstanceID("big-\($0)"), expecting: 0, [event(.orchestrationCompleted(output: big))])
            },
            inbox: ["in-1"]
        )
        let error = try await #require(throws: EventStoreError.self) { try await store.commit(tooMuch) }
        #expect(error.code == .storageFull)
        #expect(error.message.contains(fixture.storePath))
        #expect(try await store.instances(status: nil, limit: 20).map(\.id) == ["trip-1"])
        #expect(try await store.appliedMessageIDs(among: ["in-1"]).isEmpty)

        // The store goes on working once the batch fits.
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 1, [event(.timerFired(step: 1))])]))
        #expect(try await store.load("trip-1")?.version == 2)
    }
}

func writerSynchronous(_ store: SQLiteEventStore) async throws -> Int {
    try await store.writerSynchronous()
}
