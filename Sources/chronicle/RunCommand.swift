import ArgumentParser
import Chronicle
import ChronicleAMQP
import ChronicleSQLite
import Foundation
import Logging
import ServiceLifecycle
import TripBooking

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the processor: take StartTrips, replies and timers; replay; commit; publish; acknowledge.",
        discussion: """
            Consumes the queue chronicle.orchestrator (bound to trip.start on chronicle.commands and to the \
            services' replies on chronicle.events). For each batch: decode (dead-letter what cannot be used, with \
            the reason), drop duplicates, replay the trips, commit everything in one SQLite transaction, publish \
            with publisher confirms, and only then acknowledge. On start it publishes what an earlier run left \
            in the outbox and re-arms due timers. SIGTERM or SIGINT: stop taking work, finish the batch in \
            hand, close; with the broker out of reach, the batch is given up after about 15 s (unacknowledged, it \
            comes again to the next run).
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var logging: LogOptions

    @Option(parsing: .unconditional, help: "Unacknowledged deliveries at once; also the largest batch.")
    var prefetch = 500

    @Option(
        parsing: .unconditional,
        help: "Running trips kept in memory; the others are rebuilt from the store when a message comes.")
    var cacheSize = 10_000

    @Option(help: "BookTrip's durable pause before booking starts, e.g. 1s or 0s.")
    var bookingDelay = DurationArgument(.seconds(1))

    @Option(help: "full (a commit survives power loss) or normal (only a crash of the process); see README.")
    var synchronous: SynchronousMode = .full

    @Option(
        help: """
            Timers due within this wait in the processor's memory (still durable in the store) instead of the \
            broker's delay queues; 0s sends every timer through the broker.
            """)
    var localTimers = DurationArgument(.seconds(60))

    func validate() throws {
        guard prefetch > 0 else { throw ValidationError("--prefetch must be at least 1 (got \(prefetch)).") }
        guard cacheSize >= 0 else { throw ValidationError("--cache-size must be 0 or more (got \(cacheSize)).") }
    }

    func run() async throws {
        let logger = logging.logger("chronicle.run")
        let processorConfiguration = ProcessorConfiguration.trips(
            prefetch: prefetch, cacheCapacity: cacheSize, localTimerHorizon: localTimers.duration)
        let eventStore = try SQLiteEventStore(
            configuration: .init(path: store.path, synchronous: synchronous == .full ? .full : .normal),
            logger: logging.logger("chronicle.store")
        )
        var transportConfiguration = try AMQPTransport.Configuration(
            url: broker.url, caFile: broker.caFile, topology: .trips(processor: processorConfiguration))
        // One processor per queue: a second one, with a store of its own, would take some of the trips and
        // dead-letter the replies and timers of the others. The broker refuses it instead.
        transportConfiguration.exclusiveQueues = [processorConfiguration.queue]
        let transport = AMQPTransport(configuration: transportConfiguration, logger: logging.logger("chronicle.amqp"))
        var bookTrip = BookTrip()
        bookTrip.initialDelay = bookingDelay.duration
        let processor = Processor(
            registry: TripBookingApp.registry(bookTrip),
            store: eventStore,
            transport: transport,
            configuration: processorConfiguration,
            logger: logger
        )
        logger.info(
            "starting",
            metadata: ["chronicle.store": "\(store.path)", "chronicle.queue": "\(processorConfiguration.queue)"])
        do {
            try await runServices(transport, [ProcessorService(processor: processor)], logger: logger)
        } catch let error as AMQPError where error.code == .consumeFailed && "\(error)".contains("exclusive use") {
            // Trips have one processor, whose store holds their histories.
            throw CommandFailure(
                "another processor consumes '\(processorConfiguration.queue)' on \(transportConfiguration.endpoint). "
                    + "One `chronicle run` serves a virtual host: stop the other one first (its store holds the "
                    + "histories of the trips it started), or pass another --amqp-url.")
        }
        try eventStore.close()
    }
}

/// `--synchronous`: when a commit is on disk.
enum SynchronousMode: String, ExpressibleByArgument, CaseIterable {
    case full, normal
}

extension ProcessorConfiguration {
    /// The trip processor's configuration.
    static func trips(
        prefetch: Int = 500, cacheCapacity: Int = 10_000, localTimerHorizon: Duration = .seconds(60)
    ) -> ProcessorConfiguration {
        var configuration = ProcessorConfiguration()
        configuration.prefetch = prefetch
        configuration.cacheCapacity = cacheCapacity
        configuration.localTimerHorizon = localTimerHorizon
        return configuration
    }
}

extension Topology {
    /// The wire contract's exchanges, plus the queues of whoever runs here: the processor, the services.
    static func trips(processor: ProcessorConfiguration? = nil, services: [FakeTravelService] = []) -> Topology {
        var topology = Topology.chronicle
        if let processor {
            topology.addQueue(processor.queue, boundTo: Topology.commands, routingKeys: TripBookingApp.commandBindings)
            topology.bind(queue: processor.queue, to: Topology.events, routingKeys: TripBookingApp.eventBindings)
        }
        // The services' queues are part of the contract: declared by the processor too, so that a command sent
        // before a service first starts waits for it instead of being unroutable.
        let services =
            services.isEmpty && processor != nil
            ? FakeTravelService.Kind.allCases.map { FakeTravelService($0) } : services
        for service in services {
            topology.addQueue(service.queue, boundTo: Topology.commands, routingKeys: service.commandRoutingKeys)
        }
        return topology
    }
}

/// The processor as a `Service`: a graceful shutdown stops the intake; the batch in hand is finished.
struct ProcessorService: Service {
    let processor: Processor

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await processor.run()
        }
    }
}

/// Runs `transport` and the services that use it in a group that shuts down gracefully on SIGTERM or SIGINT, or
/// when any of them ends; one that waits on a broker that is gone cannot hold the shutdown up (``TransportUser``).
func runServices(_ transport: AMQPTransport, _ users: [any Service], logger: Logger) async throws {
    let services: [any Service] = [transport] + users.map { TransportUser($0, of: transport) }
    let group = ServiceGroup(
        configuration: .init(
            services: services.map {
                .init(
                    service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
    )
    try await group.run()
}
