import Synchronization

/// The executor orchestration code runs on: jobs wait in a FIFO queue until the driver runs them, one at a
/// time, on the driver's own thread.
///
/// Because nothing runs until the driver asks, and jobs run in the order they were enqueued, the
/// interleaving of `async let` children and task-group members is fixed by the code alone: the same history
/// always produces the same steps in the same order.
final class DeterministicExecutor: TaskExecutor, Sendable {
    private struct State {
        var jobs: [UnownedJob] = []
        var isDriving = false
        /// A job arrived while the driver was not running: the code awaited something outside Chronicle
        /// (an actor, `Task.sleep`, a foreign continuation) that resumed on its own schedule.
        var strayJobSeen = false
    }

    private let state = Mutex(State())

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        state.withLock {
            $0.jobs.append(unowned)
            if !$0.isDriving { $0.strayJobSeen = true }
        }
    }

    /// Marks the start of the driver's control: from now until ``endDriving()``, jobs enqueued (by the driver
    /// resuming continuations, or by the jobs it runs) are expected.
    func beginDriving() {
        state.withLock { $0.isDriving = true }
    }

    /// Marks the end of the driver's control: a job enqueued after this is a stray.
    func endDriving() {
        state.withLock { $0.isDriving = false }
    }

    /// Runs queued jobs, and those they enqueue, in FIFO order until none is left or `budget` jobs have run.
    ///
    /// - Returns: the number of jobs run; `budget` when the code did not settle.
    func runUntilIdle(budget: Int) -> Int {
        var ran = 0
        while ran < budget {
            let batch: [UnownedJob] = state.withLock {
                let jobs = $0.jobs
                $0.jobs = []
                return jobs
            }
            if batch.isEmpty { break }
            for (index, job) in batch.enumerated() {
                if ran == budget {
                    // Put back what was not run, ahead of anything enqueued meanwhile.
                    state.withLock { $0.jobs.insert(contentsOf: batch[index...], at: 0) }
                    break
                }
                job.runSynchronously(on: asUnownedTaskExecutor())
                ran += 1
            }
        }
        return ran
    }

    /// True if a job was enqueued while the driver was not running it.
    var strayJobSeen: Bool { state.withLock { $0.strayJobSeen } }
}
