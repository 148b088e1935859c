import Chronicle
import ChronicleTesting
import Foundation
import Logging
import TripBooking

/// One fuzz input through the trip processor, the way `chronicle run` handles a batch: ``Processor/handle(_:)``
/// (decode, drop duplicates, replay, commit, publish, dead-letter, acknowledge) with BookTrip's registry and the
/// default configuration (the 1 MiB body limit among it), on an in-memory store holding the ``SeededTrips``.
///
/// A finding is a crash, a trap, a failed precondition, a hang (libFuzzer's `-timeout`), or one of the
/// guarantees below broken, which stops the process with `fatalError` so that libFuzzer keeps the input:
/// - ``Processor/handle(_:)`` does not throw: the in-memory store and the transport never fail, so a throw is a
///   batch the processor could not settle;
/// - every delivery is settled exactly once, acknowledged or dead-lettered, and a dead letter has a reason;
/// - nothing committed is left in the outbox.
///
/// A dead-lettered message is the normal outcome for most inputs, not a finding.
final class FuzzHarness: Sendable {
    /// The harness libFuzzer's callback uses: quiet, seeded at first use.
    static let shared: FuzzHarness = {
        do {
            return try FuzzHarness(logger: Logger(label: "chronicle.fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        } catch {
            fatalError("chronicle-fuzz: seeding the trips failed: \(error)")
        }
    }()

    /// What one input did, for the replayer.
    struct Report: Sendable, CustomStringConvertible {
        var message: InboundMessage
        var deliveries: Int
        var acknowledged: Int
        var deadLetterReasons: [String]
        var committedEvents: [String]
        var publishedTypes: [String]

        var description: String {
            var parts = [
                "type \(message.type.map { "\"\($0)\"" } ?? "none")",
                "correlation \(message.correlationID.map { "\"\($0)\"" } ?? "none")",
                "\(message.body.count)-byte body", "\(deliveries) deliveries", "\(acknowledged) acknowledged",
            ]
            parts += deadLetterReasons.map { "dead-lettered: \($0)" }
            if !committedEvents.isEmpty { parts.append("committed \(committedEvents.joined(separator: ", "))") }
            if !publishedTypes.isEmpty { parts.append("published \(publishedTypes.joined(separator: ", "))") }
            return parts.joined(separator: "; ")
        }
    }

    private let registry: OrchestrationRegistry
    private let configuration = ProcessorConfiguration()
    private let seeded: SeededTrips
    private let logger: Logger

    /// The timer ids byte 3 of an input picks from (value 2 is the first).
    var timers: [String] { seeded.timers }

    /// Makes the seeded trips (blocking: call it from synchronous code).
    init(logger: Logger) throws {
        // As `chronicle run` with its default `--booking-delay 1s`.
        let registry = TripBookingApp.registry(BookTrip())
        self.registry = registry
        self.logger = logger
        self.seeded = try runBlocking { try await SeededTrips.make(registry: registry, logger: logger) }
    }

    /// Processes `bytes` as one delivery (and its copies, if the input asks for them), from the seeded state.
    /// Stops the process on a finding.
    @discardableResult
    func run(_ bytes: Data) -> Report {
        let input = FuzzInput(bytes, timers: seeded.timers)
        do {
            return try runBlocking { [self] in try await process(input) }
        } catch {
            fatalError("chronicle-fuzz: the processor threw for a batch it should have settled: \(error)")
        }
    }

    private func process(_ input: FuzzInput) async throws -> Report {
        let store = InMemoryEventStore()
        try await seeded.restore(into: store)
        let transport = SettlingTransport()
        let now = seeded.now
        let processor = Processor(
            registry: registry, store: store, transport: transport, configuration: configuration,
            clock: { now }, logger: logger)

        // An instance left in the processor's cache holds its suspended code, which only unloading releases: the
        // processor is dropped after this input, so without this every input would leak its instance.
        defer { processor.batches.unloadAll() }

        let batches = input.batches
        var committed: [String] = []
        for batch in batches {
            let outcome = try await processor.handle(batch)
            committed += outcome.committed.flatMap { instance, events in
                events.map { "\(instance)/\($0.kind.name)" }
            }
        }

        let record = transport.current
        let delivered = batches.flatMap { $0.map(\.deliveryTag) }.sorted()
        let settled = (record.acknowledged + record.deadLettered.map(\.tag)).sorted()
        if settled != delivered {
            fatalError(
                "chronicle-fuzz: deliveries \(delivered) were settled as \(settled) "
                    + "(acknowledged \(record.acknowledged), dead-lettered \(record.deadLettered.map(\.tag)))")
        }
        if let empty = record.deadLettered.first(where: { $0.reason.isEmpty }) {
            fatalError("chronicle-fuzz: delivery \(empty.tag) was dead-lettered without a reason")
        }
        let left = try await store.outboxDepth()
        if left != 0 { fatalError("chronicle-fuzz: \(left) committed messages were left in the outbox") }

        return Report(
            message: input.message,
            deliveries: delivered.count,
            acknowledged: record.acknowledged.count,
            deadLetterReasons: record.deadLettered.map(\.reason),
            committedEvents: committed,
            publishedTypes: record.published.map(\.type)
        )
    }
}
