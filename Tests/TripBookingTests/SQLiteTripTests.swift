import Chronicle
import ChronicleSQLite
import ChronicleTesting
import Foundation
import Logging
import Testing
import TripBooking

@Suite("BookTrip on the SQLite store, in virtual time")
struct SQLiteTripTests {
    @Test("100 trips at a 30 % failure rate, the processor crashing now and then: all end, the audit is clean")
    func hundredTrips() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "chronicle-trips-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteEventStore(
            path: directory.appending(path: "store.sqlite").path, logger: Logger(label: "test"))
        var behaviour = FakeTravelService.Behaviour()
        behaviour.failureRate = 0.3
        behaviour.seed = 42
        behaviour.jitter = .milliseconds(15)
        let world = TripWorld(hotel: behaviour, flight: behaviour, store: store)
        for index in 1...100 { try world.start(TripBookingApp.sampleTrip("sq-\(index)")) }
        var crashes = 0
        for point in TestEnvironment.CrashPoint.allCases + TestEnvironment.CrashPoint.allCases {
            try await world.env.run(maximumSteps: 25)
            world.env.crash(at: point)
            crashes += 1
        }
        try await world.env.run()

        let audit = try await TripAudit.audit(store: store, hotel: world.hotel.ledger, flight: world.flight.ledger)
        #expect(audit.problems.isEmpty, "\(audit.problems)")
        #expect(audit.counts[.running] == nil)
        #expect(audit.counts.values.reduce(0, +) == 100)
        #expect(audit.counts[.booked, default: 0] > 50)
        #expect(try await store.outboxDepth() == 0)
        #expect(try await store.timers(state: .pending, dueBefore: world.env.clock.now, limit: 10).isEmpty)
        #expect(world.env.takeDeadLetters().isEmpty)
        let outcomes = Set(world.outcomes().compactMap(\.messageID))
        #expect(outcomes.count == 100)
    }
}
