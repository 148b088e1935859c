import ArgumentParser
import Chronicle
import ChronicleTesting
import Foundation
import TripBooking

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Book trips in memory, in virtual time, and show every message and the outcomes.",
        discussion: """
            Runs the real processing loop (decode, replay, commit, publish, acknowledge) on the in-memory \
            store and broker, with fake hotel and flight services that fail at --failure-rate. Time is \
            virtual: the clock jumps to the next timer when nothing else is left to do, so back-off waits and \
            timeouts take no real time. Ends with a table of outcomes and a check of the services' ledgers.
            """
    )

    @Option(help: "How many trips to book.")
    var trips = 10

    @Option(help: "The share of reservation attempts that fail, from 0 to 1.")
    var failureRate = 0.3

    @Option(help: "Seed for the services' failures and latency (the same seed gives the same run).")
    var seed: UInt64 = 1

    @Option(help: "Crash the processor up to this many times during the run, at random points of the loop.")
    var crashes = 0

    @Flag(help: "Print only the outcome table, not every message.")
    var quiet = false

    @Flag(help: "Also print the events each batch committed.")
    var events = false

    func validate() throws {
        guard trips > 0 else { throw ValidationError("--trips must be at least 1 (got \(trips)).") }
        guard (0...1).contains(failureRate) else {
            throw ValidationError("--failure-rate must be between 0 and 1 (got \(failureRate)); 0.3 means 30 %.")
        }
        guard crashes >= 0 else { throw ValidationError("--crashes must be 0 or more.") }
    }

    func run() async throws {
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
        var outcomes: [String: (String, String)] = [:]
        for message in env.broker.take(from: "demo.outcomes") {
            guard let trip = message.correlationID else { continue }
            if message.type == TripBooked.messageType {
                outcomes[trip] = ("booked", "")
            } else if let failed = try? Payload.decoder.decode(TripFailed.self, from: message.body) {
                outcomes[trip] = (failed.compensated ? "compensated" : "failed", failed.reason)
            }
        }
        print("\nTrip      Outcome      Hotel  Flight  Reason")
        var problems: [String] = []
        var counts: [String: Int] = [:]
        for index in 1...trips {
            let trip = String(format: "trip-%03d", index)
            let (outcome, reason) = outcomes[trip] ?? ("(none)", "")
            counts[outcome, default: 0] += 1
            let hotels = Self.held(hotel.ledger, trip)
            let flights = Self.held(flight.ledger, trip)
            let expected = outcome == "booked" ? 1 : 0
            if hotels != expected || flights != expected {
                problems.append("\(trip): \(outcome) but holds \(hotels) room(s) and \(flights) seat(s)")
            }
            if outcomes[trip] == nil { problems.append("\(trip): no outcome was announced") }
            print(
                trip.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + outcome.padding(toLength: 13, withPad: " ", startingAt: 0)
                    + "\(hotels)".padding(toLength: 7, withPad: " ", startingAt: 0)
                    + "\(flights)".padding(toLength: 8, withPad: " ", startingAt: 0)
                    + reason
            )
        }
        for (kind, entries) in [("hotel", hotel.ledger), ("flight", flight.ledger)] {
            let reserved = entries.filter { $0.action == .reserved }
            if Set(reserved.map(\.commandId)).count != reserved.count {
                problems.append("the \(kind) service made a reservation twice for one command")
            }
        }
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let lastOutcome =
            env.broker.log.filter {
                $0.message.routingKey.hasPrefix("trip.") && $0.message.exchange == "chronicle.events"
            }
            .map(\.at).max() ?? narrator.start
        print(
            "\n\(summary); the last trip ended at \(String(format: "%.3f", lastOutcome.timeIntervalSince(narrator.start))) s of virtual time"
        )
        if narrator.crashes > 0 { print("processor crashes survived: \(narrator.crashes)") }
        print("duplicate commands dropped by the services: \(hotel.duplicateCount + flight.duplicateCount)")
        if problems.isEmpty {
            print("verify: OK — every booked trip holds one room and one seat; every other trip holds none")
        } else {
            print("verify: \(problems.count) problem(s)")
            for problem in problems { print("  - \(problem)") }
            throw ExitCode.failure
        }
    }

    static func held(_ ledger: [FakeTravelService.LedgerEntry], _ trip: String) -> Int {
        ledger.filter { $0.tripId == trip }.reduce(0) { $0 + ($1.action == .reserved ? 1 : -1) }
    }
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
