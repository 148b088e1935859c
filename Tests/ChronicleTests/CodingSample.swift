import Foundation

/// A message with a bit of everything Codable gives, for the tests that hold Payload's coders to Foundation's.
enum CodingSample {
    struct Message: Codable, Equatable {
        var tripId: String
        var bookingId: UUID
        var nights: Int
        var late: Bool
        var requestedAt: Date
        var note: String?
        var tags: [String]
        var legs: [Leg]
        var extras: [String: Int]
        var status: Status
        var outcome: Outcome
        var small: Int8? = nil
    }

    struct Leg: Codable, Equatable {
        var from: String
        var to: String
        var seats: [UInt8]
        var price: Int64
    }

    enum Status: String, Codable { case open, closed }

    enum Outcome: Codable, Equatable {
        case booked(reservation: String, count: Int)
        case failed(String)
        case none
    }
}
