import Chronicle
import ChronicleTesting
import Foundation
import Logging
import TripBooking

/// Trips at every stage of BookTrip, made once by the real processor, so that fuzzed replies and timers find
/// instances to act on and not only "no such trip".
///
/// Each trip is driven as production drives it: a StartTrip, the timer wake-ups and the services' replies it
/// asks for, each handled by ``Processor/handle(_:)``. What the store then holds is kept as one
/// ``CommitBatch`` (histories, timers, inbox), which ``restore(into:)`` writes into a fresh store for every
/// input: each input starts from the same state, so a finding replays the same way.
struct SeededTrips: Sendable {
    /// The seeded trips, named by where they wait.
    enum Trip: String, CaseIterable {
        /// Started; waiting out BookTrip's initial delay.
        case sleeping = "trip-sleeping"
        /// The hotel reservation's first attempt is out.
        case hotel = "trip-hotel"
        /// The first hotel attempt failed (retryable); waiting out the back-off.
        case retrying = "trip-retrying"
        /// The room is held; the flight reservation is out.
        case flight = "trip-flight"
        /// No seat (a final failure); the room's cancellation is out.
        case compensating = "trip-compensating"
        /// Room and seat held: ended.
        case booked = "trip-booked"

        /// What happens to the trip, in order, after its StartTrip.
        fileprivate var steps: [Step] {
            let toFlight: [Step] = [.fireTimer, .reply("HotelReserved")]
            switch self {
            case .sleeping: return []
            case .hotel: return [.fireTimer]
            case .retrying: return [.fireTimer, .failure("HotelReservationFailed", "NoAvailability")]
            case .flight: return toFlight
            case .compensating: return toFlight + [.failure("FlightReservationFailed", "RouteNotServed")]
            case .booked: return toFlight + [.reply("FlightReserved")]
            }
        }

        fileprivate var expectedStatus: InstanceStatus { self == .booked ? .completed : .running }
    }

    fileprivate enum Step {
        /// The wake-up of the timer the trip armed last.
        case fireTimer
        /// A success reply of `type` to the command the trip sent last.
        case reply(String)
        /// A failure reply of `type`, with `errorType`, to the command the trip sent last.
        case failure(String, String)
    }

    /// The seeding clock's start; fuzzed messages carry it as their timestamp.
    static let epoch = Date(timeIntervalSince1970: 1_767_225_600)
    /// A trip id no seeded trip has (the seed corpus's StartTrip uses it).
    static let newTripID = "trip-42"
    /// A message id in the seeded inbox: a message with it is a duplicate.
    static let appliedMessageID = "seed/trip-hotel/start"

    /// Histories, timers and inbox of every seeded trip.
    let state: CommitBatch
    /// Every timer id the seeded trips armed, sorted.
    let timers: [String]
    /// The seeding clock after the last step: the processor's time for fuzzed input.
    let now: Date

    /// Drives every ``Trip`` to its stage.
    ///
    /// - Throws: if a step did not go as BookTrip is expected to go (a message dead-lettered, a trip not where it
    ///   should be): the harness would then fuzz against the wrong state.
    static func make(registry: OrchestrationRegistry, logger: Logger) async throws -> SeededTrips {
        let clock = VirtualClock(start: epoch)
        let store = InMemoryEventStore()
        let transport = SettlingTransport()
        let configuration = ProcessorConfiguration()
        let processor = Processor(
            registry: registry, store: store, transport: transport, configuration: configuration,
            clock: clock.reading, logger: logger)
        defer { processor.batches.unloadAll() }  // see FuzzHarness.process
        var applied: [String] = []

        for trip in Trip.allCases {
            let start = try TripBookingApp.startMessage(
                TripBookingApp.sampleTrip(trip.rawValue), messageID: "seed/\(trip.rawValue)/start", at: clock.now)
            var inbound = deliver(start)
            for step in [nil] + trip.steps.map(Optional.some) {
                if let step {
                    inbound = try next(step, trip: trip, after: transport.published, clock: clock)
                }
                let outcome = try await processor.handle([inbound])
                guard outcome.deadLetter.isEmpty, outcome.ignored.isEmpty else {
                    throw SeedingError(
                        "\(trip.rawValue): \(inbound.type ?? "?") was not applied: "
                            + "\(outcome.deadLetter.map(\.reason) + outcome.ignored.map(\.reason))")
                }
                applied += outcome.acknowledge.compactMap(\.messageID)
            }
            let status = try await store.load(InstanceID(trip.rawValue))?.record.status
            guard status == trip.expectedStatus else {
                throw SeedingError(
                    "\(trip.rawValue) is \(status.map { "\($0)" } ?? "missing"), not \(trip.expectedStatus)")
            }
        }

        var state = CommitBatch(inbox: applied)
        for trip in Trip.allCases {
            guard let stored = try await store.load(InstanceID(trip.rawValue)) else { continue }
            state.appends.append(
                InstanceAppend(
                    instanceID: stored.record.id, orchestration: stored.record.orchestration, expectedVersion: 0,
                    events: stored.events, status: stored.record.status, nextWakeUp: stored.record.nextWakeUp,
                    at: stored.record.updatedAt))
        }
        var timers: Set<String> = []
        for timerState in [TimerState.pending, .fired, .cancelled] {
            for timer in try await store.timers(state: timerState, dueBefore: nil, limit: .max) {
                state.timers.append(.schedule(timer))
                timers.insert(timer.timerID)
            }
        }
        guard applied.contains(appliedMessageID) else {
            throw SeedingError("the seeded inbox lacks \(appliedMessageID)")
        }
        return SeededTrips(state: state, timers: timers.sorted(), now: clock.now)
    }

    /// Writes the seeded trips into `store`, which must be empty.
    func restore(into store: any EventStore) async throws {
        try await store.commit(state)
    }

    /// The delivery of `step`'s message, made from what the processor published for `trip` so far.
    private static func next(_ step: Step, trip: Trip, after published: [OutgoingMessage], clock: VirtualClock)
        throws -> InboundMessage
    {
        let mine = published.filter { $0.correlationID == trip.rawValue }
        switch step {
        case .fireTimer:
            guard let timer = mine.last(where: { $0.type == TimerMessage.type }) else {
                throw SeedingError("\(trip.rawValue) armed no timer")
            }
            clock.advance(to: timer.deliverAt ?? clock.now)
            return deliver(timer)
        case .reply(let type), .failure(let type, _):
            guard let command = mine.last(where: { $0.exchange == ProcessorConfiguration().commandsExchange }) else {
                throw SeedingError("\(trip.rawValue) sent no command")
            }
            let body: Data
            if case .failure(_, let errorType) = step {
                body = try Payload.encoder.encode(
                    ReservationFailed(
                        commandId: command.id, tripId: trip.rawValue,
                        error: Failure(type: errorType, message: "seeded failure")))
            } else {
                body = try Payload.encoder.encode(
                    ReservationConfirmed(
                        commandId: command.id, tripId: trip.rawValue, reservationId: "R-\(trip.rawValue)"))
            }
            let (exchange, routingKey) = FuzzInput.route(of: type)
            return deliver(
                OutgoingMessage(
                    id: "seed/\(command.id)/reply", exchange: exchange, routingKey: routingKey, type: type,
                    correlationID: trip.rawValue, timestamp: clock.now, body: body))
        }
    }

    /// `message` as the broker delivers it.
    private static func deliver(_ message: OutgoingMessage) -> InboundMessage {
        InboundMessage(
            messageID: message.id, type: message.type, correlationID: message.correlationID,
            timestamp: message.timestamp, headers: message.headers, body: message.body, exchange: message.exchange,
            routingKey: message.routingKey, deliveryTag: 1)
    }
}

/// The seeded trips could not be made as BookTrip is expected to make them.
struct SeedingError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
