import Synchronization

/// The sends of a processing loop's batches (publish, then acknowledge), which the loop starts and goes on
/// without: at most `limit` at once, each started on the loop's thread in the order they come. One that fails
/// interrupts the loop's ``DeliveryBatches``, so that the loop ends at once rather than when a later batch comes.
///
/// The sends are unstructured tasks: they do not inherit the loop's cancellation. ``cancel()`` passes it on,
/// for a loop whose sends should stop waiting when it is cancelled.
public final class OverlappingSends: Sendable {
    private let limit: Int
    private let thread: ProcessingThread
    private let batches: DeliveryBatches
    private struct State {
        /// Started and not yet awaited by ``start(_:)``, oldest first.
        var running: [Task<Void, any Error>] = []
        var cancelled = false
    }
    private let state = Mutex(State())

    public init(limit: Int, on thread: ProcessingThread, interrupting batches: DeliveryBatches) {
        self.limit = limit
        self.thread = thread
        self.batches = batches
    }

    /// Starts `send`, once fewer than `limit` run: waits for the oldest first, rethrowing its error.
    public func start(_ send: @escaping @Sendable () async throws -> Void) async throws {
        if let oldest = state.withLock({ $0.running.count >= limit ? $0.running.removeFirst() : nil }) {
            try await oldest.value
        }
        let batches = self.batches
        let task = Task(executorPreference: thread) {
            do {
                try await send()
            } catch {
                // Ends the loop now, should it be waiting for deliveries.
                batches.interrupt(error)
                throw error
            }
        }
        let cancelled = state.withLock { state in
            state.running.append(task)
            return state.cancelled
        }
        if cancelled { task.cancel() }
    }

    /// Waits for every send started; rethrows the first error.
    public func finish() async throws {
        for task in state.withLock({ $0.running }) { try await task.value }
    }

    /// Waits for every send started, whatever their outcome (after the loop failed).
    public func drain() async {
        for task in state.withLock({ $0.running }) { _ = try? await task.value }
    }

    /// Cancels the sends started and those to come.
    public func cancel() {
        let running = state.withLock { state in
            state.cancelled = true
            return state.running
        }
        for task in running { task.cancel() }
    }
}
