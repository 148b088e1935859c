import ArgumentParser
import Chronicle
import ChronicleAMQP
import ChronicleSQLite
import Foundation
import Logging
import Synchronization
import TripBooking

extension Demo {
    /// The demo against the broker: processor, services and a tap in this process, each with its own
    /// connection, exactly as `chronicle run`, `chronicle services` and `chronicle watch` would run them.
    func runOnBroker() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(
            path: "chronicle-demo-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let logger = logging.logger("chronicle.demo", default: .warning)
        let store = try SQLiteEventStore(path: folder.appending(path: "chronicle.sqlite").path, logger: logger)
        var behaviour = FakeTravelService.Behaviour()
        behaviour.failureRate = failureRate
        behaviour.seed = seed
        behaviour.latency = .milliseconds(40)
        behaviour.jitter = .milliseconds(30)
        var flightBehaviour = behaviour
        flightBehaviour.seed = seed &+ 1
        let hotel = FakeTravelService(.hotel, behaviour: behaviour)
        let flight = FakeTravelService(.flight, behaviour: flightBehaviour)

        let processorConfiguration = ProcessorConfiguration.trips()
        let amqpLogger = logging.logger("chronicle.amqp", default: .warning)
        func transport(_ topology: Topology) throws -> AMQPTransport {
            AMQPTransport(
                configuration: try .init(url: broker.url, caFile: broker.caFile, topology: topology), logger: amqpLogger
            )
        }
        let processorTransport = try transport(.trips(processor: processorConfiguration))
        let servicesTransport = try transport(.trips(services: [hotel, flight]))
        var tapTopology = Topology.chronicle
        let tap = tapTopology.addExclusiveQueue(
            prefix: "chronicle.demo.tap", bindings: Topology.tapBindings(tapTopology.delays))
        let tapTransport = try transport(tapTopology)
        let processor = Processor(
            registry: TripBookingApp.registry(),
            store: store,
            transport: processorTransport,
            configuration: processorConfiguration,
            logger: logger
        )
        let run = "demo-\(UUID().uuidString.prefix(6).lowercased())"
        let tripIDs = (1...trips).map { String(format: "\(run)-%03d", $0) }
        let color = isatty(STDOUT_FILENO) == 1
        let quiet = self.quiet
        let outcomes = MessageLog()
        if !quiet {
            print(
                "Booking \(trips) trips through RabbitMQ; the services fail \(Int(failureRate * 100)) % of reservation attempts.\n"
            )
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for connection in [processorTransport, servicesTransport, tapTransport] {
                group.addTask { try await connection.run() }
            }
            group.addTask { try await processor.run() }
            for service in [hotel, flight] {
                group.addTask { try await service.serve(over: servicesTransport) }
            }
            group.addTask {
                for try await batch in try await tapTransport.consume(queue: tap, prefetch: 1_000) {
                    try await tapTransport.acknowledge(batch)
                    let mine = batch.filter { $0.correlationID?.hasPrefix(run) == true }
                    outcomes.append(mine.filter { $0.routingKey.hasPrefix("trip.") })
                    if !quiet { for message in mine { print(TrafficLine.text(message, color: color)) } }
                }
            }
            try await Task.sleep(for: .milliseconds(300))  // let every consumer start
            try await processorTransport.publish(
                tripIDs.map { try TripBookingApp.startMessage(TripBookingApp.sampleTrip($0), at: Date()) })

            let deadline = ContinuousClock.now + timeout.duration
            while ContinuousClock.now < deadline {
                let running = try await store.instances(status: .running, limit: 1).count
                let started = try await store.instances(status: nil, limit: trips).count
                if started == trips && running == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(300))  // the last outcomes reach the tap
            for connection in [processorTransport, servicesTransport, tapTransport] { connection.shutdown() }
            group.cancelAll()
        }

        let audit = try await printOutcomes(
            store: store,
            hotel: hotel.ledger,
            flight: flight.ledger,
            outcomes: outcomes.messages
        )
        print("\nduplicate commands dropped by the services: \(hotel.duplicateCount + flight.duplicateCount)")
        print(audit.summary)
        for problem in audit.problems { print("  - \(problem)") }
        let ended = audit.counts.filter { $0.key != .running }.values.reduce(0, +)
        if ended != trips { print("  - \(trips - ended) trip(s) did not end within \(timeout)") }
        try store.close()
        if !audit.problems.isEmpty || ended != trips { throw ExitCode.failure }
    }
}

/// Messages collected by one task, read by another.
final class MessageLog: Sendable {
    private let storage = Mutex<[InboundMessage]>([])
    func append(_ messages: [InboundMessage]) { storage.withLock { $0 += messages } }
    var messages: [InboundMessage] { storage.withLock { $0 } }
}
