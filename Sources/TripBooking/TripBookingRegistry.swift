import Chronicle
import Foundation

/// How the trip domain plugs into a processor.
public enum TripBookingApp {
    /// BookTrip, started by `StartTrip` (instance id: `tripId`), announcing `trip.booked` or `trip.failed`; and
    /// the commands whose replies it accepts.
    public static func registry(_ bookTrip: BookTrip = BookTrip()) -> OrchestrationRegistry {
        var registry = OrchestrationRegistry()
        registry.register(
            bookTrip,
            startMessageType: StartTrip.messageType,
            startRoutingKey: StartTrip.routingKey,
            instanceIDField: "tripId",
            validate: { try $0.validate() },
            announce: { id, outcome in
                switch outcome {
                case .success(let trip):
                    let (type, routingKey, body) = trip.announcement
                    return try? .init(type: type, routingKey: routingKey, encoding: body)
                case .failure(let failure):
                    let failed = TripFailed(tripId: id.rawValue, reason: failure.message, compensated: false)
                    return try? .init(type: TripFailed.messageType, routingKey: TripFailed.routingKey, encoding: failed)
                }
            }
        )
        registry.register(command: ReserveHotel.self)
        registry.register(command: CancelHotel.self)
        registry.register(command: ReserveFlight.self)
        registry.register(command: CancelFlight.self)
        return registry
    }

    /// What the processor's queue is bound to: StartTrip on the commands exchange, the services' replies on
    /// the events exchange.
    public static let commandBindings = [StartTrip.routingKey]
    public static let eventBindings = ["hotel.*", "flight.*"]

    /// A StartTrip message as any AMQP client would publish it.
    public static func startMessage(_ trip: StartTrip, messageID: String = UUID().uuidString, at now: Date) throws
        -> OutgoingMessage
    {
        OutgoingMessage(
            id: messageID,
            exchange: "chronicle.commands",
            routingKey: StartTrip.routingKey,
            type: StartTrip.messageType,
            correlationID: trip.tripId,
            timestamp: now,
            body: try Payload.sharedEncoder.encode(trip)
        )
    }

    /// A sample trip, for demos and tests.
    public static func sampleTrip(_ id: String, city: String = "Lisbon", to destination: String = "LIS") -> StartTrip {
        StartTrip(
            tripId: id,
            customerId: "customer-\(id)",
            hotel: .init(city: city, checkIn: "2027-05-01", nights: 3),
            flight: .init(from: "LHR", to: destination, date: "2027-05-01")
        )
    }
}
