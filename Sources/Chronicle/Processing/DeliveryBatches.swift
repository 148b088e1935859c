import Synchronization

/// Everything delivered and not yet taken, as one batch: coalesces a transport's delivery stream, whose
/// elements may be small (a transport yields what one read brought), into batches as large as the backlog.
///
/// One task ``pump(_:)``s the stream in; the consumer calls ``next(limit:)``, which waits while nothing is
/// there and then returns everything that arrived meanwhile (up to `limit`). Batches are what make the
/// processing loop fast: one commit, one round of confirms and one acknowledgement for all of it.
public final class DeliveryBatches: Sendable {
    private struct State {
        var messages: [InboundMessage] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var failure: (any Error)?
        /// Set by ``interrupt(_:)``: `failure` comes before anything still buffered.
        var interrupted = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Reads `stream` until it ends, then marks the batches finished (with its error, if it failed).
    public func pump(_ stream: AsyncThrowingStream<[InboundMessage], any Error>) async {
        do {
            for try await batch in stream { append(batch) }
            finish(nil)
        } catch {
            finish(error)
        }
    }

    func append(_ batch: [InboundMessage]) {
        let waiter = state.withLock { state in
            state.messages += batch
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func finish(_ error: (any Error)?) {
        let waiter = state.withLock { state in
            state.finished = true
            if !state.interrupted { state.failure = error }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Ends the batches now: the waiting or next ``next(limit:)`` throws `error`, and so does every later one,
    /// even with messages still buffered (they stay unacknowledged, so they come again). For a loop whose work
    /// continues elsewhere (a send that failed) to stop it while it waits for deliveries.
    public func interrupt(_ error: any Error) {
        let waiter = state.withLock { state in
            if !state.interrupted {
                state.interrupted = true
                state.finished = true
                state.failure = error
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits until something was delivered, then takes it all (at most `limit`); `nil` once the stream has
    /// ended and everything was taken. Rethrows the stream's error after the last messages.
    public func next(limit: Int = .max) async throws -> [InboundMessage]? {
        while true {
            let taken: Result<[InboundMessage]?, any Error>? = state.withLock { state in
                if state.interrupted, let failure = state.failure { return .failure(failure) }
                if !state.messages.isEmpty {
                    let count = min(limit, state.messages.count)
                    let batch = Array(state.messages.prefix(count))
                    state.messages.removeFirst(count)
                    return .success(batch)
                }
                if state.finished { return state.failure.map { .failure($0) } ?? .success(nil) }
                return nil
            }
            if let taken { return try taken.get() }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state in
                    if !state.messages.isEmpty || state.finished { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}
