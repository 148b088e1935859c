import Chronicle
import ChronicleTesting
import Foundation
import Testing
import TripBooking

@Suite("BookTrip, in memory and virtual time")
struct BookTripTests {
    @Test("a trip with willing services is booked: one room, one seat, trip.booked")
    func booked() async throws {
        let world = TripWorld()
        try world.start(TripBookingApp.sampleTrip("t1"))
        try await world.env.run()

        let outcomes = world.outcomes()
        #expect(outcomes.map(\.type) == ["TripBooked"])
        let booked = try outcomes[0].decode(TripBooked.self)
        #expect(booked.tripId == "t1")
        #expect(booked.hotelReservationId == world.hotel.ledger.first?.reservationId)
        #expect(booked.flightReservationId == world.flight.ledger.first?.reservationId)
        #expect(world.hotel.ledger.map(\.action) == [.reserved])
        #expect(world.flight.ledger.map(\.action) == [.reserved])
        let record = try #require(try await world.env.store.load("t1")).record
        #expect(record.status == .completed)
        #expect(world.env.takeDeadLetters().isEmpty)
    }

    @Test("a booking delay of zero fires in the pass that armed it: no wake-up message, no timer row")
    func zeroDelayFiresAtOnce() async throws {
        var bookTrip = BookTrip()
        bookTrip.initialDelay = .zero
        let world = TripWorld(bookTrip: bookTrip)
        try world.start(TripBookingApp.sampleTrip("t0"))
        try await world.env.run()

        #expect(world.outcomes().map(\.type) == ["TripBooked"])
        let wakeUps = world.env.broker.log.compactMap { $0.message.headers[TimerMessage.timerHeader] }
        #expect(!wakeUps.isEmpty)  // the calls' timeouts
        #expect(!wakeUps.contains { $0.hasPrefix("sleep") })
        let history = try await world.history("t0")
        let kinds = history.prefix(6).map { "\($0.kind)".prefix { $0 != "(" } }
        #expect(
            kinds == [
                "orchestrationStarted", "uuidRecorded", "timeRecorded", "timerScheduled", "timerFired",
                "callScheduled",
            ])
        var rows: [String] = []
        for state in [TimerState.pending, .fired, .cancelled] {
            rows += try await world.env.store.timers(state: state, dueBefore: nil, limit: 100).map(\.timerID)
        }
        #expect(!rows.contains { $0.hasPrefix("sleep") })
    }

    @Test("the hotel fails twice then succeeds; the waits are initialInterval × coefficient^n in virtual time")
    func hotelRetriesWithBackOff() async throws {
        var hotel = FakeTravelService.Behaviour()
        hotel.failFirstAttempts = 2
        hotel.latency = .milliseconds(20)
        let world = TripWorld(hotel: hotel)
        try world.start(TripBookingApp.sampleTrip("t2"))
        try await world.env.run()

        #expect(world.outcomes().map(\.type) == ["TripBooked"])
        let history = try await world.history("t2")
        let hotelCalls = history.scheduledCalls.filter { $0.type == "ReserveHotel" }
        #expect(hotelCalls.map(\.attempt) == [1, 2, 3])
        // Each retry is sent when its back-off timer fires: the failure came 20 ms after the attempt, then the
        // policy waits 100 ms, then 200 ms.
        let failures = history.compactMap { event -> Date? in
            if case .callFailed = event.kind { return event.timestamp }
            return nil
        }
        #expect(failures.count == 2)
        #expect(abs(hotelCalls[1].at.timeIntervalSince(failures[0]) - 0.1) < 0.000_1)
        #expect(abs(hotelCalls[2].at.timeIntervalSince(failures[1]) - 0.2) < 0.000_1)
        let backOffTimers = history.compactMap { event -> Double? in
            if case .timerScheduled(_, let fireAt) = event.kind { return fireAt.timeIntervalSince(event.timestamp) }
            return nil
        }
        #expect(backOffTimers.map { ($0 * 1000).rounded() } == [1000, 100, 200])
        #expect(world.hotel.ledger.map(\.action) == [.reserved])
    }

    @Test("the flight fails 3 times: the hotel is cancelled and the trip is compensated")
    func flightFailsHotelCancelled() async throws {
        var flight = FakeTravelService.Behaviour()
        flight.failureRate = 1
        let world = TripWorld(flight: flight)
        try world.start(TripBookingApp.sampleTrip("t3"))
        try await world.env.run()

        let outcomes = world.outcomes()
        #expect(outcomes.map(\.type) == ["TripFailed"])
        let failed = try outcomes[0].decode(TripFailed.self)
        #expect(failed.compensated)
        #expect(failed.reason.contains("ReserveFlight failed after 3 attempts"))
        #expect(world.hotel.ledger.map(\.action) == [.reserved, .cancelled])
        #expect(world.flight.ledger.isEmpty)
        let calls = try await world.history("t3").scheduledCalls
        #expect(
            calls.map(\.type) == ["ReserveHotel", "ReserveFlight", "ReserveFlight", "ReserveFlight", "CancelHotel"])
    }

    @Test("the hotel never succeeds: the trip fails, nothing to compensate")
    func hotelNeverSucceeds() async throws {
        var hotel = FakeTravelService.Behaviour()
        hotel.failureRate = 1
        let world = TripWorld(hotel: hotel)
        try world.start(TripBookingApp.sampleTrip("t4"))
        try await world.env.run()

        let failed = try #require(world.outcomes().first).decode(TripFailed.self)
        #expect(!failed.compensated)
        #expect(failed.reason.contains("ReserveHotel failed after 3 attempts"))
        #expect(world.hotel.ledger.isEmpty)
        let calls = try await world.history("t4").scheduledCalls
        #expect(calls.map(\.type) == ["ReserveHotel", "ReserveHotel", "ReserveHotel"])
    }

    @Test("a non-retryable error stops retries at once")
    func nonRetryable() async throws {
        let world = TripWorld()
        try world.start(TripBookingApp.sampleTrip("t5", city: "Atlantis"))
        try await world.env.run()

        let failed = try #require(world.outcomes().first).decode(TripFailed.self)
        #expect(failed.reason.contains("CityNotServed"))
        #expect(failed.reason.contains("after 1 attempt"))
        let calls = try await world.history("t5").scheduledCalls
        #expect(calls.map(\.type) == ["ReserveHotel"])
    }

    @Test("a silent service: two attempts time out, the third is answered")
    func timeouts() async throws {
        var hotel = FakeTravelService.Behaviour()
        hotel.ignoreFirstAttempts = 2
        let world = TripWorld(hotel: hotel)
        try world.start(TripBookingApp.sampleTrip("t6"))
        try await world.env.run()

        #expect(world.outcomes().map(\.type) == ["TripBooked"])
        let history = try await world.history("t6")
        let timedOut = history.filter { if case .callTimedOut = $0.kind { true } else { false } }
        #expect(timedOut.count == 2)
        // A timed-out attempt's timer fired; the successful attempt's timeout timer was cancelled.
        let timers = try await world.env.store.timers(state: .cancelled, dueBefore: nil, limit: 100)
        #expect(timers.map(\.timerID).contains("timeout-4-3"))
    }

    @Test("the flight never answers: the seat booking is voided, then the room cancelled; a late attempt books nothing")
    func unansweredFlightIsVoided() async throws {
        var flight = FakeTravelService.Behaviour()
        flight.ignoreFirstAttempts = 3
        let world = TripWorld(flight: flight)
        let trip = TripBookingApp.sampleTrip("t8")
        try world.start(trip)
        try await world.env.run()

        let failed = try #require(world.outcomes().first).decode(TripFailed.self)
        #expect(failed.compensated)
        let calls = try await world.history("t8").scheduledCalls
        #expect(
            calls.map(\.type) == [
                "ReserveHotel", "ReserveFlight", "ReserveFlight", "ReserveFlight", "CancelFlight", "CancelHotel",
            ])
        #expect(world.hotel.ledger.map(\.action) == [.reserved, .cancelled])

        // The service catches up with an attempt it never answered: the voided booking takes no seat.
        let booked = try await world.history("t8").compactMap { event -> UUID? in
            guard case .uuidRecorded(_, let uuid) = event.kind else { return nil }
            return uuid
        }
        let late = InboundMessage(
            messageID: "t8/late", type: ReserveFlight.name, correlationID: "t8",
            body: try Payload.encoder.encode(ReserveFlight(trip, try #require(booked.first))),
            exchange: "chronicle.commands", routingKey: ReserveFlight.routingKey)
        let reply = try #require(world.flight.handle(late, now: Date()))
        #expect(reply.type == "FlightReservationFailed")
        #expect(String(decoding: reply.body, as: UTF8.self).contains("BookingCancelled"))
        #expect(world.flight.ledger.isEmpty)
    }

    @Test("the hotel never answers: its booking is voided and the trip fails with nothing held")
    func unansweredHotelIsVoided() async throws {
        var hotel = FakeTravelService.Behaviour()
        hotel.ignoreFirstAttempts = 3
        let world = TripWorld(hotel: hotel)
        try world.start(TripBookingApp.sampleTrip("t9"))
        try await world.env.run()

        let failed = try #require(world.outcomes().first).decode(TripFailed.self)
        #expect(failed.compensated)
        #expect(failed.reason.contains("ReserveHotel failed after 3 attempts"))
        let calls = try await world.history("t9").scheduledCalls
        #expect(calls.map(\.type) == ["ReserveHotel", "ReserveHotel", "ReserveHotel", "CancelHotel"])
        #expect(world.flight.ledger.isEmpty)
    }

    @Test("a second StartTrip for the same trip starts nothing new")
    func duplicateStart() async throws {
        let world = TripWorld()
        let trip = TripBookingApp.sampleTrip("t7")
        try world.start(trip)
        try world.env.publish(TripBookingApp.startMessage(trip, messageID: "another-start", at: world.env.clock.now))
        try await world.env.run()

        #expect(world.outcomes().map(\.type) == ["TripBooked"])
        #expect(world.hotel.ledger.count == 1)
        let starts = try await world.history("t7").filter {
            if case .orchestrationStarted = $0.kind { true } else { false }
        }
        #expect(starts.count == 1)
    }
}

@Suite("Fake services")
struct FakeServiceTests {
    @Test("a restarted service answers a duplicate command with the same reply and no second effect")
    func journalSurvivesRestart() async throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "journal-\(UUID()).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let command = InboundMessage(
            messageID: "trip-j/4/1",
            type: ReserveHotel.name,
            correlationID: "trip-j",
            body: try Payload.encoder.encode(ReserveHotel(TripBookingApp.sampleTrip("trip-j"), UUID())),
            exchange: "chronicle.commands",
            routingKey: ReserveHotel.routingKey
        )
        let journal = try ServiceJournalFile(path: path)
        let first = FakeTravelService(.hotel, journal: try journal.load())
        let reply = try #require(first.handle(command, now: Date()))
        try await journal.append(first.takeUnjournaled())

        let restarted = FakeTravelService(.hotel, journal: try ServiceJournalFile(path: path).load())
        let again = try #require(restarted.handle(command, now: Date()))
        #expect(again.body == reply.body)
        #expect(restarted.ledger == first.ledger)
        #expect(restarted.ledger.count == 1)
        #expect(restarted.duplicateCount == 1)
    }

    @Test("attempts for one booking share one reservation; a voided booking, even after a restart, takes none")
    func idempotentByBooking() async throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "journal-\(UUID()).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let trip = TripBookingApp.sampleTrip("trip-b")
        let booking = UUID()
        func command(_ id: String, _ body: some Encodable, _ type: String) throws -> InboundMessage {
            InboundMessage(
                messageID: id, type: type, correlationID: "trip-b", body: try Payload.encoder.encode(body),
                exchange: "chronicle.commands", routingKey: "")
        }
        let journal = try ServiceJournalFile(path: path)
        let service = FakeTravelService(.flight, journal: try journal.load())
        let first = try #require(
            service.handle(try command("trip-b/5/1", ReserveFlight(trip, booking), "ReserveFlight"), now: Date()))
        let second = try #require(
            service.handle(try command("trip-b/5/2", ReserveFlight(trip, booking), "ReserveFlight"), now: Date()))
        #expect(service.ledger.map(\.action) == [.reserved])
        let held = try first.decode(FlightReserved.self).reservationId
        #expect(try second.decode(FlightReserved.self).reservationId == held)

        let void = try #require(
            service.handle(
                try command("trip-b/6/1", CancelFlight(tripId: "trip-b", voidingBooking: booking), "CancelFlight"),
                now: Date()))
        #expect(try void.decode(FlightCancelled.self).reservationId == held)
        #expect(service.ledger.map(\.action) == [.reserved, .cancelled])
        try await journal.append(service.takeUnjournaled())

        let restarted = FakeTravelService(.flight, journal: try ServiceJournalFile(path: path).load())
        let late = try #require(
            restarted.handle(try command("trip-b/5/3", ReserveFlight(trip, booking), "ReserveFlight"), now: Date()))
        #expect(late.type == "FlightReservationFailed")
        #expect(restarted.ledger.map(\.action) == [.reserved, .cancelled])

        // Voiding a booking that holds nothing is answered, and closes it all the same.
        let other = UUID()
        let empty = try #require(
            restarted.handle(
                try command("trip-b/7/1", CancelFlight(tripId: "trip-b", voidingBooking: other), "CancelFlight"),
                now: Date()))
        #expect(try empty.decode(FlightCancelled.self).reservationId == nil)
        let refused = try #require(
            restarted.handle(try command("trip-b/8/1", ReserveFlight(trip, other), "ReserveFlight"), now: Date()))
        #expect(refused.type == "FlightReservationFailed")
    }

    @Test("a command the service does not take is rejected with a reason")
    func rejects() {
        let service = FakeTravelService(.flight)
        let message = InboundMessage(
            messageID: "x", type: "ReserveHotel", correlationID: nil, body: Data("{}".utf8), exchange: "",
            routingKey: "")
        guard case .rejected(let reason) = service.respond(to: message, now: Date()) else {
            Issue.record("not rejected")
            return
        }
        #expect(reason.contains("takes no ReserveHotel"))
    }
}

@Suite("Starts from clients that set few properties")
struct BareStartTests {
    @Test(
        "a StartTrip with no type, message id or correlation id, on trip.start, as amqp-publish sends it, is booked once"
    )
    func bareStart() async throws {
        let world = TripWorld()
        let body = try Payload.encoder.encode(TripBookingApp.sampleTrip("bare"))
        let bare = OutgoingMessage(
            id: "",
            exchange: "chronicle.commands",
            routingKey: "trip.start",
            type: "",
            correlationID: nil,
            timestamp: Date(),
            body: body
        )
        try world.env.publish(bare)
        try world.env.publish(bare)
        try await world.env.run()
        #expect(world.outcomes().map(\.type) == ["TripBooked"])
        #expect(world.hotel.ledger.count == 1)
        #expect(world.env.takeDeadLetters().isEmpty)
    }
}
