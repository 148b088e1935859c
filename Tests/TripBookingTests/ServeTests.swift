import Chronicle
import ChronicleTesting
import Foundation
import Synchronization
import Testing
import TripBooking

/// An ``InMemoryTransport`` with a fault: its first publish waits until ``release()`` (`.holdFirstPublish`) or
/// throws ``Refused`` (`.refuseFirstPublish`), or every acknowledgement throws it (`.refuseAcknowledge`). It
/// records what was acknowledged.
final class FaultyTransport: Transport, Sendable {
    enum Fault {
        case holdFirstPublish, refuseFirstPublish, refuseAcknowledge
    }
    struct Refused: Error {}
    let inner: InMemoryTransport
    let fault: Fault
    private struct State {
        var publishes = 0
        var gate: CheckedContinuation<Void, Never>?
        var released = false
        var acknowledged: [String] = []
    }
    private let state = Mutex(State())

    init(_ inner: InMemoryTransport, _ fault: Fault) {
        self.inner = inner
        self.fault = fault
    }

    func publish(_ messages: [OutgoingMessage]) async throws {
        let first = state.withLock { state in
            state.publishes += 1
            return state.publishes == 1
        }
        if first && fault == .refuseFirstPublish { throw Refused() }
        if first && fault == .holdFirstPublish {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let open = state.withLock { state in
                    if !state.released { state.gate = continuation }
                    return state.released
                }
                if open { continuation.resume() }
            }
        }
        try await inner.publish(messages)
    }

    /// Lets the first publish through.
    func release() {
        let gate = state.withLock { state in
            state.released = true
            defer { state.gate = nil }
            return state.gate
        }
        gate?.resume()
    }

    /// Whether the first publish is waiting at the gate.
    var holding: Bool { state.withLock { $0.gate != nil } }

    /// The message ids acknowledged so far.
    var acknowledged: [String] { state.withLock { $0.acknowledged } }

    func consume(queue: String, prefetch: Int) async throws -> AsyncThrowingStream<[InboundMessage], any Error> {
        try await inner.consume(queue: queue, prefetch: prefetch)
    }

    func acknowledge(_ messages: [InboundMessage]) async throws {
        if fault == .refuseAcknowledge { throw Refused() }
        state.withLock { $0.acknowledged += messages.compactMap(\.messageID) }
        try await inner.acknowledge(messages)
    }

    func deadLetter(_ message: InboundMessage, reason: String) async throws {
        try await inner.deadLetter(message, reason: reason)
    }
}

/// Polls `condition` every millisecond for up to five seconds; whether it came true.
func eventually(_ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(5)
    while !condition() {
        if ContinuousClock.now > deadline { return false }
        try await Task.sleep(for: .milliseconds(1))
    }
    return true
}

/// How `loop` ended, if it did within five seconds of `trigger`: "returned", "threw" and the error's type, or
/// "still running" (then it is cancelled and left behind rather than waited for, so that the test fails
/// instead of hanging).
func ending(of loop: Task<Void, any Error>, after trigger: () async throws -> Void) async throws -> String {
    let ended = Mutex<String?>(nil)
    Task {
        do {
            try await loop.value
            ended.withLock { $0 = "returned" }
        } catch {
            ended.withLock { $0 = "threw \(type(of: error))" }
        }
    }
    try await trigger()
    _ = try await eventually { ended.withLock { $0 != nil } }
    loop.cancel()
    return ended.withLock { $0 } ?? "still running"
}

@Suite("A fake service serving over a transport")
struct ServeTests {
    /// A hotel service answering after `latency`, its commands and replies bound on `broker`.
    func hotel(on broker: InMemoryBroker, latency: Duration = .zero) -> FakeTravelService {
        var behaviour = FakeTravelService.Behaviour()
        behaviour.latency = latency
        let service = FakeTravelService(.hotel, behaviour: behaviour)
        for key in service.commandRoutingKeys {
            broker.bind(queue: service.queue, exchange: "chronicle.commands", pattern: key)
        }
        broker.bind(queue: "replies", exchange: "chronicle.events", pattern: "hotel.*")
        return service
    }

    func reserve(_ trip: String) throws -> OutgoingMessage {
        OutgoingMessage(
            id: "\(trip)/4/1", exchange: "chronicle.commands", routingKey: ReserveHotel.routingKey,
            type: ReserveHotel.name, correlationID: trip, timestamp: Date(),
            body: try Payload.encoder.encode(ReserveHotel(TripBookingApp.sampleTrip(trip), UUID())))
    }

    @Test(
        "a batch whose replies wait to be sent does not hold up the next; each is acknowledged after its replies",
        .timeLimit(.minutes(1)))
    func batchesOverlap() async throws {
        let broker = InMemoryBroker()
        let service = hotel(on: broker)
        let transport = FaultyTransport(InMemoryTransport(broker: broker), .holdFirstPublish)
        let serving = Task { try await service.serve(over: transport) }
        defer { serving.cancel() }

        try await transport.inner.publish([try reserve("trip-1")])
        #expect(try await eventually { transport.holding })
        try await transport.inner.publish([try reserve("trip-2")])
        var replies: [InboundMessage] = []
        let overtaken = try await eventually {
            replies += broker.take(from: "replies")
            return replies.contains { $0.correlationID == "trip-2" }
        }
        #expect(overtaken, "the second command was not answered while the first one's reply waited")
        #expect(try await eventually { transport.acknowledged == ["trip-2/4/1"] }, "\(transport.acknowledged)")

        transport.release()
        #expect(try await eventually { transport.acknowledged.count == 2 })
        replies += broker.take(from: "replies")
        #expect(Set(replies.compactMap(\.correlationID)) == ["trip-1", "trip-2"])
        #expect(transport.acknowledged == ["trip-2/4/1", "trip-1/4/1"])
    }

    @Test(
        "a send that fails ends the loop at once with its error, though no other command comes", .timeLimit(.minutes(1))
    )
    func failedSendEndsTheLoop() async throws {
        let broker = InMemoryBroker()
        let service = hotel(on: broker)
        let transport = FaultyTransport(InMemoryTransport(broker: broker), .refuseFirstPublish)
        let serving = Task { try await service.serve(over: transport) }
        let ended = try await ending(of: serving) {
            try await transport.inner.publish([try self.reserve("trip-1")])
        }
        #expect(ended == "threw Refused")
        #expect(transport.acknowledged.isEmpty)
    }

    @Test(
        "cancelling the loop cancels a send waiting out the service's latency, and ends it without an error",
        .timeLimit(.minutes(1)))
    func cancellingStopsTheLatencyWait() async throws {
        let broker = InMemoryBroker()
        let service = hotel(on: broker, latency: .seconds(30))
        let transport = FaultyTransport(InMemoryTransport(broker: broker), .holdFirstPublish)
        let serving = Task { try await service.serve(over: transport) }
        let ended = try await ending(of: serving) {
            try await transport.inner.publish([try self.reserve("trip-1")])
            #expect(try await eventually { service.ledger.count == 1 })
            serving.cancel()
        }
        #expect(ended == "returned")
        #expect(transport.acknowledged.isEmpty)
        #expect(broker.take(from: "replies").isEmpty)
    }
}
