import Chronicle
import ChronicleTesting
import Foundation
import TripBooking

/// A processor with BookTrip, fake hotel and flight services, in memory and virtual time.
struct TripWorld {
    let env: TestEnvironment
    let hotel: FakeTravelService
    let flight: FakeTravelService

    init(
        hotel hotelBehaviour: FakeTravelService.Behaviour = .init(),
        flight flightBehaviour: FakeTravelService.Behaviour = .init(),
        bookTrip: BookTrip = BookTrip(),
        store: any EventStore = InMemoryEventStore(),
        observer: @escaping @Sendable (TestEnvironment.Step) -> Void = { _ in }
    ) {
        env = TestEnvironment(registry: TripBookingApp.registry(bookTrip), store: store, observer: observer)
        env.bindProcessor(exchange: "chronicle.commands", routingKeys: TripBookingApp.commandBindings)
        env.bindProcessor(exchange: "chronicle.events", routingKeys: TripBookingApp.eventBindings)
        // The outcomes go to a queue of their own, as a client following trips would bind one.
        env.broker.bind(queue: "test.outcomes", exchange: "chronicle.events", pattern: "trip.*")
        hotel = FakeTravelService(.hotel, behaviour: hotelBehaviour)
        flight = FakeTravelService(.flight, behaviour: flightBehaviour)
        for service in [hotel, flight] {
            env.addService(service.kind.rawValue, queue: service.queue, routingKeys: service.commandRoutingKeys) {
                command, now in service.handle(command, now: now).map { [$0] } ?? []
            }
        }
    }

    func start(_ trip: StartTrip) throws {
        try env.publish(TripBookingApp.startMessage(trip, messageID: "start-\(trip.tripId)", at: env.clock.now))
    }

    /// The trip outcomes published so far (taken off the outcomes queue).
    func outcomes() -> [InboundMessage] {
        env.broker.take(from: "test.outcomes")
    }

    func history(_ trip: String) async throws -> [HistoryEvent] {
        try await env.store.load(InstanceID(trip))?.events ?? []
    }
}

extension InboundMessage {
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try Payload.decoder.decode(T.self, from: body)
    }
}

extension OutgoingMessage {
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try Payload.decoder.decode(T.self, from: body)
    }
}

extension [HistoryEvent] {
    /// The call attempts scheduled, as (step, attempt, command type, time).
    var scheduledCalls: [(step: Int, attempt: Int, type: String, at: Date, key: String)] {
        compactMap { event in
            guard case .callScheduled(let step, let attempt, let command, _) = event.kind else { return nil }
            return (step, attempt, command.type, event.timestamp, command.idempotencyKey)
        }
    }
}
