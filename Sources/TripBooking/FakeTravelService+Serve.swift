import Chronicle
import Foundation

extension FakeTravelService {
    /// Serves commands from ``queue`` over `transport` until cancelled. For each batch: decide, write the
    /// decisions to `journal` (if any), publish the replies (each when the service's latency has passed), and
    /// only then acknowledge the commands; so a crash answers them again, with the same replies and no second
    /// effect.
    ///
    /// Batches overlap: while up to `sendsInFlight` (four) batches wait out their latency and their replies'
    /// confirms, the next is decided and journaled. Their sends start in the order the batches came; a later
    /// batch whose replies are due sooner goes out first. A send that fails ends the loop at once, with its
    /// error (commands not yet acknowledged come again); cancelling the loop cancels the sends' waits for their
    /// latency too, and ends it without an error. The loop runs on a ``ProcessingThread`` — `thread`, or one of
    /// its own — and so do its journal's writing and the sends.
    ///
    /// - Parameters:
    ///   - thread: a thread to share with other loops (see ``ProcessingThread/shared(named:_:)``); services that
    ///     share one wake fewer threads per command: `chronicle services` serves the hotel and the flight on one.
    ///   - beforeBatch: awaited before each batch is handled (an outage can wait there).
    public func serve(
        over transport: any Transport,
        journal: ServiceJournalFile? = nil,
        prefetch: Int = 100,
        on thread: ProcessingThread? = nil,
        beforeBatch: @Sendable () async throws -> Void = {}
    ) async throws {
        let serve = { (thread: ProcessingThread) in
            try await self.serveHere(
                over: transport, journal: journal, prefetch: prefetch, thread: thread, beforeBatch: beforeBatch)
        }
        if let thread {
            try await thread.run(serve)
        } else {
            try await ProcessingThread.run(named: "\(kind.rawValue)-service", serve)
        }
    }

    /// How many decided batches may wait for their replies to be sent, and their commands acknowledged, at
    /// once. With one, each batch waited for the confirms of the one before: `chronicle bench trips --rate 500
    /// --stages` measured the hotel's hop (hotel.reserve→hotel.reserved) at p50 2.2–3.1 ms, p99 7.3–12.5 ms that
    /// way, and p50 1.1–1.8 ms, p99 6.0–7.0 ms with four (three runs each, alternated).
    static let sendsInFlight = 4

    private func serveHere(
        over transport: any Transport,
        journal: ServiceJournalFile?,
        prefetch: Int,
        thread: ProcessingThread,
        beforeBatch: @Sendable () async throws -> Void
    ) async throws {
        let deliveries = try await transport.consume(queue: queue, prefetch: prefetch)
        let batches = DeliveryBatches()
        async let pumping: Void = batches.pump(deliveries)
        let sends = OverlappingSends(limit: Self.sendsInFlight, on: thread, interrupting: batches)
        try await withTaskCancellationHandler {
            do {
                while let batch = try await batches.next() {
                    try await beforeBatch()
                    let decided = decide(batch, now: Date())
                    try await journal?.append(takeUnjournaled())
                    try await sends.start { try await self.send(decided, over: transport) }
                }
                try await sends.finish()
            } catch {
                await sends.drain()
                // A cancelled loop (a shutdown) ends quietly: the commands it did not acknowledge come again.
                if error is CancellationError && Task.isCancelled { return }
                throw error
            }
        } onCancel: {
            // The sends' waits for the service's latency end too.
            sends.cancel()
        }
        await pumping
    }

    /// A batch's answers: the replies to publish, the commands to acknowledge after them, and those to
    /// dead-letter.
    private struct Decided: Sendable {
        var now: Date
        var replies: [OutgoingMessage] = []
        var handled: [InboundMessage] = []
        var rejected: [(InboundMessage, String)] = []
    }

    private func decide(_ batch: [InboundMessage], now: Date) -> Decided {
        var decided = Decided(now: now)
        for command in batch {
            switch respond(to: command, now: now) {
            case .reply(let reply):
                decided.replies.append(reply)
                decided.handled.append(command)
            case .silent:
                decided.handled.append(command)
            case .rejected(let reason):
                decided.rejected.append((command, reason))
            }
        }
        return decided
    }

    /// Publishes a batch's replies, each when the service's latency has passed (the batch's replies overlap),
    /// dead-letters what was rejected, then acknowledges the commands.
    private func send(_ decided: Decided, over transport: any Transport) async throws {
        let now = decided.now
        for due in Dictionary(grouping: decided.replies, by: { $0.deliverAt ?? now }).sorted(by: { $0.key < $1.key }) {
            let wait = due.key.timeIntervalSinceNow
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
            try await transport.publish(
                due.value.map { reply in
                    var reply = reply
                    reply.deliverAt = nil
                    return reply
                })
        }
        for (command, reason) in decided.rejected { try await transport.deadLetter(command, reason: reason) }
        try await transport.acknowledge(decided.handled)
    }
}
