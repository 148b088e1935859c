import Chronicle
import Foundation
import TripBooking

/// How fuzz bytes become a delivery for the trip processor.
///
/// Five leading bytes choose the AMQP properties, each from a small table (the byte modulo the table's size),
/// so that a mutation of one byte moves between message types, trips and timers; the rest is the body:
///
/// | byte | chooses |
/// | --- | --- |
/// | 0 | `type`: ``types`` |
/// | 1 | `correlation_id`: ``correlationIDs`` |
/// | 2 | `message_id`: ``messageIDs`` |
/// | 3 | the `x-chronicle-timer` header: absent, from the input, or one of the seeded trips' timers |
/// | 4 | flags: ``Flags`` |
///
/// A property chosen as ``Field/fromInput`` is read after the five bytes, in the order of the table above: one
/// length byte, then that many bytes as UTF-8 (invalid sequences repaired, as a client library would). What
/// is left is the body, as delivered: no limit here, so bodies over the processor's limit get through to it.
struct FuzzInput {
    /// One AMQP property's value.
    enum Field: Hashable {
        case absent
        case text(String)
        case fromInput
    }

    /// What byte 4's bits do.
    struct Flags: OptionSet {
        let rawValue: UInt8
        /// Published with routing key `trip.start`, whatever its type (a type-less start is taken by its key).
        static let startRoutingKey = Flags(rawValue: 1 << 0)
        /// Delivered with `redelivered` set, as after a consumer went away.
        static let redelivered = Flags(rawValue: 1 << 1)
        /// A second copy in the same batch (a duplicate publish the broker delivered together).
        static let twiceInBatch = Flags(rawValue: 1 << 2)
        /// A second copy in a batch of its own, after the first was settled (a redelivery, or a re-publish).
        static let againInNextBatch = Flags(rawValue: 1 << 3)
        /// No `content_type`.
        static let noContentType = Flags(rawValue: 1 << 4)
    }

    /// Every type the trip processor accepts, and the cases it must refuse: none, empty, a command it sends
    /// rather than takes, and any text.
    static let types: [Field] =
        [
            StartTrip.messageType, "HotelReserved", "HotelReservationFailed", "HotelCancelled", "FlightReserved",
            "FlightReservationFailed", "FlightCancelled", TimerMessage.type,
        ].map { .text($0) } + [.absent, .text(""), .text(ReserveHotel.name), .fromInput]

    /// The seeded trips (each one of ``SeededTrips/Trip``), a trip not yet started, and the refusals.
    static let correlationIDs: [Field] =
        [.absent, .text("")] + SeededTrips.Trip.allCases.map { .text($0.rawValue) } + [
            .text(SeededTrips.newTripID), .fromInput,
        ]

    /// A fresh id, an id already applied (in the seeded inbox), and the refusals.
    static let messageIDs: [Field] = [
        .absent, .text(""), .text("fuzz-1"), .text(SeededTrips.appliedMessageID), .fromInput,
    ]

    /// The delivery.
    var message: InboundMessage
    var flags: Flags

    /// - Parameters:
    ///   - bytes: the fuzz input.
    ///   - timers: the timer ids the seeded trips armed; byte 3 picks among them.
    init(_ bytes: Data, timers: [String]) {
        var reader = Reader(bytes)
        let type = Self.types[Int(reader.byte()) % Self.types.count]
        let correlation = Self.correlationIDs[Int(reader.byte()) % Self.correlationIDs.count]
        let messageID = Self.messageIDs[Int(reader.byte()) % Self.messageIDs.count]
        let timerChoice = Int(reader.byte())
        let timer: Field =
            switch timerChoice {
            case 0: .absent
            case 1: .fromInput
            default: timers.isEmpty ? .absent : .text(timers[(timerChoice - 2) % timers.count])
            }
        flags = Flags(rawValue: reader.byte())

        let typeText = reader.text(type)
        let correlationText = reader.text(correlation)
        let messageIDText = reader.text(messageID)
        let timerText = reader.text(timer)
        let (exchange, naturalKey) = Self.route(of: typeText)
        message = InboundMessage(
            messageID: messageIDText,
            type: typeText,
            correlationID: correlationText,
            contentType: flags.contains(.noContentType) ? nil : "application/json",
            timestamp: SeededTrips.epoch,
            headers: timerText.map { [TimerMessage.timerHeader: $0] } ?? [:],
            body: reader.rest(),
            exchange: exchange,
            routingKey: flags.contains(.startRoutingKey) ? StartTrip.routingKey : naturalKey,
            redelivered: flags.contains(.redelivered),
            deliveryTag: 1
        )
    }

    /// The exchange and routing key a message of `type` comes with, per the wire contract.
    static func route(of type: String?) -> (exchange: String, routingKey: String) {
        switch type {
        case StartTrip.messageType: ("chronicle.commands", StartTrip.routingKey)
        case "HotelReserved": ("chronicle.events", "hotel.reserved")
        case "HotelReservationFailed": ("chronicle.events", "hotel.reservation-failed")
        case "HotelCancelled": ("chronicle.events", "hotel.cancelled")
        case "FlightReserved": ("chronicle.events", "flight.reserved")
        case "FlightReservationFailed": ("chronicle.events", "flight.reservation-failed")
        case "FlightCancelled": ("chronicle.events", "flight.cancelled")
        case TimerMessage.type: ("", ProcessorConfiguration().queue)
        default: ("chronicle.events", "fuzz.other")
        }
    }

    /// The deliveries, as batches: the message, maybe a copy in the same batch, maybe one in a next batch. Every
    /// copy has a delivery tag of its own, as the broker gives a redelivery.
    var batches: [[InboundMessage]] {
        var tag: UInt64 = 0
        func copy(redelivered: Bool) -> InboundMessage {
            tag += 1
            var copy = message
            copy.deliveryTag = tag
            copy.redelivered = copy.redelivered || redelivered
            return copy
        }
        var first = [copy(redelivered: false)]
        if flags.contains(.twiceInBatch) { first.append(copy(redelivered: false)) }
        return flags.contains(.againInNextBatch) ? [first, [copy(redelivered: true)]] : [first]
    }
}

/// Reads fuzz bytes front to back; past the end, every byte is 0 and every text empty.
private struct Reader {
    private let bytes: Data
    private var offset: Data.Index

    init(_ bytes: Data) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    mutating func byte() -> UInt8 {
        guard offset < bytes.endIndex else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// The field's value; a ``FuzzInput/Field/fromInput`` one is read here: a length byte, then the text.
    mutating func text(_ field: FuzzInput.Field) -> String? {
        switch field {
        case .absent: return nil
        case .text(let text): return text
        case .fromInput:
            let count = min(Int(byte()), bytes.endIndex - offset)
            defer { offset += count }
            return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
        }
    }

    mutating func rest() -> Data {
        defer { offset = bytes.endIndex }
        return Data(bytes[offset...])
    }
}
