import ChronicleTesting
import Foundation
import Logging
import Synchronization
import Testing
import TripBooking

@testable import Chronicle

/// The trip processor running `bookTrip` over `store` and `transport`, logging nothing.
func tripProcessor(
    _ bookTrip: BookTrip, store: any EventStore, transport: any Transport, configuration: ProcessorConfiguration
) -> Processor {
    Processor(
        registry: TripBookingApp.registry(bookTrip), store: store, transport: transport, configuration: configuration,
        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
}

@Suite("Processor.run over InMemoryTransport, in real time")
struct ProcessorLoopTests {
    @Test("trips started on the transport are booked by the running processor and services", .timeLimit(.minutes(1)))
    func runLoop() async throws {
        let broker = InMemoryBroker()
        let configuration = ProcessorConfiguration()
        for key in TripBookingApp.commandBindings {
            broker.bind(queue: configuration.queue, exchange: configuration.commandsExchange, pattern: key)
        }
        for key in TripBookingApp.eventBindings {
            broker.bind(queue: configuration.queue, exchange: configuration.eventsExchange, pattern: key)
        }
        broker.bind(queue: "outcomes", exchange: configuration.eventsExchange, pattern: "trip.*")
        var flightBehaviour = FakeTravelService.Behaviour()
        flightBehaviour.failFirstAttempts = 1
        let hotel = FakeTravelService(.hotel)
        let flight = FakeTravelService(.flight, behaviour: flightBehaviour)
        for service in [hotel, flight] {
            for key in service.commandRoutingKeys {
                broker.bind(queue: service.queue, exchange: configuration.commandsExchange, pattern: key)
            }
        }
        let transport = InMemoryTransport(broker: broker)
        var bookTrip = BookTrip()
        bookTrip.initialDelay = .milliseconds(20)
        bookTrip.retry.initialInterval = .milliseconds(10)
        let store = InMemoryEventStore()
        let processor = tripProcessor(bookTrip, store: store, transport: transport, configuration: configuration)

        let trips = (1...20).map { TripBookingApp.sampleTrip("live-\($0)") }
        let outcomes = try await withThrowingTaskGroup(of: [String]?.self) { group in
            group.addTask {
                try await processor.run()
                return nil
            }
            for service in [hotel, flight] {
                group.addTask {
                    try await service.serve(over: transport)
                    return nil
                }
            }
            group.addTask {
                try await transport.publish(trips.map { try TripBookingApp.startMessage($0, at: Date()) })
                var seen: [String] = []
                while seen.count < trips.count {
                    seen += broker.take(from: "outcomes").compactMap(\.type)
                    try await Task.sleep(for: .milliseconds(5))
                }
                // With nothing more to commit, the processor deletes the rows of what it published on its own.
                for _ in 0..<200 where try await store.outboxDepth() > 0 {
                    try await Task.sleep(for: .milliseconds(5))
                }
                return seen
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return []
        }
        #expect(outcomes == Array(repeating: "TripBooked", count: trips.count))
        #expect(try await store.outboxDepth() == 0)
        #expect(hotel.ledger.count == trips.count)
        #expect(flight.ledger.count == trips.count)
    }
}

@Suite("Processor.run when the transport fails a send")
struct ProcessorSendFailureTests {
    @Test(
        "an acknowledgement the transport refuses ends run() with its error at once, though nothing else comes",
        .timeLimit(.minutes(1)))
    func refusedAcknowledgementEndsRun() async throws {
        let broker = InMemoryBroker()
        let configuration = ProcessorConfiguration()
        broker.bind(queue: configuration.queue, exchange: configuration.commandsExchange, pattern: "trip.start")
        broker.bind(queue: "hotel", exchange: configuration.commandsExchange, pattern: "hotel.*")
        let transport = FaultyTransport(InMemoryTransport(broker: broker), .refuseAcknowledge)
        var bookTrip = BookTrip()
        bookTrip.initialDelay = .zero
        let processor = tripProcessor(
            bookTrip, store: InMemoryEventStore(), transport: transport, configuration: configuration)
        let running = Task { try await processor.run() }
        let ended = try await ending(of: running) {
            try await transport.inner.publish([
                try TripBookingApp.startMessage(TripBookingApp.sampleTrip("trip-r"), at: Date())
            ])
        }
        #expect(ended == "threw Refused")
        // The batch was committed and its command published before the acknowledgement failed.
        #expect(broker.take(from: "hotel").map(\.type) == [ReserveHotel.name])
    }
}

/// Starts published on ``transport`` reach the trip processor, which holds timers due within a minute in memory.
struct HeldTimerSetup {
    let broker = InMemoryBroker()
    let transport: InMemoryTransport
    let store = InMemoryEventStore()
    var configuration = ProcessorConfiguration()

    init() {
        configuration.localTimerHorizon = .seconds(60)
        broker.bind(queue: configuration.queue, exchange: configuration.commandsExchange, pattern: "trip.start")
        transport = InMemoryTransport(broker: broker)
    }

    func processor(_ bookTrip: BookTrip) -> Processor {
        tripProcessor(bookTrip, store: store, transport: transport, configuration: configuration)
    }

    func start(_ trip: String) async throws {
        try await transport.publish([try TripBookingApp.startMessage(TripBookingApp.sampleTrip(trip), at: Date())])
    }

    /// The kinds of `trip`'s events so far.
    func kinds(_ trip: String) async throws -> [String] {
        try await store.load(InstanceID(trip))?.events.map(\.kind.name) ?? []
    }
}

@Suite("Timers held in the processor's memory")
struct HeldTimerTests {
    @Test(
        "a timer held in memory survives a restart with a smaller horizon: its wake-up waited in the outbox",
        .timeLimit(.minutes(1)))
    func survivesRestart() async throws {
        var setup = HeldTimerSetup()
        var bookTrip = BookTrip()
        bookTrip.initialDelay = .seconds(1)

        let held = setup.processor(bookTrip)
        let first = Task { try await held.run() }
        try await setup.start("held")
        for _ in 0..<100 where try await !setup.kinds("held").contains("timerScheduled") {
            try await Task.sleep(for: .milliseconds(10))
        }
        first.cancel()
        _ = try? await first.value
        // Held in memory, so in no queue; its wake-up is still in the outbox.
        #expect(setup.broker.heldCount == 0)
        #expect(try await setup.store.pendingOutbox(limit: 10).map(\.type) == [TimerMessage.type])

        setup.configuration.localTimerHorizon = .zero
        let restarted = setup.processor(bookTrip)
        let second = Task { try await restarted.run() }
        defer { second.cancel() }
        for _ in 0..<300 where try await !setup.kinds("held").contains("timerFired") {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await setup.kinds("held").contains("timerFired"))
        #expect(try await setup.kinds("held").contains("callScheduled"))
    }

    @Test(
        "an idle processor's housekeeping rests, and a timer held meanwhile still fires from memory",
        .timeLimit(.minutes(1)))
    func idleHousekeepingRests() async throws {
        let setup = HeldTimerSetup()
        var bookTrip = BookTrip()
        bookTrip.initialDelay = .milliseconds(300)

        let processor = setup.processor(bookTrip)
        let running = Task { try await processor.run() }
        defer { running.cancel() }
        // Idle: with rounds every 10 ms there would be some 110 by now; resting, three (two, then one a second).
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(processor.housekeepingRounds.load(ordering: .relaxed) <= 5)

        // Published just after a round, the booking delay is held in memory while housekeeping rests: the commit
        // that holds it rings the bell, so it fires when due, not at the next round some 600 ms later.
        let published = ContinuousClock.now
        try await setup.start("idle")
        for _ in 0..<600 where try await !setup.kinds("idle").contains("timerFired") {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try await setup.kinds("idle").contains("timerFired"))
        let late = ContinuousClock.now - published - .milliseconds(300)
        #expect(late < .milliseconds(450), "the held timer fired \(late) late")
        #expect(setup.broker.heldCount == 0, "the timer went through the broker's delays, not the processor's memory")
    }
}

/// A store whose commits fail while `full` is set, as on a full disk.
final class FillableStore: EventStore, Sendable {
    let inner = InMemoryEventStore()
    let full = Mutex(false)

    func commit(_ batch: CommitBatch) async throws {
        if full.withLock({ $0 }) { throw EventStoreError(.storageFull, "the disk is full (test)") }
        try await inner.commit(batch)
    }
    func load(_ id: InstanceID) async throws -> StoredInstance? { try await inner.load(id) }
    func appliedMessageIDs(among ids: [String]) async throws -> Set<String> {
        try await inner.appliedMessageIDs(among: ids)
    }
    func pendingOutbox(limit: Int) async throws -> [OutgoingMessage] { try await inner.pendingOutbox(limit: limit) }
    func removeFromOutbox(_ ids: [String]) async throws { try await inner.removeFromOutbox(ids) }
    func outboxDepth() async throws -> Int { try await inner.outboxDepth() }
    func instances(status: InstanceStatus?, limit: Int) async throws -> [InstanceRecord] {
        try await inner.instances(status: status, limit: limit)
    }
    func timers(state: TimerState, dueBefore: Date?, limit: Int) async throws -> [TimerRecord] {
        try await inner.timers(state: state, dueBefore: dueBefore, limit: limit)
    }
    func purge(finishedBefore date: Date) async throws -> Int { try await inner.purge(finishedBefore: date) }
}

@Suite("The processor when the store cannot commit")
struct FullStoreTests {
    @Test(
        "a full disk holds the batch unacknowledged; when space returns the trip goes on; a shutdown does not wait for it",
        .timeLimit(.minutes(1)))
    func fullDisk() async throws {
        let broker = InMemoryBroker()
        let configuration = ProcessorConfiguration()
        broker.bind(queue: configuration.queue, exchange: configuration.commandsExchange, pattern: "trip.start")
        broker.bind(queue: "outcomes", exchange: configuration.eventsExchange, pattern: "trip.*")
        let transport = InMemoryTransport(broker: broker)
        let store = FillableStore()
        store.full.withLock { $0 = true }
        var bookTrip = BookTrip()
        bookTrip.initialDelay = .milliseconds(10)
        let processor = tripProcessor(bookTrip, store: store, transport: transport, configuration: configuration)
        let running = Task { try await processor.run() }
        try await transport.publish([try TripBookingApp.startMessage(TripBookingApp.sampleTrip("full"), at: Date())])
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await store.load("full") == nil)
        #expect(broker.depth(of: configuration.queue) == 0)  // taken, but not acknowledged

        // Space returns: the held batch commits and the trip goes on (no services here: it waits on the hotel).
        store.full.withLock { $0 = false }
        for _ in 0..<100 where try await store.load("full")?.events.count ?? 0 < 5 {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await store.load("full")?.events.map(\.kind.name).contains("callScheduled") == true)

        // Full again, with a new start held: cancelling run() returns without waiting for the disk.
        store.full.withLock { $0 = true }
        try await transport.publish([try TripBookingApp.startMessage(TripBookingApp.sampleTrip("held"), at: Date())])
        try await Task.sleep(for: .milliseconds(300))
        let cancelled = ContinuousClock.now
        running.cancel()
        _ = try? await running.value
        #expect(ContinuousClock.now - cancelled < .seconds(5))
        #expect(try await store.load("held") == nil)
    }
}
