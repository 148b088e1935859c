import Chronicle
import ChronicleTesting
import Foundation
import Testing
import TripBooking

@Suite("Bad input is dead-lettered with its reason; the processor goes on")
struct BadInputTests {
    static func message(type: String?, id: String? = UUID().uuidString, body: String, correlation: String? = nil)
        -> OutgoingMessage
    {
        OutgoingMessage(
            id: id ?? "",
            exchange: "chronicle.commands",
            routingKey: "trip.start",
            type: type ?? "",
            correlationID: correlation,
            timestamp: Date(),
            body: Data(body.utf8)
        )
    }

    static let cases: [(String, OutgoingMessage, String)] = [
        ("not JSON", message(type: "StartTrip", body: "{not json"), "not JSON"),
        ("a missing field", message(type: "StartTrip", body: #"{"tripId":"b1","customerId":"c"}"#), "hotel is missing"),
        (
            "a wrong type",
            message(
                type: "StartTrip",
                body:
                    #"{"tripId":"b2","customerId":"c","hotel":{"city":"X","checkIn":"2027-01-01","nights":"three"},"flight":{"from":"LHR","to":"LIS","date":"2027-01-02"}}"#
            ), "hotel.nights is not Int"
        ),
        (
            "an invalid date",
            message(
                type: "StartTrip",
                body:
                    #"{"tripId":"b3","customerId":"c","hotel":{"city":"X","checkIn":"2027-02-30","nights":2},"flight":{"from":"LHR","to":"LIS","date":"2027-01-02"}}"#
            ), "hotel.checkIn \"2027-02-30\" is not a date"
        ),
        ("an unknown type", message(type: "BookSpaceship", body: "{}"), "unknown message type BookSpaceship"),
        ("no type, and a routing key that names nothing", message(type: nil, body: "{}"), "has no type property"),
        ("a timer with no message id", message(type: "TimerFired", id: nil, body: "{}"), "has no message_id"),
        (
            "a reply to nothing",
            message(type: "HotelReserved", body: #"{"commandId":"ghost/4/1","tripId":"ghost","reservationId":"H-9"}"#),
            "no instance ghost exists"
        ),
        (
            "a reply with a forged command id",
            message(type: "HotelReserved", body: #"{"commandId":"nonsense","tripId":"x","reservationId":"H-9"}"#),
            "is not a command id"
        ),
        (
            "an oversized body",
            message(type: "StartTrip", body: "{\"pad\":\"" + String(repeating: "x", count: 1 << 20) + "\"}"),
            "over the limit"
        ),
    ]

    @Test("each bad message is dead-lettered with a reason that says what is wrong", arguments: 0..<cases.count)
    func deadLettered(index: Int) async throws {
        let (_, bad, reason) = Self.cases[index]
        let world = TripWorld()
        world.env.broker.bind(queue: "test.bad", exchange: "chronicle.commands", pattern: "#")
        // Bypass routing rules: put it straight on the processor's queue, as any client could.
        var direct = bad
        direct.exchange = ""
        direct.routingKey = world.env.configuration.queue
        try world.env.publish(direct)
        try world.start(TripBookingApp.sampleTrip("good"))
        try await world.env.run()

        let dead = world.env.takeDeadLetters()
        #expect(dead.count == 1)
        #expect(dead.first?.reason.contains(reason) == true, "reason: \(dead.first?.reason ?? "none")")
        // The valid trip alongside it completes.
        #expect(world.outcomes().compactMap(\.type).contains("TripBooked"))
    }

    @Test("an invalid StartTrip that names its trip gets a trip.failed saying why, and no saga")
    func invalidStartAnnounced() async throws {
        let world = TripWorld()
        var trip = TripBookingApp.sampleTrip("bad-nights")
        trip.hotel.nights = 0
        try world.start(trip)
        try await world.env.run()

        let failed = try #require(world.outcomes().first).decode(TripFailed.self)
        #expect(failed.tripId == "bad-nights")
        #expect(failed.reason.contains("hotel.nights 0 is not within 1...365"))
        #expect(try await world.env.store.load("bad-nights") == nil)
        #expect(world.env.takeDeadLetters().count == 1)
        #expect(world.hotel.ledger.isEmpty)
    }

    /// AMQP's correlation_id and message_id hold 255 bytes: a trip id over 200 bytes (here 130 characters of two
    /// bytes each, within the schema's 200 characters) could be stored but none of its messages sent, which held
    /// the processor in a loop of reconnects. A blank id cannot name the trip in a trip.failed either.
    @Test(
        "a StartTrip whose tripId AMQP cannot carry, or that is blank, is dead-lettered and nothing is announced",
        arguments: [String(repeating: "é", count: 130), String(repeating: "x", count: 201), "   ", "\n"])
    func unusableTripID(tripID: String) async throws {
        let world = TripWorld()
        var trip = TripBookingApp.sampleTrip("placeholder")
        trip.tripId = tripID
        try world.start(trip)
        try world.start(TripBookingApp.sampleTrip("good"))
        try await world.env.run()

        let dead = world.env.takeDeadLetters()
        #expect(dead.count == 1)
        let reason = dead.first?.reason ?? ""
        #expect(["blank", "empty", "bytes in UTF-8"].contains { reason.contains($0) }, "reason: \(reason)")
        #expect(world.outcomes().compactMap(\.type) == ["TripBooked"])
        #expect(try await world.env.store.load(InstanceID(tripID)) == nil)
    }
}

@Suite("StartTrip's checks: days that exist, text that is not blank")
struct TripDateTests {
    /// Whether `validate` takes `day` as the check-in (and the flight's date).
    static func accepts(_ day: String) -> Bool {
        let trip = StartTrip(
            tripId: "t", customerId: "c", hotel: .init(city: "Lisbon", checkIn: day, nights: 2),
            flight: .init(from: "LHR", to: "LIS", date: day))
        return (try? trip.validate()) != nil
    }

    @Test("every day of leap and common years, and the days after each month's last, as Foundation's calendar says")
    func calendarDays() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for year in [1900, 2000, 2023, 2024, 2027, 2100, 9999] {
            for month in 0...13 {
                for day in 0...32 {
                    let text = String(format: "%04d-%02d-%02d", year, month, day)
                    let components = DateComponents(year: year, month: month, day: day)
                    // The calendar rolls a day that does not exist over into the next month.
                    let exists =
                        (1...12).contains(month) && day >= 1
                        && calendar.date(from: components).map {
                            calendar.dateComponents([.year, .month, .day], from: $0) == components
                        } == true
                    #expect(Self.accepts(text) == exists, "\(text)")
                }
            }
        }
    }

    @Test(
        "ids and a city that are empty or only blanks, as trimming whitespace tells",
        arguments: ["", " ", "\t", "\u{00A0}", "\u{3000} \u{2003}", "\n", " x ", "\u{200B}", "é"])
    func blankText(text: String) {
        let blank = text.trimmingCharacters(in: .whitespaces).isEmpty
        let trip = StartTrip(
            tripId: text, customerId: text, hotel: .init(city: text, checkIn: "2027-05-01", nights: 2),
            flight: .init(from: "LHR", to: "LIS", date: "2027-05-02"))
        var problems: [String] = []
        do { try trip.validate() } catch let error as InvalidTrip { problems = error.problems } catch {}
        #expect(problems.contains("tripId is empty") == blank, "\(problems)")
        #expect(problems.contains("customerId is empty") == blank, "\(problems)")
        #expect(problems.contains("hotel.city is empty") == blank, "\(problems)")
    }

    @Test(
        "text that is not YYYY-MM-DD",
        arguments: [
            "", "2027-1-01", "2027-01-1", "2027/01/01", "20270101", "2027-01-01T00:00:00Z", " 2027-01-01",
            "2027-01-01 ", "+027-01-01", "2027-0a-01", "２０２７-01-01", "2027—01-01", "-027-01-01",
        ])
    func malformed(text: String) {
        #expect(!Self.accepts(text))
    }
}
