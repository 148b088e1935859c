import ArgumentParser
import Chronicle
import ChronicleAMQP
import Foundation
import Logging
import TripBooking

struct StartTripCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start-trip",
        abstract: "Publish a StartTrip and print its trip id; --wait follows it to its outcome.",
        discussion: """
            The trip comes from --file (a StartTrip as JSON, see contracts/schemas/StartTrip.schema.json) or \
            from the flags, whose defaults make a valid trip. It is checked before it is sent. With --wait, \
            exits 0 when the trip is booked and 1 when it failed or compensated, printing the outcome.
            """
    )

    @Option(help: "A JSON file holding the StartTrip; the trip flags are then ignored.")
    var file: String?

    @Option(help: "The trip id. Default: a new UUID.")
    var tripId: String?

    @Option(help: "The customer.")
    var customer = "customer-1"

    @Option(help: "The hotel's city (Atlantis is refused by the fake hotel).")
    var city = "Lisbon"

    @Option(help: "The first night, YYYY-MM-DD.")
    var checkIn = "2027-05-01"

    @Option(parsing: .unconditional, help: "How many nights, 1 to 365.")
    var nights = 3

    @Option(help: "Departure airport, three letters.")
    var from = "LHR"

    @Option(help: "Arrival airport, three letters (XXX is refused by the fake airline).")
    var to = "LIS"

    @Option(help: "The flight's day, YYYY-MM-DD.")
    var date = "2027-05-01"

    @Flag(help: "Wait for trip.booked or trip.failed and exit non-zero if the trip did not book.")
    var wait = false

    @Option(help: "With --wait: how long to wait, e.g. 60s.")
    var timeout = DurationArgument(.seconds(60))

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LogOptions

    func makeTrip() throws -> StartTrip {
        let trip: StartTrip
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CommandFailure("cannot read \(file).")
            }
            do {
                trip = try Payload.decoder.decode(StartTrip.self, from: data)
            } catch let error as DecodingError {
                throw CommandFailure("\(file) is not a StartTrip: \(error.localizedSummary)")
            }
        } else {
            trip = StartTrip(
                tripId: tripId ?? UUID().uuidString.lowercased(),
                customerId: customer,
                hotel: .init(city: city, checkIn: checkIn, nights: nights),
                flight: .init(from: from, to: to, date: date)
            )
        }
        do {
            try trip.validate()
        } catch let invalid as InvalidTrip {
            throw CommandFailure(invalid.problems.joined(separator: "\n"))
        }
        return trip
    }

    func run() async throws {
        let trip = try makeTrip()
        let message = try TripBookingApp.startMessage(trip, at: Date())
        var topology = Topology.chronicle
        // Bound before the start is published, so the outcome cannot pass by unseen.
        let outcomes =
            wait
            ? topology.addExclusiveQueue(prefix: "chronicle.start-trip", bindings: [(Topology.events, "trip.*")]) : nil
        let limit = timeout.duration
        let outcome = try await withTransport(
            broker: broker, topology: topology, logger: logging.logger("chronicle.amqp")
        ) {
            transport -> InboundMessage? in
            var deliveries: AsyncThrowingStream<[InboundMessage], any Error>?
            if let outcomes { deliveries = try await transport.consume(queue: outcomes, prefetch: 100) }
            try await transport.publish([message])
            print(trip.tripId)
            guard let deliveries else { return nil }
            return try await withDeadline(limit) {
                for try await batch in deliveries {
                    try await transport.acknowledge(batch)
                    if let mine = batch.first(where: { $0.correlationID == trip.tripId }) { return mine }
                }
                return nil
            }
        }
        guard wait else { return }
        guard let outcome else {
            print("no outcome for trip \(trip.tripId) within \(timeout); is `chronicle run` running?")
            throw ExitCode(2)
        }
        print("\(outcome.routingKey) \(String(decoding: outcome.body, as: UTF8.self))")
        if outcome.type != TripBooked.messageType { throw ExitCode.failure }
    }
}

/// Runs `body` with a connected transport, then shuts it down.
func withTransport<T: Sendable>(
    broker: BrokerOptions,
    topology: Topology = .chronicle,
    logger: Logger,
    _ body: @Sendable (AMQPTransport) async throws -> T
) async throws -> T {
    let transport = AMQPTransport(
        configuration: try .init(url: broker.url, caFile: broker.caFile, topology: topology), logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await transport.run()
            return nil
        }
        defer { group.cancelAll() }
        let result = try await body(transport)
        transport.shutdown()
        return result
    }
}

/// Runs `body`, giving up with `nil` after `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T?) async throws -> T?
{
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

extension DecodingError {
    /// What did not decode, and where.
    var localizedSummary: String {
        switch self {
        case .keyNotFound(let key, _): "\(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        @unknown default: "\(self)"
        }
    }
}
