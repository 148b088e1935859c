import Chronicle
import Foundation
import Testing
import TripBooking

@Suite("The audit behind chronicle verify")
struct TripAuditTests {
    static func entry(
        _ trip: String, _ reservation: String, _ action: FakeTravelService.LedgerEntry.Action, _ command: String
    ) -> FakeTravelService.LedgerEntry {
        FakeTravelService.LedgerEntry(
            tripId: trip, reservationId: reservation, action: action, commandId: command, at: Date())
    }

    @Test("consistent ledgers pass")
    func clean() {
        let audit = TripAudit(
            instances: [("a", .completed, .booked), ("b", .completed, .compensated), ("c", .running, .running)],
            hotel: [
                Self.entry("a", "H1", .reserved, "a/4/1"), Self.entry("b", "H2", .reserved, "b/4/1"),
                Self.entry("b", "H2", .cancelled, "b/8/1"),
            ],
            flight: [Self.entry("a", "F1", .reserved, "a/5/1")]
        )
        #expect(audit.problems.isEmpty)
        #expect(audit.summary.hasPrefix("verify: OK — 1 booked, 1 compensated, 1 running"))
    }

    @Test("every kind of discrepancy is listed")
    func discrepancies() {
        let audit = TripAudit(
            instances: [("a", .completed, .booked), ("b", .completed, .compensated), ("d", .failed, .failed)],
            hotel: [
                Self.entry("a", "H1", .reserved, "a/4/1"), Self.entry("a", "H1b", .reserved, "a/4/1"),
                Self.entry("b", "H2", .reserved, "b/4/1"), Self.entry("ghost", "H9", .reserved, "ghost/4/1"),
            ],
            flight: []
        )
        #expect(audit.problems.contains("hotel: command a/4/1 took effect 2 times"))
        #expect(audit.problems.contains("hotel: reservations for trip ghost, which the store does not know"))
        #expect(audit.problems.contains("trip a is booked but holds 2 hotel reservation(s) of 2 made"))
        #expect(audit.problems.contains("trip a is booked but holds 0 flight reservation(s) of 0 made"))
        #expect(audit.problems.contains("trip b is compensated but still holds 1 hotel and 0 flight reservation(s)"))
        #expect(audit.problems.count == 5)
        #expect(audit.summary.hasPrefix("verify: 5 discrepancies"))
    }
}
