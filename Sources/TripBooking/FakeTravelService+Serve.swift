import Chronicle
import Foundation

extension FakeTravelService {
    /// Serves commands from ``queue`` over `transport` until cancelled. For each batch: decide, write the
    /// decisions to `journal` (if any), publish the replies (delayed by the service's latency), and only then
    /// acknowledge the commands; so a crash answers them again, with the same replies and no second effect.
    public func serve(over transport: any Transport, journal: ServiceJournalFile? = nil, prefetch: Int = 100)
        async throws
    {
        let deliveries = try await transport.consume(queue: queue, prefetch: prefetch)
        for try await batch in deliveries {
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
            try await transport.publish(replies)
            for (command, reason) in rejected { try await transport.deadLetter(command, reason: reason) }
            try await transport.acknowledge(handled)
        }
    }
}
