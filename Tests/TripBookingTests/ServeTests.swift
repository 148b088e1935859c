import Chronicle
import ChronicleTesting
import Foundation
import Synchronization
import Testing
import TripBooking

/// An ``InMemoryTransport`` whose first publish waits until ``release()``; it records what was acknowledged.
final class GatedTransport: Transport, Sendable {
    let inner: InMemoryTransport
    private struct State {
        var publishes = 0
        var gate: CheckedContinuation<Void, Never>?
        var released = false
        var acknowledged: [String] = []
    }
    private let state = Mutex(State())

    init(_ inner: InMemoryTransport) { self.inner = inner }

    func publish(_ messages: [OutgoingMessage]) async throws {
        let first = state.withLock { state in
            state.publishes += 1
            return state.publishes == 1
        }
        if first {
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
        state.withLock { $0.acknowledged += messages.compactMap(\.messageID) }
        try await inner.acknowledge(messages)
    }

    func deadLetter(_ message: InboundMessage, reason: String) async throws {
        try await inner.deadLetter(message, reason: reason)
    }
}

@Suite("A fake service serving over a transport")
struct ServeTests {
    /// Polls `condition` every millisecond for up to five seconds.
    func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    @Test(
        "a batch whose replies wait to be sent does not hold up the next; each is acknowledged after its replies",
        .timeLimit(.minutes(1)))
    func batchesOverlap() async throws {
        let broker = InMemoryBroker()
        var instant = FakeTravelService.Behaviour()
        instant.latency = .zero
        let service = FakeTravelService(.hotel, behaviour: instant)
        for key in service.commandRoutingKeys {
            broker.bind(queue: service.queue, exchange: "chronicle.commands", pattern: key)
        }
        broker.bind(queue: "replies", exchange: "chronicle.events", pattern: "hotel.*")
        let transport = GatedTransport(InMemoryTransport(broker: broker))
        func reserve(_ trip: String) throws -> OutgoingMessage {
            OutgoingMessage(
                id: "\(trip)/4/1", exchange: "chronicle.commands", routingKey: ReserveHotel.routingKey,
                type: ReserveHotel.name, correlationID: trip, timestamp: Date(),
                body: try Payload.encoder.encode(ReserveHotel(TripBookingApp.sampleTrip(trip), UUID())))
        }
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
        #expect(transport.acknowledged == ["trip-2/4/1"])

        transport.release()
        #expect(try await eventually { transport.acknowledged.count == 2 })
        replies += broker.take(from: "replies")
        #expect(Set(replies.compactMap(\.correlationID)) == ["trip-1", "trip-2"])
        #expect(transport.acknowledged == ["trip-2/4/1", "trip-1/4/1"])
    }
}
