import Chronicle
import ChronicleTesting
import Foundation
import Testing
import TripBooking

@Suite("A reply to a command never sent is dead-lettered; a repeated reply is only ignored")
struct ForgedReplyTests {
    static func reply(_ commandId: String, trip: String) -> OutgoingMessage {
        OutgoingMessage(
            id: UUID().uuidString,
            exchange: "chronicle.events",
            routingKey: "hotel.reserved",
            type: "HotelReserved",
            correlationID: trip,
            timestamp: Date(),
            body: Data(#"{"commandId":"\#(commandId)","tripId":"\#(trip)","reservationId":"H-forged"}"#.utf8)
        )
    }

    @Test("forged attempt numbers and steps are dead-lettered; the real reply, repeated, is acknowledged")
    func forgedAttempts() async throws {
        let world = TripWorld()
        try world.start(TripBookingApp.sampleTrip("forged"))
        try await world.env.run()
        #expect(world.outcomes().compactMap(\.type) == ["TripBooked"])
        let sent = try #require(world.hotel.ledger.first?.commandId)
        let parts = sent.split(separator: "/")
        let step = try #require(Int(parts[1]))

        let queue = world.env.configuration.queue
        for commandId in ["forged/\(step)/9", "forged/999/1", sent] {
            var message = Self.reply(commandId, trip: "forged")
            message.exchange = ""
            message.routingKey = queue
            try world.env.publish(message)
        }
        try await world.env.run()

        let dead = world.env.takeDeadLetters()
        #expect(dead.count == 2, "\(dead.map(\.reason))")
        #expect(dead.allSatisfy { $0.reason.contains("was sent: a reply to it is forged or misaddressed") })
        #expect(Set(dead.map { $0.reason.split(separator: " ")[2] }) == ["forged/\(step)/9", "forged/999/1"])
        // The real command's reply, repeated, is a duplicate: acknowledged, not dead-lettered; nothing changed.
        #expect(world.hotel.ledger.count == 1)
        #expect(world.outcomes().isEmpty)
    }
}
