import Chronicle
import Foundation
import Testing

@testable import ChronicleSQLite

@Suite("History round trip")
struct EventRoundTripTests {
    /// One event of every kind, with values at the edges of their types.
    static let everyKind: [HistoryEvent.Kind] = [
        .orchestrationStarted(name: "BookTrip", input: Payload(json: #"{"tripId":"t-1","nights":3}"#)),
        .uuidRecorded(step: 1, uuid: UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!),
        .timeRecorded(step: 2, time: Date(timeIntervalSinceReferenceDate: 817_000_123.000_000_1)),
        .randomSeedRecorded(step: 3, seed: .max),
        .timerScheduled(step: 4, fireAt: Date(timeIntervalSinceReferenceDate: 817_000_124.987_654_3)),
        .timerFired(step: 4),
        .callScheduled(
            step: 5,
            attempt: 2,
            command: CommandMessage(
                type: "ReserveHotel",
                routingKey: "hotel.reserve",
                idempotencyKey: "t-1/5/2",
                body: Payload(json: #"{"city":"Zürich","url":"https://example.com/a?b=1&c=\"d\""}"#)
            ),
            timeoutAt: Date(timeIntervalSinceReferenceDate: 817_000_200.5)
        ),
        .callScheduled(
            step: 6,
            attempt: 1,
            command: CommandMessage(
                type: "CancelHotel", routingKey: "hotel.cancel", idempotencyKey: "k", body: .init(json: "{}")),
            timeoutAt: nil
        ),
        .callCompleted(step: 5, attempt: 2, reply: Payload(json: #"{"reservationId":"H-1"}"#)),
        .callFailed(step: 7, attempt: 3, failure: Failure(type: "NoAvailability", message: "No seat left\non 12 May")),
        .callTimedOut(step: 8, attempt: 1),
        .orchestrationCompleted(output: Payload(json: #"{"booked":true}"#)),
        .orchestrationFailed(failure: Failure(type: "NonDeterminism", message: "step 3: history says a timer")),
    ]

    /// Fails to compile when the core adds a kind, so that the list above grows with it.
    static func caseNumber(_ kind: HistoryEvent.Kind) -> Int {
        switch kind {
        case .orchestrationStarted: 0
        case .uuidRecorded: 1
        case .timeRecorded: 2
        case .randomSeedRecorded: 3
        case .timerScheduled: 4
        case .timerFired: 5
        case .callScheduled: 6
        case .callCompleted: 7
        case .callFailed: 8
        case .callTimedOut: 9
        case .orchestrationCompleted: 10
        case .orchestrationFailed: 11
        }
    }

    @Test func theListCoversEveryKind() {
        #expect(Set(Self.everyKind.map(Self.caseNumber)) == Set(0...11))
    }

    @Test func everyKindComesBackExactlyAsCommitted() async throws {
        let fixture = try StoreFixture()
        let events = Self.everyKind.enumerated().map { index, kind in event(kind, at: Double(index) * 0.001_1) }
        let store = try fixture.open()
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, events, status: .completed)]))

        let loaded = try #require(try await store.load("trip-1"))
        #expect(loaded.events == events)
        #expect(loaded.version == events.count)

        // And after the file was closed and opened again.
        try store.close()
        let reopened = try #require(try await fixture.open().load("trip-1"))
        #expect(reopened.events == events)
    }

    @Test("the store's own JSON writer gives what JSONEncoder gives, byte for byte, for every kind and awkward text")
    func theEventWriterMatchesJSONEncoder() throws {
        let awkward =
            "quote \" backslash \\ slash / tab \t nul \u{0} bell \u{7} del \u{7F} é 中 🚀 \u{2028} \r\n\u{8}\u{C}"
        let kinds =
            Self.everyKind + [
                .orchestrationStarted(name: awkward, input: Payload(json: awkward)),
                .callFailed(step: 1, attempt: 1, failure: Failure(type: awkward, message: "")),
                .timeRecorded(step: -1, time: Date(timeIntervalSinceReferenceDate: 0)),
                .timeRecorded(step: .max, time: Date(timeIntervalSinceReferenceDate: -1e-7)),
                .timerScheduled(step: 0, fireAt: Date(timeIntervalSinceReferenceDate: 1e21)),
                .randomSeedRecorded(step: 0, seed: 0),
            ]
        let encoder = StoreCoding.makeEncoder()
        for kind in kinds {
            let expected = String(decoding: try encoder.encode(kind), as: UTF8.self)
            let written = try #require(EventJSON.encode(kind))
            #expect(written == expected)
            #expect(try StoreCoding.makeDecoder().decode(HistoryEvent.Kind.self, from: Data(written.utf8)) == kind)
        }
        // A time JSON cannot hold: no text, and the store refuses it as JSONEncoder does.
        #expect(EventJSON.encode(.timeRecorded(step: 1, time: Date(timeIntervalSinceReferenceDate: .nan))) == nil)
    }

    @Test func theInstanceRecordComesBackExactly() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let started = event(Self.everyKind[0])
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, [started], at: 1)]))
        try await store.commit(
            CommitBatch(appends: [
                append("trip-1", expecting: 1, [event(.timerFired(step: 1))], nextWakeUp: time(90), at: 2)
            ])
        )

        let record = try #require(try await store.load("trip-1")).record
        #expect(
            record
                == InstanceRecord(
                    id: "trip-1",
                    orchestration: "BookTrip",
                    status: .running,
                    createdAt: time(1),
                    updatedAt: time(2),
                    nextWakeUp: time(90)
                )
        )
    }

    @Test func anUnknownInstanceIsNil() async throws {
        let fixture = try StoreFixture()
        #expect(try await fixture.open().load("nobody") == nil)
    }
}

@Suite("History of a newer format")
struct NewerEventFormatTests {
    @Test func anEventOfANewerFormatIsRefusedOnLoad() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: "{}")))
        try await store.commit(CommitBatch(appends: [append("trip-1", expecting: 0, [started])]))
        // What a newer Chronicle would leave: an event whose format this build does not know.
        try await store.pool.write { db in
            try db.execute(
                sql: "UPDATE events SET format = ? WHERE instance = 'trip-1'",
                arguments: [HistoryEvent.formatVersion + 1])
        }

        let error = try await #require(throws: EventStoreError.self) { try await store.load("trip-1") }
        #expect(error.code == .newerSchema)
        #expect(error.message.contains("trip-1") && error.message.contains(fixture.storePath))
    }
}
