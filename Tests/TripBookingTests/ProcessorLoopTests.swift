import Chronicle
import ChronicleTesting
import Foundation
import Logging
import Testing
import TripBooking

@Suite("Processor.run over InMemoryTransport, in real time")
struct ProcessorLoopTests {
    @Test("trips started on the transport are booked by the running processor and services", .timeLimit(.minutes(1)))
    func runLoop() async throws {
        let broker = InMemoryBroker()
        let configuration = ProcessorConfiguration()
        for key in TripBookingApp.commandBindings {
            broker.bind(queue: configuration.queue, exchange: configuration.commandsExchange, pattern: key)
        }
        for key in TripBookingApp.eventBindings {
            broker.bind(queue: configuration.queue, exchange: configuration.eventsExchange, pattern: key)
        }
        broker.bind(queue: "outcomes", exchange: configuration.eventsExchange, pattern: "trip.*")
        var flightBehaviour = FakeTravelService.Behaviour()
        flightBehaviour.failFirstAttempts = 1
        let hotel = FakeTravelService(.hotel)
        let flight = FakeTravelService(.flight, behaviour: flightBehaviour)
        for service in [hotel, flight] {
            for key in service.commandRoutingKeys {
                broker.bind(queue: service.queue, exchange: configuration.commandsExchange, pattern: key)
            }
        }
        let transport = InMemoryTransport(broker: broker)
        var bookTrip = BookTrip()
        bookTrip.initialDelay = .milliseconds(20)
        bookTrip.retry.initialInterval = .milliseconds(10)
        let processor = Processor(
            registry: TripBookingApp.registry(bookTrip),
            store: InMemoryEventStore(),
            transport: transport,
            configuration: configuration,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )

        let trips = (1...20).map { TripBookingApp.sampleTrip("live-\($0)") }
        let outcomes = try await withThrowingTaskGroup(of: [String]?.self) { group in
            group.addTask {
                try await processor.run()
                return nil
            }
            for service in [hotel, flight] {
                group.addTask {
                    try await service.serve(over: transport)
                    return nil
                }
            }
            group.addTask {
                try await transport.publish(trips.map { try TripBookingApp.startMessage($0, at: Date()) })
                var seen: [String] = []
                while seen.count < trips.count {
                    seen += broker.take(from: "outcomes").compactMap(\.type)
                    try await Task.sleep(for: .milliseconds(5))
                }
                return seen
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return []
        }
        #expect(outcomes == Array(repeating: "TripBooked", count: trips.count))
        #expect(hotel.ledger.count == trips.count)
        #expect(flight.ledger.count == trips.count)
    }
}
