import Chronicle
import ChronicleTesting
import Foundation
import Testing
import TripBooking

@Suite("Replay: crashes, code changes, concurrency, idempotency keys")
struct ReplayTests {
    static let scenarios: [(String, FakeTravelService.Behaviour, FakeTravelService.Behaviour)] = {
        var retried = FakeTravelService.Behaviour()
        retried.failFirstAttempts = 1
        var silentOnce = FakeTravelService.Behaviour()
        silentOnce.ignoreFirstAttempts = 1
        var refusing = FakeTravelService.Behaviour()
        refusing.failureRate = 1
        return [
            ("booked after a hotel retry and a flight timeout", retried, silentOnce),
            ("compensated", .init(), refusing),
        ]
    }()

    @Test(
        "crash at every step: rebuilt from any prefix of its history, an instance ends the same, each command taking effect once",
        arguments: 0..<2)
    func crashAtEveryStep(scenario: Int) throws {
        let (_, hotelBehaviour, flightBehaviour) = Self.scenarios[scenario]
        let hotel = FakeTravelService(.hotel, behaviour: hotelBehaviour)
        let flight = FakeTravelService(.flight, behaviour: flightBehaviour)
        let driver = DirectDriver(hotel: hotel, flight: flight, orchestration: BookTrip())
        let trip = TripBookingApp.sampleTrip("crash-\(scenario)")

        let complete = try driver.drive(id: InstanceID("crash-\(scenario)"), history: [], start: trip)
        let expected = complete.outcomeSummary
        #expect(!expected.hasPrefix("not completed"))
        let hotelEffects = hotel.ledger
        let flightEffects = flight.ledger

        for cut in 0..<complete.count {
            let rebuilt = try driver.drive(
                id: InstanceID("crash-\(scenario)"), history: Array(complete.prefix(cut)), start: trip)
            #expect(rebuilt.outcomeSummary == expected, "rebuilt after \(cut) events")
            #expect(!rebuilt.contains { if case .orchestrationFailed = $0.kind { true } else { false } })
        }
        // The services saw commands again after every cut, and took none of them twice.
        #expect(hotel.ledger == hotelEffects)
        #expect(flight.ledger == flightEffects)
        #expect(hotel.duplicateCount + flight.duplicateCount > 0)
    }

    @Test(
        "crash the processor at each point of each batch: same outcome, nothing doubled",
        arguments: TestEnvironment.CrashPoint.allCases)
    func processorCrashes(point: TestEnvironment.CrashPoint) async throws {
        var flight = FakeTravelService.Behaviour()
        flight.failFirstAttempts = 1
        var batch = 0
        while true {
            let world = TripWorld(flight: flight)
            try world.start(TripBookingApp.sampleTrip("c"))
            // Run `batch` steps, then arm a crash for the next batch that reaches the point.
            try await world.env.run(maximumSteps: batch)
            world.env.crash(at: point)
            let steps = try await world.env.run()
            // A crash after publishing publishes again, with the same message id: at least once, deduplicable.
            let outcomes = world.outcomes()
            #expect(Set(outcomes.map(\.type)) == ["TripBooked"], "crash \(point) after \(batch) steps")
            #expect(Set(outcomes.map(\.messageID)) == ["c/outcome"])
            #expect(world.hotel.ledger.map(\.action) == [.reserved])
            #expect(world.flight.ledger.map(\.action) == [.reserved])
            if steps <= 1 { break }
            batch += 1
        }
        #expect(batch > 5)
    }

    @Test("history of one version replayed by a changed one: a readable error, the instance failed, nothing sent")
    func nonDeterminism() throws {
        let trip = TripBookingApp.sampleTrip("nd")
        let original = OrchestrationInstance(BookTrip(), id: "nd")
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        var history = original.apply(
            .orchestrationStarted(name: BookTrip.name, input: try Payload(encoding: trip)), now: t0
        ).newEvents
        history += original.apply(.timerFired(step: 3), now: t0 + 1).newEvents
        let hotelCall = try #require(history.scheduledCalls.first)
        #expect(hotelCall.type == "ReserveHotel")

        // Version 2 books the flight first.
        let changed = OrchestrationInstance(FlightFirstBookTrip(), id: "nd", history: history)
        let reply = HotelReserved(commandId: hotelCall.key, tripId: "nd", reservationId: "H-1")
        let activation = changed.apply(
            .callCompleted(step: 4, attempt: 1, reply: try Payload(encoding: reply)), now: t0 + 2)

        #expect(activation.status == .failed)
        #expect(activation.commands.isEmpty)
        #expect(activation.timers.isEmpty)
        let failure = try #require(activation.failure)
        #expect(failure.type == "NonDeterminism")
        #expect(failure.message.contains("at step 4"))
        #expect(failure.message.contains("history recorded call ReserveHotel (hotel.reserve) at step 4, attempt 1"))
        #expect(failure.message.contains("the code asked for call ReserveFlight (flight.reserve)"))
        // Applying anything more changes nothing.
        #expect(changed.apply(.timerFired(step: 9), now: t0 + 3).disposition != .applied)
    }

    @Test("hotel and flight in parallel with async let: the same command order over 1,000 replays")
    func asyncLetIsDeterministic() throws {
        let trip = TripBookingApp.sampleTrip("par")
        let start = HistoryEvent(
            .orchestrationStarted(name: ParallelBookTrip.name, input: try Payload(encoding: trip)), at: .now)
        let first = OrchestrationInstance(ParallelBookTrip(), id: "par").apply(start.kind, now: start.timestamp)
        let order = first.commands.map(\.command.type)
        #expect(Set(order) == ["ReserveHotel", "ReserveFlight"])
        #expect(order.count == 4)
        for _ in 0..<1_000 {
            let replayed = OrchestrationInstance(ParallelBookTrip(), id: "par", history: [start]).apply(
                nil, now: start.timestamp)
            #expect(replayed.commands.map(\.command.type) == order)
            #expect(replayed.commands.map(\.command.idempotencyKey) == first.commands.map(\.command.idempotencyKey))
        }
        // And a rebuild from the complete first activation matches it step for step.
        let rebuilt = OrchestrationInstance(
            ParallelBookTrip(), id: "par", history: [start] + first.newEvents.dropFirst())
        #expect(rebuilt.apply(nil, now: start.timestamp).failure == nil)
    }

    @Test("idempotency keys: the same on every replay, different for every attempt")
    func idempotencyKeys() throws {
        var hotelBehaviour = FakeTravelService.Behaviour()
        hotelBehaviour.failFirstAttempts = 2
        let hotel = FakeTravelService(.hotel, behaviour: hotelBehaviour)
        let driver = DirectDriver(hotel: hotel, flight: FakeTravelService(.flight), orchestration: BookTrip())
        let trip = TripBookingApp.sampleTrip("keys")
        let complete = try driver.drive(id: "keys", history: [], start: trip)
        let keys = complete.scheduledCalls.map(\.key)
        #expect(keys == ["keys/4/1", "keys/4/2", "keys/4/3", "keys/7/1"])
        #expect(Set(keys).count == keys.count)

        // Replays of every prefix schedule the same keys again.
        for cut in stride(from: 1, to: complete.count, by: 3) {
            let rebuilt = try driver.drive(id: "keys", history: Array(complete.prefix(cut)), start: trip)
            #expect(rebuilt.scheduledCalls.map(\.key) == keys)
        }
    }
}

/// BookTrip as a later version might be written: the flight first. Replaying old histories must fail.
struct FlightFirstBookTrip: Orchestration {
    static let name = BookTrip.name

    func run(_ trip: StartTrip, context: OrchestrationContext) async throws -> TripOutcome {
        let bookingID = try await context.newUUID()
        let requestedAt = try await context.now()
        try await context.sleep(for: .seconds(1))
        let flight = try await context.call(ReserveFlight(trip, bookingID), retry: .none)
        let hotel = try await context.call(ReserveHotel(trip, bookingID), retry: .none)
        return .booked(
            TripBooked(
                tripId: trip.tripId,
                bookingId: bookingID,
                hotelReservationId: hotel.reservationId,
                flightReservationId: flight.reservationId,
                requestedAt: requestedAt
            )
        )
    }
}

/// Reserves hotel and flight at once, with `async let`, and a second room in a task group.
struct ParallelBookTrip: Orchestration {
    static let name = "ParallelBookTrip"

    func run(_ trip: StartTrip, context: OrchestrationContext) async throws -> [String] {
        let bookingID = try await context.newUUID()
        async let hotel = context.call(ReserveHotel(trip, bookingID), retry: .none)
        async let flight = context.call(ReserveFlight(trip, bookingID), retry: .none)
        let extra = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<2 {
                group.addTask { try await context.call(ReserveHotel(trip, bookingID), retry: .none).reservationId }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        return try await [hotel.reservationId, flight.reservationId] + extra
    }
}
