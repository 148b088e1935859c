import Chronicle
import ChronicleSQLite
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A process that commits batches is killed with SIGKILL at random moments; after every kill the store opens
/// and holds every batch either wholly or not at all, with histories numbered without gaps.
///
/// The child is `chronicle-store-stress` (Sources/ChronicleSQLiteStress), whose batches describe themselves: see
/// the comment at its top. SIGKILL loses the process, not the OS's buffers, so this shows atomicity and
/// recovery; surviving a power loss is what `synchronous = FULL` adds and no test here can show.
@Suite("Crash safety", .serialized)
struct CrashSafetyTests {
    static let kills = 60
    /// Kills per generation of instances: a run after a kill goes on with the histories the killed one left.
    static let killsPerGeneration = 3

    @Test(.timeLimit(.minutes(2)))
    func everyBatchIsWhollyThereOrWhollyAbsentAfterSIGKILL() async throws {
        let stress = try #require(Self.stressExecutable(), "chronicle-store-stress is built by `swift test`")
        let fixture = try StoreFixture()
        var generator = SystemRandomNumberGenerator()
        var committed: [Int: Int] = [:]
        var roundsThatCommitted = 0

        for round in 0..<Self.kills {
            let generation = round / Self.killsPerGeneration
            let synchronous = round.isMultiple(of: 2) ? "full" : "normal"
            let child = Process()
            child.executableURL = stress
            child.arguments = [fixture.storePath, synchronous, "\(generation)"]
            let errors = Pipe()
            let output = Pipe()
            child.standardError = errors
            child.standardOutput = output
            let committedOnce = round < 3 ? nil : Self.firstLine(of: output)
            try child.run()
            if round < 3 {
                // The first kills land while the child creates and migrates the store.
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...30, using: &generator)))
            } else {
                // Later ones at a random moment after the child's first commit, mostly in the middle of one.
                #expect(await committedOnce?.value == true, "round \(round): the child committed nothing in 20 seconds")
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...120, using: &generator)))
            }
            #expect(
                child.isRunning,
                "the child died on its own: \(String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self))"
            )
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            #expect(child.terminationReason == .uncaughtSignal && child.terminationStatus == SIGKILL)

            let store = try SQLiteEventStore(configuration: .init(path: fixture.storePath), logger: .quiet)
            try await store.checkIntegrity()
            let batches = try await Self.verify(store, generation: generation, round: round)
            #expect(batches >= committed[generation, default: 0], "round \(round): committed batches never disappear")
            if batches > committed[generation, default: 0] { roundsThatCommitted += 1 }
            committed[generation] = batches
            try store.close()
        }

        // In the end, every generation is still whole, and the run was not vacuous: the children committed many
        // batches, in every round after the first three.
        let store = try SQLiteEventStore(configuration: .init(path: fixture.storePath), logger: .quiet)
        for (generation, batches) in committed {
            #expect(try await Self.verify(store, generation: generation, round: Self.kills) == batches)
        }
        let total = committed.values.reduce(0, +)
        #expect(try await store.outboxDepth() > 0)
        #expect(total > 5 * Self.kills, "only \(total) batches were committed")
        #expect(roundsThatCommitted >= Self.kills - 3, "only \(roundsThatCommitted) rounds committed a batch")
    }

    /// Checks one generation of the stress batches; returns how many batches it holds.
    static func verify(_ store: SQLiteEventStore, generation: Int, round: Int) async throws -> Int {
        let context = "round \(round), generation \(generation)"
        let counterID = InstanceID("g\(generation)-counter")
        // Batches are committed one after the other, so the committed ones are 1...n.
        let counter = try await store.load(counterID)
        let n = counter?.version ?? 0
        #expect(counter?.events.map(\.kind) ?? [] == (0..<n).map { .timerFired(step: $0 + 1) }, "\(context)")

        // Every event of a committed batch and none of a later one, numbered 1, 2, 3… in each history.
        var eventsByBatch: [Int: Int] = [:]
        var declaredEvents: [Int: Int] = [:]
        var declaredMessages: [Int: Int] = [:]
        for index in 0..<12 {
            let history = try await store.load(InstanceID("g\(generation)-stress-\(index)"))?.events ?? []
            for (position, event) in history.enumerated() {
                guard case .callCompleted(let batch, let sequence, let reply) = event.kind else {
                    Issue.record("\(context): unexpected event \(event)")
                    continue
                }
                #expect(sequence == position + 1, "\(context): stress-\(index) has a gap at \(position + 1)")
                let manifest = try reply.decode([String: Int].self)
                eventsByBatch[batch, default: 0] += 1
                declaredEvents[batch] = manifest["events"]
                declaredMessages[batch] = manifest["messages"]
            }
        }
        #expect(Set(eventsByBatch.keys) == Set((0..<n).map { $0 + 1 }), "\(context): events of batches 1...\(n) only")
        for (batch, count) in eventsByBatch {
            #expect(count == declaredEvents[batch], "\(context): batch \(batch) has \(count) of its events")
        }

        // Their outbox rows, inbox ids and timers.
        let outbox = try await store.pendingOutbox(limit: 1_000_000).filter {
            $0.headers["generation"] == "\(generation)"
        }
        var messagesByBatch: [Int: Int] = [:]
        for message in outbox {
            let batch = Int(message.headers["batch"] ?? "") ?? -1
            messagesByBatch[batch, default: 0] += 1
            #expect(
                message.headers["messages"] == declaredMessages[batch].map(String.init), "\(context): \(message.id)")
        }
        for batch in Set(messagesByBatch.keys).union(declaredMessages.keys) {
            #expect(
                messagesByBatch[batch, default: 0] == declaredMessages[batch], "\(context): outbox of batch \(batch)")
        }
        let inboxIDs = (1...(n + 10)).map { "\(generation)-\($0)" }
        #expect(try await store.appliedMessageIDs(among: inboxIDs) == Set(inboxIDs.prefix(n)), "\(context): inbox")
        let timers = try await store.timers(state: .pending, dueBefore: nil, limit: 1_000_000)
            .filter { $0.instanceID == counterID }
        #expect(Set(timers.map(\.timerID)) == Set((0..<n).map { "t-\($0 + 1)" }), "\(context): timers")
        return n
    }

    /// True once the child prints its first line (its first commit), false when it has not after 20 seconds.
    static func firstLine(of pipe: Pipe) -> Task<Bool, Never> {
        let handle = pipe.fileHandleForReading
        return Task {
            await withCheckedContinuation { continuation in
                let resumed = Mutex(false)
                let finish = { @Sendable (value: Bool) in
                    let first = resumed.withLock { done in
                        defer { done = true }
                        return !done
                    }
                    if first {
                        handle.readabilityHandler = nil
                        continuation.resume(returning: value)
                    }
                }
                handle.readabilityHandler = { handle in
                    if !handle.availableData.isEmpty { finish(true) }
                }
                Task {
                    try? await Task.sleep(for: .seconds(20))
                    finish(false)
                }
            }
        }
    }

    /// `chronicle-store-stress` beside the test binary (Linux: the binary itself; macOS: the `.xctest` bundle),
    /// or where `CHRONICLE_STORE_STRESS` says.
    static func stressExecutable() -> URL? {
        if let path = ProcessInfo.processInfo.environment["CHRONICLE_STORE_STRESS"] {
            return URL(fileURLWithPath: path)
        }
        var folders = [
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        ]
        folders += Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        return folders.map { $0.appendingPathComponent("chronicle-store-stress") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
