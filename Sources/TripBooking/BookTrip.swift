import Chronicle
import Foundation

/// Books a trip: a room, then a seat; if the seat cannot be had, the room is cancelled. A reservation attempt
/// that got no answer in time may still be carried out later, so a booking whose reservation failed that way
/// is voided at the service (cancelled, and closed to late attempts) before the trip ends.
///
/// Every step that can differ between runs goes through the context, so the instance can be unloaded at any
/// `await` and replayed later with the same result.
public struct BookTrip: Orchestration {
    public static let name = "BookTrip"

    /// How the reservations are retried: 3 attempts, waiting 100 ms then 200 ms. `CityNotServed` and
    /// `RouteNotServed` are final: retrying cannot help.
    public var retry = RetryPolicy(
        initialInterval: .milliseconds(100),
        backoffCoefficient: 2,
        maximumAttempts: 3,
        nonRetryableErrors: ["CityNotServed", "RouteNotServed"]
    )
    /// How long one attempt waits for its reply.
    public var attemptTimeout: Duration = .seconds(5)
    /// The pause before booking starts (a durable timer: the instance is unloaded while it waits).
    public var initialDelay: Duration = .seconds(1)

    public init() {}

    public func run(_ trip: StartTrip, context: OrchestrationContext) async throws -> TripOutcome {
        let bookingID = try await context.newUUID()  // same value on every replay
        let requestedAt = try await context.now()  // same value on every replay
        try await context.sleep(for: initialDelay)  // unloaded from memory while it waits
        let options = CallOptions(retryPolicy: retry, startToCloseTimeout: attemptTimeout)

        let hotel: HotelReserved
        do {
            hotel = try await context.call(ReserveHotel(trip, bookingID), options: options)
        } catch let error as CallError {
            // An attempt that went unanswered may still be carried out: void the booking at the hotel.
            if error.mayHaveTakenEffect {
                let void = CancelHotel(tripId: trip.tripId, voidingBooking: bookingID)
                _ = try await context.call(void, options: compensationOptions)
            }
            return .failed(
                TripFailed(tripId: trip.tripId, reason: "hotel: \(error)", compensated: error.mayHaveTakenEffect))
        }

        var compensations = Compensations()
        compensations.add("cancel hotel reservation \(hotel.reservationId)") {
            let cancel = CancelHotel(tripId: trip.tripId, reservationId: hotel.reservationId)
            _ = try await context.call(cancel, options: compensationOptions)
        }

        do {
            let flight = try await context.call(ReserveFlight(trip, bookingID), options: options)
            let booked = TripBooked(
                tripId: trip.tripId,
                bookingId: bookingID,
                hotelReservationId: hotel.reservationId,
                flightReservationId: flight.reservationId,
                requestedAt: requestedAt
            )
            return .booked(booked)
        } catch let error as CallError {
            if error.mayHaveTakenEffect {
                compensations.add("void flight booking \(bookingID)") {
                    let void = CancelFlight(tripId: trip.tripId, voidingBooking: bookingID)
                    _ = try await context.call(void, options: compensationOptions)
                }
            }
            try await compensations.run()  // void the seat if one may be held, then cancel the room
            return .compensated(TripFailed(tripId: trip.tripId, reason: "flight: \(error)", compensated: true))
        }
    }

    /// Cancellations: retried with the default policy, without limit (a cancel is idempotent, and giving up
    /// would leave a reservation held), each attempt waiting `attemptTimeout`.
    private var compensationOptions: CallOptions { CallOptions(startToCloseTimeout: attemptTimeout) }
}

/// How a trip ended.
public enum TripOutcome: Codable, Hashable, Sendable {
    /// Room and seat are held.
    case booked(TripBooked)
    /// The seat could not be had; the room was cancelled.
    case compensated(TripFailed)
    /// The room could not be had; nothing was reserved.
    case failed(TripFailed)

    /// The message announcing the outcome on the events exchange.
    public var announcement: (type: String, routingKey: String, body: any Encodable & Sendable) {
        switch self {
        case .booked(let booked): (TripBooked.messageType, TripBooked.routingKey, booked)
        case .compensated(let failed), .failed(let failed): (TripFailed.messageType, TripFailed.routingKey, failed)
        }
    }
}
