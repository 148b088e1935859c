import Dispatch
import Synchronization

/// Runs `operation` on the global concurrent executor and blocks the calling thread until it ends.
///
/// For libFuzzer's callback, which is synchronous: the calling thread (libFuzzer's main thread, or the replayer's)
/// must not be one the operation needs, so this is never called from async code or from the main actor's executor.
func runBlocking<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task {
        do {
            box.set(.success(try await operation()))
        } catch {
            box.set(.failure(error))
        }
        done.signal()
    }
    done.wait()
    return try box.take()
}

/// Hands a result from the operation's task to the blocked thread.
private final class ResultBox<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, any Error>?>(nil)

    func set(_ value: Result<T, any Error>) {
        result.withLock { $0 = value }
    }

    func take() throws -> T {
        guard let value = result.withLock({ $0 }) else { preconditionFailure("runBlocking: the task gave no result") }
        return try value.get()
    }
}
