import Chronicle
import Foundation
import Synchronization

/// A fake hotel or airline: answers reservation and cancellation commands, with knobs for failures, latency
/// and silence. Idempotent by the command's idempotency key (its message id): a duplicate command gets the same
/// reply and makes no second effect. Idempotent by booking too, as a real reservation system keyed by the
/// client's reference would be: another attempt for a booking that holds a reservation gets that reservation,
/// and a booking once cancelled (or voided) takes no new one. Every effect goes into a ledger, for auditing.
///
/// It is transport-free: ``handle(_:now:)`` takes a delivered command and returns the reply to publish. The
/// in-memory demo and tests call it directly; `chronicle services` runs it over RabbitMQ.
public final class FakeTravelService: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case hotel
        case flight
    }

    /// How the service behaves.
    public struct Behaviour: Sendable {
        /// The share of reservation attempts that fail (0...1), drawn from `seed` and the idempotency key, so
        /// the same attempt always gets the same answer.
        public var failureRate: Double = 0
        public var seed: UInt64 = 0
        /// Reservation attempts of each trip that fail before one may succeed.
        public var failFirstAttempts = 0
        /// Reservation attempts of each trip that get no reply at all (they time out).
        public var ignoreFirstAttempts = 0
        /// The failure type replied on a failed attempt.
        public var failureType = "NoAvailability"
        /// How long a reply takes, and how much it may vary (uniformly, ±).
        public var latency: Duration = .milliseconds(20)
        public var jitter: Duration = .zero

        public init() {}
    }

    /// One effect the service made.
    public struct LedgerEntry: Hashable, Sendable, Codable {
        public enum Action: String, Hashable, Sendable, Codable {
            case reserved
            case cancelled
        }

        public var tripId: String
        public var reservationId: String
        public var action: Action
        public var commandId: String
        public var at: Date
        /// The booking the reservation belongs to, when the command named one.
        public var bookingId: String?

        public init(
            tripId: String, reservationId: String, action: Action, commandId: String, at: Date,
            bookingId: String? = nil
        ) {
            self.tripId = tripId
            self.reservationId = reservationId
            self.action = action
            self.commandId = commandId
            self.at = at
            self.bookingId = bookingId
        }
    }

    public let kind: Kind
    public let behaviour: Behaviour
    private let exchange: String

    private struct State {
        /// Replies by idempotency key: a duplicate command gets the same answer.
        var replies: [String: OutgoingMessage?] = [:]
        var attemptsByTrip: [String: Int] = [:]
        /// Each reservation's trip, whether it holds, and the booking it was made for.
        var reservations: [String: (tripId: String, active: Bool, booking: String?)] = [:]
        /// Each booking's reservation, and the bookings closed by a cancellation.
        var reservationByBooking: [String: String] = [:]
        var closedBookings: Set<String> = []
        /// The booking the command being decided closed, for its journal entry.
        var closing: String?
        var ledger: [LedgerEntry] = []
        var duplicates = 0
        /// Decisions not yet written to the journal.
        var unjournaled: [JournalEntry] = []

        mutating func apply(_ entry: JournalEntry) {
            replies[entry.commandId] = .some(entry.reply)
            if entry.isReservation { attemptsByTrip[entry.tripId, default: 0] += 1 }
            for effect in entry.effects {
                reservations[effect.reservationId] = (effect.tripId, effect.action == .reserved, effect.bookingId)
                if let booking = effect.bookingId, effect.action == .reserved {
                    reservationByBooking[booking] = effect.reservationId
                }
                ledger.append(effect)
            }
            if let booking = entry.closedBooking { closedBookings.insert(booking) }
        }
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - journal: where the service's decisions were kept by an earlier run: they are loaded, so that a
    ///     restarted service answers duplicates as before and its ledger goes on. ``serve(over:journal:prefetch:)``
    ///     writes new ones there.
    public init(
        _ kind: Kind,
        behaviour: Behaviour = Behaviour(),
        eventsExchange: String = "chronicle.events",
        journal: [JournalEntry] = []
    ) {
        self.kind = kind
        self.behaviour = behaviour
        self.exchange = eventsExchange
        state.withLock { state in for entry in journal { state.apply(entry) } }
    }

    /// Takes the decisions made since the last call, for the journal.
    public func takeUnjournaled() -> [JournalEntry] {
        state.withLock { state in
            defer { state.unjournaled.removeAll() }
            return state.unjournaled
        }
    }

    /// The routing keys of the commands this service takes: `hotel.reserve`, `hotel.cancel`, …
    public var commandRoutingKeys: [String] { ["\(kind.rawValue).reserve", "\(kind.rawValue).cancel"] }

    /// The queue the service consumes.
    public var queue: String { "chronicle.\(kind.rawValue)" }

    /// The ledger: every reservation made and cancelled, in order.
    public var ledger: [LedgerEntry] { state.withLock { $0.ledger } }

    /// How many commands were duplicates of one already handled.
    public var duplicateCount: Int { state.withLock { $0.duplicates } }

    /// What the service does with a command.
    public enum Response: Sendable {
        /// Publish this reply (its `deliverAt` carries the service's latency).
        case reply(OutgoingMessage)
        /// Say nothing: the attempt will time out (the `ignoreFirstAttempts` knob).
        case silent
        /// Not a command this service can take; dead-letter it with the reason.
        case rejected(String)
    }

    /// Handles one command; returns the reply to publish (with `deliverAt` for its latency), or `nil` if the
    /// service stays silent or cannot take the message.
    public func handle(_ command: InboundMessage, now: Date) -> OutgoingMessage? {
        if case .reply(let reply) = respond(to: command, now: now) { return reply }
        return nil
    }

    /// Handles one command: a reply, silence, or why the message cannot be taken.
    public func respond(to command: InboundMessage, now: Date) -> Response {
        guard let key = command.messageID, !key.isEmpty else {
            return .rejected("the command has no message_id, which is its idempotency key")
        }
        return state.withLock { state in
            if let earlier = state.replies[key] {
                state.duplicates += 1
                guard let reply = earlier else { return .silent }
                var again = reply
                again.deliverAt = now.addingTimeInterval(latencySeconds(key))
                again.timestamp = now
                return .reply(again)
            }
            let ledgerBefore = state.ledger.count
            state.closing = nil
            let fields = command.stringFields
            let response = decide(command, fields: fields, key: key, now: now, state: &state)
            let reply: OutgoingMessage?
            switch response {
            case .reply(let message): reply = message
            case .silent: reply = nil
            case .rejected: return response
            }
            state.replies[key] = .some(reply)
            state.unjournaled.append(
                JournalEntry(
                    commandId: key,
                    tripId: fields["tripId"] ?? "",
                    commandType: command.type ?? "",
                    reply: reply,
                    effects: Array(state.ledger[ledgerBefore...]),
                    closedBooking: state.closing
                )
            )
            return response
        }
    }

    private func decide(
        _ command: InboundMessage, fields: [String: String], key: String, now: Date, state: inout State
    ) -> Response {
        let prefix = kind == .hotel ? "Hotel" : "Flight"
        switch command.type {
        case ReserveHotel.name where kind == .hotel, ReserveFlight.name where kind == .flight:
            guard let tripId = fields["tripId"] else {
                return .rejected("the \(command.type ?? "") body has no tripId")
            }
            let attempt = state.attemptsByTrip[tripId, default: 0] + 1
            state.attemptsByTrip[tripId] = attempt
            if attempt <= behaviour.ignoreFirstAttempts { return .silent }
            let booking = fields["bookingId"]
            if let booking, state.closedBookings.contains(booking) {
                let failure = Failure(type: "BookingCancelled", message: "booking \(booking) was cancelled")
                return .reply(failed(failure, tripId, key, now))
            }
            if let booking, let held = state.reservationByBooking[booking], state.reservations[held]?.active == true {
                // Another attempt for a booking already served: the same reservation, no second effect.
                let body = ReservationConfirmed(commandId: key, tripId: tripId, reservationId: held)
                return .reply(reply("\(prefix)Reserved", "\(kind.rawValue).reserved", body.json, tripId, key, now))
            }
            if let refusal = refusal(fields) {
                return .reply(failed(refusal, tripId, key, now))
            }
            if attempt <= behaviour.failFirstAttempts + behaviour.ignoreFirstAttempts
                || draw(key) < behaviour.failureRate
            {
                let failure = Failure(
                    type: behaviour.failureType, message: "no \(kind == .hotel ? "room" : "seat") available")
                return .reply(failed(failure, tripId, key, now))
            }
            let reservationID = self.reservationID(for: key)
            state.reservations[reservationID] = (tripId, true, booking)
            if let booking { state.reservationByBooking[booking] = reservationID }
            state.ledger.append(
                LedgerEntry(
                    tripId: tripId, reservationId: reservationID, action: .reserved, commandId: key, at: now,
                    bookingId: booking))
            let body = ReservationConfirmed(commandId: key, tripId: tripId, reservationId: reservationID)
            return .reply(reply("\(prefix)Reserved", "\(kind.rawValue).reserved", body.json, tripId, key, now))
        case CancelHotel.name where kind == .hotel, CancelFlight.name where kind == .flight:
            let named = fields["reservationId"]
            let voided = fields["bookingId"]
            guard let tripId = fields["tripId"], named != nil || voided != nil else {
                return .rejected("the \(command.type ?? "") body has no tripId, or neither reservationId nor bookingId")
            }
            let reservationID = named ?? voided.flatMap { state.reservationByBooking[$0] }
            let booking = voided ?? reservationID.flatMap { state.reservations[$0]?.booking }
            if let booking {
                state.closedBookings.insert(booking)
                state.closing = booking
            }
            if let reservationID, state.reservations[reservationID]?.active == true {
                state.reservations[reservationID]?.active = false
                state.ledger.append(
                    LedgerEntry(
                        tripId: tripId, reservationId: reservationID, action: .cancelled, commandId: key, at: now,
                        bookingId: booking))
            }
            let body = ReservationCancelled(commandId: key, tripId: tripId, reservationId: reservationID)
            return .reply(reply("\(prefix)Cancelled", "\(kind.rawValue).cancelled", body.json, tripId, key, now))
        default:
            return .rejected("the \(kind.rawValue) service takes no \(command.type ?? "untyped") message")
        }
    }

    /// The `…ReservationFailed` reply to reservation command `commandID`.
    private func failed(_ failure: Failure, _ tripId: String, _ commandID: String, _ now: Date) -> OutgoingMessage {
        reply(
            "\(kind == .hotel ? "Hotel" : "Flight")ReservationFailed", "\(kind.rawValue).reservation-failed",
            ReservationFailed(commandId: commandID, tripId: tripId, error: failure).json, tripId, commandID, now)
    }

    /// A reservation id derived from the command id, so that it is unique without a counter to keep.
    private func reservationID(for commandID: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in commandID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let digits = String(hash, radix: 36, uppercase: true)
        return "\(kind == .hotel ? "H" : "F")-\(String(repeating: "0", count: max(0, 13 - digits.count)))\(digits)"
    }

    /// Requests no retry can fix: a city the hotel does not serve, a route the airline does not fly.
    private func refusal(_ fields: [String: String]) -> Failure? {
        switch kind {
        case .hotel where fields["city"] == "Atlantis":
            Failure(type: "CityNotServed", message: "no hotel in Atlantis")
        case .flight where fields["to"] == "XXX":
            Failure(type: "RouteNotServed", message: "no flights to XXX")
        default:
            nil
        }
    }

    private func reply(
        _ type: String,
        _ routingKey: String,
        _ body: Data,
        _ tripId: String,
        _ commandID: String,
        _ now: Date
    ) -> OutgoingMessage {
        OutgoingMessage(
            id: "\(commandID)/reply",
            exchange: exchange,
            routingKey: routingKey,
            type: type,
            correlationID: tripId,
            timestamp: now,
            body: body,
            deliverAt: now.addingTimeInterval(latencySeconds(commandID))
        )
    }

    private func latencySeconds(_ key: String) -> Double {
        let base =
            Double(behaviour.latency.components.seconds) + Double(behaviour.latency.components.attoseconds) / 1e18
        let jitter =
            Double(behaviour.jitter.components.seconds) + Double(behaviour.jitter.components.attoseconds) / 1e18
        return max(0, base + (draw(key + "/latency") * 2 - 1) * jitter)
    }

    /// A number in 0..<1 fixed by the seed and `key`.
    private func draw(_ key: String) -> Double {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ behaviour.seed
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var generator = SeededRandomNumberGenerator(seed: hash)
        return Double(generator.next() >> 11) / Double(1 << 53)
    }
}

/// One command a service handled: its reply (`nil` if it stayed silent) and the effects it made. The service
/// rebuilds its state from these after a restart.
public struct JournalEntry: Codable, Hashable, Sendable {
    public var commandId: String
    public var tripId: String
    public var commandType: String
    public var reply: OutgoingMessage?
    public var effects: [FakeTravelService.LedgerEntry]
    /// The booking this command closed (a cancellation), so that a restarted service still refuses it.
    public var closedBooking: String?

    var isReservation: Bool { commandType == ReserveHotel.name || commandType == ReserveFlight.name }
}

// The documents written for every command, by hand (see `JSONText`): `JSONEncoder` took a sixth of the services'
// time. Each gives what `Payload.sharedEncoder` gives for the same value, byte for byte.

extension ReservationConfirmed {
    var json: Data { reservationJSON(commandId: commandId, reservationId: reservationId, tripId: tripId) }
}

extension ReservationCancelled {
    var json: Data { reservationJSON(commandId: commandId, reservationId: reservationId, tripId: tripId) }
}

/// The body of a confirmation, and of a cancellation (whose reservation may be unknown: no `reservationId`).
private func reservationJSON(commandId: String, reservationId: String?, tripId: String) -> Data {
    var out = JSONText()
    out.document {
        $0.string("commandId", commandId)
        if let reservationId { $0.string("reservationId", reservationId) }
        $0.string("tripId", tripId)
    }
    return out.data
}

extension ReservationFailed {
    var json: Data {
        var out = JSONText()
        out.document {
            $0.string("commandId", commandId)
            $0.failure("error", error)
            $0.string("tripId", tripId)
        }
        return out.data
    }
}

extension JournalEntry {
    /// The entry's row, as `ServiceJournalFile.encoder` writes it; `nil` for a time that is not finite.
    var json: String? {
        var out = JSONText()
        out.document {
            if let closedBooking { $0.string("closedBooking", closedBooking) }
            $0.string("commandId", commandId)
            $0.string("commandType", commandType)
            $0.array("effects", effects) { out, effect in
                out.string("action", effect.action.rawValue)
                out.date("at", effect.at)
                if let booking = effect.bookingId { out.string("bookingId", booking) }
                out.string("commandId", effect.commandId)
                out.string("reservationId", effect.reservationId)
                out.string("tripId", effect.tripId)
            }
            if let reply {
                $0.object("reply") {
                    $0.base64("body", reply.body)
                    if let correlationID = reply.correlationID { $0.string("correlationID", correlationID) }
                    if let deliverAt = reply.deliverAt { $0.date("deliverAt", deliverAt) }
                    $0.string("exchange", reply.exchange)
                    $0.strings("headers", reply.headers)
                    $0.string("id", reply.id)
                    $0.bool("mandatory", reply.mandatory)
                    $0.string("routingKey", reply.routingKey)
                    $0.date("timestamp", reply.timestamp)
                    $0.string("type", reply.type)
                }
            }
            $0.string("tripId", tripId)
        }
        return out.finite ? out.text : nil
    }
}
