import Chronicle
import Foundation

// The trip domain's messages, as the wire contract (contracts/) describes them: JSON bodies with camelCase
// keys. Commands go to the `chronicle.commands` exchange, facts to `chronicle.events`.

/// Starts a trip booking (`trip.start` on the commands exchange). A StartTrip whose `tripId` already exists
/// starts nothing new.
public struct StartTrip: Codable, Hashable, Sendable {
    public var tripId: String
    public var customerId: String
    public var hotel: Hotel
    public var flight: Flight

    public struct Hotel: Codable, Hashable, Sendable {
        public var city: String
        /// The first night, `YYYY-MM-DD`.
        public var checkIn: String
        public var nights: Int

        public init(city: String, checkIn: String, nights: Int) {
            self.city = city
            self.checkIn = checkIn
            self.nights = nights
        }
    }

    public struct Flight: Codable, Hashable, Sendable {
        /// IATA airport codes, e.g. `LHR`.
        public var from: String
        public var to: String
        /// The day of the flight, `YYYY-MM-DD`.
        public var date: String

        public init(from: String, to: String, date: String) {
            self.from = from
            self.to = to
            self.date = date
        }
    }

    public init(tripId: String, customerId: String, hotel: Hotel, flight: Flight) {
        self.tripId = tripId
        self.customerId = customerId
        self.hotel = hotel
        self.flight = flight
    }

    public static let messageType = "StartTrip"
    public static let routingKey = "trip.start"

    /// Checks what decoding cannot: non-empty ids, dates that exist, a positive stay, airport codes.
    /// - Throws: ``InvalidTrip`` naming every field that is wrong.
    public func validate() throws {
        var problems: [String] = []
        if Self.isBlank(tripId) { problems.append("tripId is empty") }
        if tripId.utf8.count > InstanceID.maximumUTF8Count {
            problems.append("tripId is longer than \(InstanceID.maximumUTF8Count) bytes in UTF-8")
        }
        if Self.isBlank(customerId) { problems.append("customerId is empty") }
        if Self.isBlank(hotel.city) { problems.append("hotel.city is empty") }
        if !Self.isDay(hotel.checkIn) { problems.append("hotel.checkIn \"\(hotel.checkIn)\" is not a date YYYY-MM-DD") }
        if !(1...365).contains(hotel.nights) { problems.append("hotel.nights \(hotel.nights) is not within 1...365") }
        for (name, code) in [("flight.from", flight.from), ("flight.to", flight.to)] where !Self.isAirport(code) {
            problems.append("\(name) \"\(code)\" is not a three-letter airport code")
        }
        if !Self.isDay(flight.date) { problems.append("flight.date \"\(flight.date)\" is not a date YYYY-MM-DD") }
        if !problems.isEmpty { throw InvalidTrip(problems: problems) }
    }

    /// Whether `text` is empty or only whitespace: what `trimmingCharacters(in: .whitespaces)` empties, without
    /// building the trimmed string (which was most of `validate`'s time).
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { whitespace.contains($0) }
    }

    private static let whitespace = CharacterSet.whitespaces

    /// Whether `text` is a calendar day YYYY-MM-DD (a day that exists: no February 30th). Checked by hand:
    /// parsing and formatting it with Foundation's ISO 8601 styles was a fortieth of the processor's time.
    static func isDay(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month)
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }

    static func isAirport(_ code: String) -> Bool {
        code.count == 3 && code.allSatisfy { $0.isASCII && $0.isUppercase }
    }
}

/// A StartTrip that decodes but cannot be booked.
public struct InvalidTrip: Error, Hashable, Sendable, CustomStringConvertible {
    public var problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}

/// Reserve a room (`hotel.reserve`). Replies: ``HotelReserved`` or `HotelReservationFailed`.
public struct ReserveHotel: Command, Hashable {
    public typealias Reply = HotelReserved
    public static let name = "ReserveHotel"
    public static let routingKey = "hotel.reserve"
    public static let replyType = "HotelReserved"
    public static let failureType: String? = "HotelReservationFailed"

    public var tripId: String
    public var bookingId: UUID
    public var city: String
    public var checkIn: String
    public var nights: Int

    public init(_ trip: StartTrip, _ bookingID: UUID) {
        self.tripId = trip.tripId
        self.bookingId = bookingID
        self.city = trip.hotel.city
        self.checkIn = trip.hotel.checkIn
        self.nights = trip.hotel.nights
    }
}

/// Cancel a room (`hotel.cancel`): the reservation `reservationId` names, or — with `bookingId` instead — void
/// the booking: cancel whatever room it holds and refuse any later ReserveHotel for it. BookTrip voids the
/// booking when a reservation attempt went unanswered, since that attempt may still be carried out.
/// Reply: ``HotelCancelled``; cancelling twice, or cancelling what is unknown, is not an error.
public struct CancelHotel: Command, Hashable {
    public typealias Reply = HotelCancelled
    public static let name = "CancelHotel"
    public static let routingKey = "hotel.cancel"
    public static let replyType = "HotelCancelled"

    public var tripId: String
    public var reservationId: String?
    public var bookingId: UUID?

    public init(tripId: String, reservationId: String) {
        self.tripId = tripId
        self.reservationId = reservationId
    }

    public init(tripId: String, voidingBooking bookingID: UUID) {
        self.tripId = tripId
        self.bookingId = bookingID
    }
}

/// Reserve a seat (`flight.reserve`). Replies: ``FlightReserved`` or `FlightReservationFailed`.
public struct ReserveFlight: Command, Hashable {
    public typealias Reply = FlightReserved
    public static let name = "ReserveFlight"
    public static let routingKey = "flight.reserve"
    public static let replyType = "FlightReserved"
    public static let failureType: String? = "FlightReservationFailed"

    public var tripId: String
    public var bookingId: UUID
    public var from: String
    public var to: String
    public var date: String

    public init(_ trip: StartTrip, _ bookingID: UUID) {
        self.tripId = trip.tripId
        self.bookingId = bookingID
        self.from = trip.flight.from
        self.to = trip.flight.to
        self.date = trip.flight.date
    }
}

/// Cancel a seat (`flight.cancel`), by `reservationId`, or void a booking by `bookingId`, as ``CancelHotel``.
/// Reply: ``FlightCancelled``.
public struct CancelFlight: Command, Hashable {
    public typealias Reply = FlightCancelled
    public static let name = "CancelFlight"
    public static let routingKey = "flight.cancel"
    public static let replyType = "FlightCancelled"

    public var tripId: String
    public var reservationId: String?
    public var bookingId: UUID?

    public init(tripId: String, reservationId: String) {
        self.tripId = tripId
        self.reservationId = reservationId
    }

    public init(tripId: String, voidingBooking bookingID: UUID) {
        self.tripId = tripId
        self.bookingId = bookingID
    }
}

/// A service made a reservation: the body of `HotelReserved` (`hotel.reserved`) and `FlightReserved`
/// (`flight.reserved`); the message type tells them apart.
public struct ReservationConfirmed: Codable, Hashable, Sendable {
    /// The message id of the command this answers.
    public var commandId: String
    public var tripId: String
    public var reservationId: String

    public init(commandId: String, tripId: String, reservationId: String) {
        self.commandId = commandId
        self.tripId = tripId
        self.reservationId = reservationId
    }
}

/// A service did a cancellation: the body of `HotelCancelled` (`hotel.cancelled`) and `FlightCancelled`
/// (`flight.cancelled`). `reservationId` is the reservation cancelled; absent when a voided booking held none.
public struct ReservationCancelled: Codable, Hashable, Sendable {
    /// The message id of the command this answers.
    public var commandId: String
    public var tripId: String
    public var reservationId: String?

    public init(commandId: String, tripId: String, reservationId: String?) {
        self.commandId = commandId
        self.tripId = tripId
        self.reservationId = reservationId
    }
}

/// A room was reserved (`hotel.reserved`).
public typealias HotelReserved = ReservationConfirmed
/// A room was cancelled (`hotel.cancelled`).
public typealias HotelCancelled = ReservationCancelled
/// A seat was reserved (`flight.reserved`).
public typealias FlightReserved = ReservationConfirmed
/// A seat was cancelled (`flight.cancelled`).
public typealias FlightCancelled = ReservationCancelled

/// A service could not do what a command asked (`hotel.reservation-failed`, `flight.reservation-failed`).
/// `error.type` is matched against retry policies' `nonRetryableErrors`.
public struct ReservationFailed: Codable, Hashable, Sendable {
    public var commandId: String
    public var tripId: String
    public var error: Failure

    public init(commandId: String, tripId: String, error: Failure) {
        self.commandId = commandId
        self.tripId = tripId
        self.error = error
    }
}

/// The trip is booked: a room and a seat are held (`trip.booked` on the events exchange).
public struct TripBooked: Codable, Hashable, Sendable {
    public var tripId: String
    public var bookingId: UUID
    public var hotelReservationId: String
    public var flightReservationId: String
    /// When the booking started (recorded by the orchestration).
    public var requestedAt: Date

    public init(
        tripId: String,
        bookingId: UUID,
        hotelReservationId: String,
        flightReservationId: String,
        requestedAt: Date
    ) {
        self.tripId = tripId
        self.bookingId = bookingId
        self.hotelReservationId = hotelReservationId
        self.flightReservationId = flightReservationId
        self.requestedAt = requestedAt
    }

    public static let messageType = "TripBooked"
    public static let routingKey = "trip.booked"
}

/// The trip could not be booked (`trip.failed`). When `compensated` is true, reservations made on the way
/// were cancelled; when false, none was made (or the StartTrip itself was invalid).
public struct TripFailed: Codable, Hashable, Sendable {
    public var tripId: String
    public var reason: String
    public var compensated: Bool

    public init(tripId: String, reason: String, compensated: Bool) {
        self.tripId = tripId
        self.reason = reason
        self.compensated = compensated
    }

    public static let messageType = "TripFailed"
    public static let routingKey = "trip.failed"
}
