import Foundation
import Testing

@testable import Chronicle

@Suite("Retry policies, keys, compensations, history format")
struct ValueTests {
    @Test("back-off is initialInterval × coefficient^(n−1), capped at maximumInterval")
    func backOff() {
        let policy = RetryPolicy(
            initialInterval: .milliseconds(100), backoffCoefficient: 2, maximumInterval: .milliseconds(500))
        #expect(
            (1...5).map { policy.delay(afterAttempt: $0) } == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500),
            ])
        #expect(RetryPolicy.default.delay(afterAttempt: 20) == .seconds(100))
    }

    @Test("maximumAttempts counts the first; nonRetryableErrors stop at once; 0 means no limit")
    func retryDecisions() {
        let policy = RetryPolicy(maximumAttempts: 3, nonRetryableErrors: ["Fatal"])
        #expect(policy.allowsRetry(after: 2, failure: Failure(type: "Busy", message: "")))
        #expect(!policy.allowsRetry(after: 3, failure: Failure(type: "Busy", message: "")))
        #expect(!policy.allowsRetry(after: 1, failure: Failure(type: "Fatal", message: "")))
        #expect(RetryPolicy.default.allowsRetry(after: 1_000, failure: nil))
    }

    @Test("newUUID's values are random version-4 UUIDs")
    func randomUUIDs() {
        let uuids = (0..<1_000).map { _ in UUID.random() }
        #expect(Set(uuids).count == uuids.count)
        for uuid in uuids {
            let text = uuid.uuidString
            #expect(text[text.index(text.startIndex, offsetBy: 14)] == "4", "\(text)")
            #expect("89AB".contains(text[text.index(text.startIndex, offsetBy: 19)]), "\(text)")
        }
        // Every other bit varies.
        let fixedBits = (0..<16).map { byte in
            uuids.reduce(UInt8(0xFF)) {
                $0 & ~(withUnsafeBytes(of: $1.uuid) { $0[byte] } ^ withUnsafeBytes(of: uuids[0].uuid) { $0[byte] })
            }
        }
        #expect(fixedBits == [0, 0, 0, 0, 0, 0, 0xF0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test("idempotency keys and timer ids round-trip, also with slashes in the instance id")
    func identifiers() {
        let key = IdempotencyKey(instanceID: "trips/2026/42", step: 4, attempt: 2)
        #expect(key.description == "trips/2026/42/4/2")
        #expect(IdempotencyKey(key.description) == key)
        #expect(IdempotencyKey("x/0/1") == nil)
        #expect(IdempotencyKey("/4/1") == nil)
        #expect(IdempotencyKey("garbage") == nil)
        for timer in [DurableTimerID.sleep(step: 3), .callTimeout(step: 4, attempt: 2)] {
            #expect(DurableTimerID(timer.description) == timer)
        }
        #expect(DurableTimerID("sleep-x") == nil)
        #expect(DurableTimerID("timeout-1") == nil)
    }

    @Test("a message's string fields: top-level strings only; none for a body that is not a JSON object")
    func stringFields() {
        func fields(_ body: String) -> [String: String] {
            InboundMessage(
                messageID: "m", type: nil, correlationID: nil, body: Data(body.utf8), exchange: "", routingKey: "q"
            )
            .stringFields
        }
        #expect(
            fields(#"{"tripId":"t-1","nights":3,"guest":{"name":"Ada"},"note":""}"#) == ["tripId": "t-1", "note": ""])
        #expect(fields(#"["tripId","t-1"]"#).isEmpty)
        #expect(fields("{not json").isEmpty)
        #expect(fields("").isEmpty)
    }

    @Test("compensations run last-first; every step is tried; failures are surfaced together")
    func compensations() async throws {
        let ran = RanLog()
        var compensations = Compensations()
        compensations.add("first") { await ran.append("first") }
        compensations.add("second") { throw Failure(type: "Down", message: "service down") }
        compensations.add("third") { await ran.append("third") }
        #expect(compensations.pending == ["third", "second", "first"])
        let error = await #expect(throws: CompensationError.self) { try await compensations.run() }
        #expect(await ran.entries == ["third", "first"])
        #expect(error?.failures.map(\.step) == ["second"])
        #expect(error?.succeeded == ["third", "first"])
        #expect(error?.description == "compensation failed: second (Down: service down)")
        #expect(compensations.isEmpty)
    }

    @Test("every history event kind survives encoding", arguments: HistoryEventSamples.all)
    func historyRoundTrip(kind: HistoryEvent.Kind) throws {
        let event = HistoryEvent(kind, at: Date(timeIntervalSince1970: 1_767_225_600.125))
        let data = try JSONEncoder().encode(event)
        #expect(try JSONDecoder().decode(HistoryEvent.self, from: data) == event)
    }
}

actor RanLog {
    var entries: [String] = []
    func append(_ entry: String) { entries.append(entry) }
}

enum HistoryEventSamples {
    static let command = CommandMessage(
        type: "Ping", routingKey: "ping.send", idempotencyKey: "i/2/1", body: Payload(json: "{\"n\":1}"))
    static let all: [HistoryEvent.Kind] = [
        .orchestrationStarted(name: "Script", input: Payload(json: "0")),
        .uuidRecorded(step: 1, uuid: UUID()),
        .timeRecorded(step: 1, time: Date(timeIntervalSince1970: 5)),
        .randomSeedRecorded(step: 1, seed: .max),
        .timerScheduled(step: 1, fireAt: Date(timeIntervalSince1970: 9)),
        .timerFired(step: 1),
        .callScheduled(step: 2, attempt: 1, command: command, timeoutAt: nil),
        .callScheduled(step: 2, attempt: 2, command: command, timeoutAt: Date(timeIntervalSince1970: 7)),
        .callCompleted(step: 2, attempt: 1, reply: Payload(json: "{}")),
        .callFailed(step: 2, attempt: 1, failure: Failure(type: "T", message: "m")),
        .callTimedOut(step: 2, attempt: 1),
        .orchestrationCompleted(output: Payload(json: "1")),
        .orchestrationFailed(failure: Failure(type: "T", message: "m")),
    ]
}
