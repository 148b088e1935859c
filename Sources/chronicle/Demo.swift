import ArgumentParser
import Chronicle
import ChronicleTesting
import Foundation
import TripBooking

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Book trips through the processor and the fake services, show the traffic, then the outcomes.",
        discussion: """
            Runs the processor (on a new SQLite store in a temporary folder) and both fake services against \
            the broker, starts --trips trips, prints every message on the exchanges, the delay levels and the \
            dead-letter queue as it passes, then a table of outcomes and the check `chronicle verify` makes. \
            Use a broker (or a vhost) where no other processor runs: `make demo` makes a vhost of its own.

            With --in-memory, the same processing loop runs on the in-memory store and broker instead, in \
            virtual time: timers and back-off waits fire without real waiting, and --crashes can crash the \
            processor at random points of its loop.
            """
    )

    @Option(parsing: .unconditional, help: "How many trips to book.")
    var trips = 10

    @Option(parsing: .unconditional, help: "The share of reservation attempts that fail, from 0 to 1.")
    var failureRate = 0.3

    @Option(help: "Seed for the services' failures and latency (the same seed gives the same run).")
    var seed: UInt64 = 1

    @Option(
        parsing: .unconditional,
        help: "Crash the processor up to this many times during the run, at random points of the loop.")
    var crashes = 0

    @Flag(help: "Print only the outcome table, not every message.")
    var quiet = false

    @Flag(help: "Also print the events each batch committed (--in-memory).")
    var events = false

    @Flag(help: "Run in memory, in virtual time, with no broker.")
    var inMemory = false

    @Option(help: "How long to wait for every trip to end (on the broker).")
    var timeout = DurationArgument(.seconds(120))

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LogOptions

    func validate() throws {
        guard trips > 0 else { throw ValidationError("--trips must be at least 1 (got \(trips)).") }
        guard (0...1).contains(failureRate) else {
            throw ValidationError("--failure-rate must be between 0 and 1 (got \(failureRate)); 0.3 means 30 %.")
        }
        guard crashes >= 0 else { throw ValidationError("--crashes must be 0 or more.") }
        if crashes > 0 && !inMemory {
            throw ValidationError("--crashes works with --in-memory; on the broker, kill `chronicle run` yourself.")
        }
    }

    func run() async throws {
        if inMemory { try await runInMemory() } else { try await runOnBroker() }
    }

    func runInMemory() async throws {
        let narrator = Narrator(color: isatty(STDOUT_FILENO) == 1, showEvents: events, quiet: quiet)
        var behaviour = FakeTravelService.Behaviour()
        behaviour.failureRate = failureRate
        behaviour.seed = seed
        behaviour.latency = .milliseconds(40)
        behaviour.jitter = .milliseconds(30)
        let world = DemoWorld(behaviour: behaviour, observer: narrator.tell)
        narrator.start = world.env.clock.now

        if !quiet {
            print("Booking \(trips) trips; services fail \(Int(failureRate * 100)) % of reservation attempts.")
            print("Virtual time: timers and back-off waits fire without real waiting.\n")
        }
        for index in 1...trips {
            try world.env.publish(
                TripBookingApp.startMessage(
                    TripBookingApp.sampleTrip(String(format: "trip-%03d", index)),
                    messageID: "start-\(index)",
                    at: world.env.clock.now
                )
            )
        }
        var generator = SeededRandomNumberGenerator(seed: seed)
        for _ in 0..<crashes {
            try await world.env.run(maximumSteps: Int.random(in: 1...max(2, trips / 2), using: &generator))
            world.env.crash(at: TestEnvironment.CrashPoint.allCases.randomElement(using: &generator)!)
        }
        try await world.env.run()
        try await world.report(trips: trips, narrator: narrator)
    }
}

/// The demo's processor and services.
struct DemoWorld {
    let env: TestEnvironment
    let hotel: FakeTravelService
    let flight: FakeTravelService

    init(behaviour: FakeTravelService.Behaviour, observer: @escaping @Sendable (TestEnvironment.Step) -> Void) {
        env = TestEnvironment(registry: TripBookingApp.registry(), observer: observer)
        env.bindProcessor(exchange: "chronicle.commands", routingKeys: TripBookingApp.commandBindings)
        env.bindProcessor(exchange: "chronicle.events", routingKeys: TripBookingApp.eventBindings)
        env.broker.bind(queue: "demo.outcomes", exchange: "chronicle.events", pattern: "trip.*")
        var flightBehaviour = behaviour
        flightBehaviour.seed = behaviour.seed &+ 1
        hotel = FakeTravelService(.hotel, behaviour: behaviour)
        flight = FakeTravelService(.flight, behaviour: flightBehaviour)
        for service in [hotel, flight] {
            env.addService(service.kind.rawValue, queue: service.queue, routingKeys: service.commandRoutingKeys) {
                command, now in service.handle(command, now: now).map { [$0] } ?? []
            }
        }
    }

    func report(trips: Int, narrator: Narrator) async throws {
        let audit = try await printOutcomes(
            store: env.store,
            hotel: hotel.ledger,
            flight: flight.ledger,
            outcomes: env.broker.take(from: "demo.outcomes")
        )
        let lastOutcome =
            env.broker.log.filter {
                $0.message.exchange == "chronicle.events" && $0.message.routingKey.hasPrefix("trip.")
            }
            .map(\.at).max() ?? narrator.start
        print(
            "\nthe last trip ended at \(String(format: "%.3f", lastOutcome.timeIntervalSince(narrator.start))) s of virtual time"
        )
        if narrator.crashes > 0 { print("processor crashes survived: \(narrator.crashes)") }
        print("duplicate commands dropped by the services: \(hotel.duplicateCount + flight.duplicateCount)")
        print(audit.summary)
        for problem in audit.problems { print("  - \(problem)") }
        let started = try await env.store.instances(status: nil, limit: .max).count
        if started != trips { print("  - \(trips - started) trip(s) never started") }
        if !audit.problems.isEmpty || started != trips || audit.counts[.running, default: 0] > 0 {
            throw ExitCode.failure
        }
    }

}

/// Prints a table of every trip in `store`: outcome, reservations held, and why it failed; returns the audit.
func printOutcomes(
    store: any EventStore,
    hotel: [FakeTravelService.LedgerEntry],
    flight: [FakeTravelService.LedgerEntry],
    outcomes: [InboundMessage]
) async throws -> TripAudit {
    var reasons: [String: String] = [:]
    for message in outcomes where message.type == TripFailed.messageType {
        if let failed = try? Payload.decoder.decode(TripFailed.self, from: message.body) {
            reasons[failed.tripId] = failed.reason
        }
    }
    func held(_ ledger: [FakeTravelService.LedgerEntry], _ trip: String) -> Int {
        ledger.filter { $0.tripId == trip }.reduce(0) { $0 + ($1.action == .reserved ? 1 : -1) }
    }
    let records = try await store.instances(status: nil, limit: .max).sorted { $0.id < $1.id }
    let width = (records.map(\.id.rawValue.count).max() ?? 4) + 2
    print("\n" + column("TRIP", width) + column("OUTCOME", 13) + column("HOTEL", 7) + column("FLIGHT", 8) + "REASON")
    for record in records {
        let events = try await store.load(record.id)?.events ?? []
        let trip = record.id.rawValue
        print(
            column(trip, width) + column(TripAudit.outcome(of: events).rawValue, 13)
                + column("\(held(hotel, trip))", 7) + column("\(held(flight, trip))", 8) + (reasons[trip] ?? "")
        )
    }
    return try await TripAudit.audit(store: store, hotel: hotel, flight: flight)
}

/// Prints the demo's steps as they happen: one line a message.
final class Narrator: @unchecked Sendable {
    // @unchecked: only the demo's single task uses it.
    let color: Bool
    let showEvents: Bool
    let quiet: Bool
    var start = Date()
    var crashes = 0

    init(color: Bool, showEvents: Bool, quiet: Bool) {
        self.color = color
        self.showEvents = showEvents
        self.quiet = quiet
    }

    func tell(_ step: TestEnvironment.Step) {
        if case .crashed = step { crashes += 1 }
        guard !quiet else { return }
        switch step {
        case .published(let message, let at):
            let delayed = message.deliverAt.map { $0 > at } ?? false
            let route = message.exchange.isEmpty ? "(delay)" : message.exchange
            var line = "\(time(at))  \(paint(route.padding(toLength: 19, withPad: " ", startingAt: 0), route))"
            line +=
                "  \((message.exchange.isEmpty ? message.headers[TimerMessage.timerHeader] ?? "" : message.routingKey).padding(toLength: 26, withPad: " ", startingAt: 0))"
            line +=
                "  \(message.type.padding(toLength: 24, withPad: " ", startingAt: 0))  \(message.correlationID ?? "")"
            if delayed, let due = message.deliverAt {
                line += "  → at \(time(due).trimmingCharacters(in: .whitespaces))"
            }
            print(line)
        case .committed(let instance, let events):
            guard showEvents else { return }
            print("          \(instance): " + events.map(\.kind.name).joined(separator: ", "))
        case .deadLettered(let message, let reason):
            print("\(paint("dead-letter", "dead"))  \(message.type ?? "?"): \(reason)")
        case .crashed(let point, let at):
            print("\(time(at))  \(paint("*** processor crashed (\(point)); restarting from the store ***", "dead"))")
        case .ignored, .serviceHandled, .clockAdvanced:
            break
        }
    }

    private func time(_ date: Date) -> String {
        String(format: "%+8.3fs", date.timeIntervalSince(start))
    }

    private func paint(_ text: String, _ kind: String) -> String {
        guard color else { return text }
        let code =
            switch kind {
            case "chronicle.commands": "36"
            case "chronicle.events": "32"
            case "dead": "31"
            default: "33"
            }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }
}
