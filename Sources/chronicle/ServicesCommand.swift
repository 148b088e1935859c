import ArgumentParser
import Chronicle
import ChronicleAMQP
import Foundation
import Logging
import ServiceLifecycle
import TripBooking

struct ServicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services",
        abstract: "Run the fake hotel and flight services: take their commands, reply with events.",
        discussion: """
            Each service consumes its queue (chronicle.hotel: hotel.reserve and hotel.cancel; chronicle.flight: \
            flight.*), decides, writes the decision to its journal (its own SQLite file in --ledger-dir), \
            publishes the reply and only then acknowledges the command. A command whose message id (its \
            idempotency key) was seen before gets the same reply and makes no second effect. Reservations to \
            the city Atlantis and flights to XXX are refused at once (non-retryable).
            """
    )

    enum Only: String, ExpressibleByArgument, CaseIterable {
        case hotel, flight
    }

    @Option(help: "Run only this service: hotel or flight. Default: both.")
    var only: Only?

    @Option(parsing: .unconditional, help: "The share of reservation attempts that fail, from 0 to 1.")
    var failureRate = 0.0

    @Option(help: "How long each reply takes, e.g. 20ms or 1.5s.")
    var latency = DurationArgument(.milliseconds(20))

    @Option(help: "How much the latency varies either way, e.g. 10ms.")
    var jitter = DurationArgument(.zero)

    @Option(
        help: ArgumentHelp(
            "Stop answering for a while: START+LENGTH after start-up, e.g. 10s+30s.",
            discussion: "Commands wait in the queue meanwhile and are answered afterwards; attempts time out."
        )
    )
    var outage: Outage?

    @Option(help: "Seed for failures and latency: the same seed gives the same answers.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Unacknowledged commands each service takes at once.")
    var prefetch = 100

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var ledgers: LedgerOptions
    @OptionGroup var logging: LogOptions

    func validate() throws {
        guard (0...1).contains(failureRate) else {
            throw ValidationError("--failure-rate must be between 0 and 1 (got \(failureRate)); 0.3 means 30 %.")
        }
        guard prefetch > 0 else { throw ValidationError("--prefetch must be at least 1.") }
    }

    func run() async throws {
        let logger = logging.logger("chronicle.services")
        var behaviour = FakeTravelService.Behaviour()
        behaviour.failureRate = failureRate
        behaviour.latency = latency.duration
        behaviour.jitter = jitter.duration
        behaviour.seed = seed
        let kinds: [FakeTravelService.Kind] = only.map { [$0 == .hotel ? .hotel : .flight] } ?? [.hotel, .flight]
        var services: [(FakeTravelService, ServiceJournalFile)] = []
        for kind in kinds {
            let journal = try ServiceJournalFile(path: ledgers.path(for: kind.rawValue))
            var kindBehaviour = behaviour
            kindBehaviour.seed = behaviour.seed &+ (kind == .flight ? 1 : 0)
            services.append((FakeTravelService(kind, behaviour: kindBehaviour, journal: try journal.load()), journal))
        }
        let transport = AMQPTransport(
            configuration: try .init(
                url: broker.url, caFile: broker.caFile, topology: .trips(services: services.map(\.0))),
            logger: logging.logger("chronicle.amqp")
        )
        logger.info("serving", metadata: ["chronicle.services": "\(kinds.map(\.rawValue).joined(separator: ","))"])
        // One processing thread for all the services: at 900 trips/s the services spent 0.264-0.272 ms of CPU per
        // trip on one, 0.279-0.288 with a thread each (`chronicle bench --rate 900`, four pairs alternated).
        try await ProcessingThread.shared(named: "chronicle-svcs") { thread in
            let runners = services.map { service, journal in
                ServiceRunner(
                    service: service, journal: journal, transport: transport, thread: thread, prefetch: prefetch,
                    outage: outage, logger: logger)
            }
            try await runServices(transport, runners, logger: logger)
        }
    }
}

/// `--outage 10s+30s`: silent from 10 s after start-up, for 30 s.
struct Outage: ExpressibleByArgument, Sendable {
    var start: Duration
    var length: Duration

    init?(argument: String) {
        let parts = argument.split(separator: "+")
        guard parts.count == 2, let start = DurationArgument(argument: String(parts[0])),
            let length = DurationArgument(argument: String(parts[1]))
        else { return nil }
        self.start = start.duration
        self.length = length.duration
    }
}

/// One fake service, served over the transport as a `Service`.
final class ServiceRunner: Service, Sendable {
    let service: FakeTravelService
    let journal: ServiceJournalFile
    let thread: ProcessingThread
    let prefetch: Int
    let outage: Outage?
    let logger: Logger
    let transport: any Transport

    init(
        service: FakeTravelService,
        journal: ServiceJournalFile,
        transport: any Transport,
        thread: ProcessingThread,
        prefetch: Int,
        outage: Outage?,
        logger: Logger
    ) {
        self.service = service
        self.journal = journal
        self.thread = thread
        self.transport = transport
        self.prefetch = prefetch
        self.outage = outage
        self.logger = logger
    }

    func run() async throws {
        let transport = self.transport
        let started = ContinuousClock.now
        let outage = self.outage
        let logger = self.logger
        let kind = service.kind.rawValue
        try await cancelWhenGracefulShutdown {
            try await self.service.serve(
                over: transport, journal: self.journal, prefetch: self.prefetch, on: self.thread
            ) {
                guard let outage else { return }
                let now = ContinuousClock.now
                let begins = started + outage.start
                let ends = begins + outage.length
                if now >= begins && now < ends {
                    logger.notice(
                        "outage: not answering",
                        metadata: ["chronicle.service": "\(kind)", "chronicle.until": "\(ends - now)"])
                    try await Task.sleep(until: ends)
                    logger.notice("outage over", metadata: ["chronicle.service": "\(kind)"])
                }
            }
        }
    }
}
