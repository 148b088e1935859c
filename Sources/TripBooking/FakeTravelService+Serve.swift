import Chronicle
import Foundation

extension FakeTravelService {
    /// Serves commands from ``queue`` over `transport` until cancelled. For each batch: decide, write the
    /// decisions to `journal` (if any), publish the replies (each when the service's latency has passed), and
    /// only then acknowledge the commands; so a crash answers them again, with the same replies and no second
    /// effect.
    ///
    /// The loop runs on a ``ProcessingThread`` of its own, and so does its journal's writing.
    ///
    /// - Parameter beforeBatch: awaited before each batch is handled (an outage can wait there).
    public func serve(
        over transport: any Transport,
        journal: ServiceJournalFile? = nil,
        prefetch: Int = 100,
        beforeBatch: @Sendable () async throws -> Void = {}
    ) async throws {
        try await ProcessingThread.run(named: "chronicle-\(queue)") { _ in
            try await serveHere(over: transport, journal: journal, prefetch: prefetch, beforeBatch: beforeBatch)
        }
    }

    private func serveHere(
        over transport: any Transport,
        journal: ServiceJournalFile?,
        prefetch: Int,
        beforeBatch: @Sendable () async throws -> Void
    ) async throws {
        let deliveries = try await transport.consume(queue: queue, prefetch: prefetch)
        let batches = DeliveryBatches()
        async let pumping: Void = batches.pump(deliveries)
        while let batch = try await batches.next() {
            try await beforeBatch()
            let now = Date()
            var replies: [OutgoingMessage] = []
            var handled: [InboundMessage] = []
            var rejected: [(InboundMessage, String)] = []
            for command in batch {
                switch respond(to: command, now: now) {
                case .reply(let reply):
                    replies.append(reply)
                    handled.append(command)
                case .silent:
                    handled.append(command)
                case .rejected(let reason):
                    rejected.append((command, reason))
                }
            }
            try await journal?.append(takeUnjournaled())
            // The service's latency: each reply goes out when it is due (the batch's replies overlap).
            for due in Dictionary(grouping: replies, by: { $0.deliverAt ?? now }).sorted(by: { $0.key < $1.key }) {
                let wait = due.key.timeIntervalSinceNow
                if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
                try await transport.publish(
                    due.value.map { reply in
                        var reply = reply
                        reply.deliverAt = nil
                        return reply
                    })
            }
            for (command, reason) in rejected { try await transport.deadLetter(command, reason: reason) }
            try await transport.acknowledge(handled)
        }
        await pumping
    }
}
