import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A thread of a processing loop's own: a task executor that runs the loop, and the tasks it starts with this
/// preference, one job at a time.
///
/// A loop on the shared pool moves between threads at every `await` that another thread resumes (a delivery,
/// a confirm, a store call), and on a busy machine each move waits for a thread to be woken and scheduled.
/// On a thread of its own the loop's work stays on one thread: what other threads hand it is queued here,
/// and store calls that run synchronously (``EventStore`` implementations may) run here too.
public final class ProcessingThread: TaskExecutor, @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var exited = false
    /// The system thread's id, once it runs.
    private let system = Atomic<UInt>(0)

    /// Whether the caller runs on this thread.
    var isCurrent: Bool { system.load(ordering: .acquiring) == UInt(pthread_self()) }

    /// Runs `operation` with a new thread named `name` (its first 15 bytes: what `top -H` and `ps -L` show) as its
    /// task executor preference; the thread ends when `operation` returns.
    public static func run<T>(
        named name: String,
        _ operation: (ProcessingThread) async throws -> T
    ) async throws -> T {
        try await shared(named: name) { thread in try await thread.run(operation) }
    }

    /// Starts a thread named `name` for loops to share, and ends it when `body` returns. `body` itself runs
    /// where it was called; each loop runs on the thread through ``run(_:)``, taking turns with the others at
    /// every `await`.
    public static func shared<T>(
        named name: String,
        _ body: (ProcessingThread) async throws -> T
    ) async throws -> T {
        let thread = ProcessingThread(name: name)
        defer { thread.stop() }
        return try await body(thread)
    }

    /// Runs `operation` with this thread as its task executor preference, as ``run(named:_:)`` does with a new
    /// thread.
    public func run<T>(_ operation: (ProcessingThread) async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(self) { try await operation(self) }
    }

    /// Names the calling thread `name`, cut to the 15 bytes Linux keeps (it refuses a longer one outright), as
    /// `top -H`, `ps -L` and perf show it.
    ///
    /// Not through Foundation: on Linux, `Thread.name`'s setter names the thread that `start()` stored, which it
    /// stores after the thread is created, so a thread that names itself at once sometimes named nothing (a CI run
    /// caught it); and a name set before `start()` never reaches the system's thread.
    public static func nameCurrentThread(_ name: String) {
        var systemName = name
        while systemName.utf8.count > 15 { systemName.removeLast() }
        #if os(Linux)
            // What pthread_setname_np does for the calling thread (Swift's Glibc module leaves it out).
            let file = open("/proc/thread-self/comm", O_WRONLY)
            guard file >= 0 else { return }
            _ = systemName.withCString { write(file, $0, strlen($0)) }
            close(file)
        #else
            _ = pthread_setname_np(systemName)
        #endif
    }

    private init(name: String) {
        let thread = Thread { [self] in
            Self.nameCurrentThread(name)
            system.store(UInt(pthread_self()), ordering: .releasing)
            runJobs()
        }
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if exited {
            // Nothing should come after `run` returned; should something, it runs on the shared pool.
            condition.unlock()
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(job)
        let wake = jobs.count == 1
        condition.unlock()
        // Signalled after unlocking: a thread woken while the lock is held only blocks again on the lock.
        if wake { condition.signal() }
    }

    /// Lets the thread end once it has run the jobs queued.
    private func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        var taken: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                exited = true
                condition.unlock()
                return
            }
            swap(&taken, &jobs)
            condition.unlock()
            for job in taken { job.runSynchronously(on: asUnownedTaskExecutor()) }
            taken.removeAll(keepingCapacity: true)
        }
    }
}
