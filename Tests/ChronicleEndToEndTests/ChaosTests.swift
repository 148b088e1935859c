import Foundation
import TestSupport
import Testing

/// The fault run (issue 6): trips through real processes while the processor is killed with SIGKILL, the
/// broker is stopped and started, the flight service goes silent for longer than the retry budget and, in the
/// full run, the store's disk fills up. At the end: every trip has ended, `chronicle verify` finds nothing done
/// twice and nothing left dangling, every start is accounted for, and the dead-letter queue holds only what the
/// test injected.
///
/// `CHRONICLE_CHAOS=full` runs the full version (1,000 trips, 20 kills, 2 broker restarts, a full disk);
/// `CHRONICLE_CHAOS_SEED=N` repeats a run's choices of moments.
///
/// The broker restart stops every vhost on the node, so other suites' connections drop: the suite is
/// serialized, and scripts/test.sh runs it alone, after the other suites (`swift test --filter ChaosTests`).
@Suite("Chaos: kills, broker restarts, an outage and a full disk, with figures", .serialized)
struct ChaosTests {
    struct Plan: CustomStringConvertible {
        var name: String
        var trips: Int
        var kills: Int
        var brokerRestarts: Int
        /// Bad starts published among the trips: these, and nothing else, must end up dead-lettered.
        var injected: Int
        var diskFull: Bool
        /// The flight service is silent from `outageStart` after it starts, for `outageLength`: well over the
        /// retry budget of a reservation (3 attempts of 5 s, 100 + 200 ms apart), which kills and broker
        /// restarts stretch by several seconds, so that some trips surely spend all their attempts in it.
        var outageStart: Int
        var outageLength: Int
        /// How long the test waits for the last trips to end once the faults are over.
        var settleLimit: Duration

        static let short = Plan(
            name: "short", trips: 100, kills: 5, brokerRestarts: 1, injected: 5, diskFull: false, outageStart: 8,
            outageLength: 30, settleLimit: .seconds(120))
        static let full = Plan(
            name: "full", trips: 1_000, kills: 20, brokerRestarts: 2, injected: 20, diskFull: true, outageStart: 20,
            outageLength: 40, settleLimit: .seconds(600))

        static var current: Plan { ProcessInfo.processInfo.environment["CHRONICLE_CHAOS"] == "full" ? .full : .short }

        var description: String {
            "\(name): \(trips) trips, \(kills) kills, \(brokerRestarts) broker restart(s), flight outage "
                + "\(outageStart)s+\(outageLength)s\(diskFull ? ", a full disk" : "")"
        }
    }

    enum Fault: CustomStringConvertible {
        case kill, brokerRestart, diskFull
        var description: String {
            switch self {
            case .kill: "SIGKILL chronicle run"
            case .brokerRestart: "broker stop/start"
            case .diskFull: "store disk full"
            }
        }
    }

    /// What happened, for the table.
    struct Figures {
        var kills = 0
        var brokerRestarts = 0
        var brokerDowntime: [Duration] = []
        var diskFullSeconds: Duration?
        var outageTimeouts = 0
        var compensatedAfterTimeouts = 0
    }

    @Test("The fault run: nothing lost, nothing done twice, nothing dangling", .timeLimit(.minutes(30)))
    func faultRun() async throws {
        let plan = Plan.current
        let seed =
            ProcessInfo.processInfo.environment["CHRONICLE_CHAOS_SEED"].flatMap(UInt64.init)
            ?? UInt64.random(in: 1...UInt64.max >> 1)
        var random = SplitMix64(seed: seed)
        print("chaos: \(plan); seed \(seed) (CHRONICLE_CHAOS_SEED=\(seed) repeats the moments)")

        let sandbox = try Sandbox()
        defer { try? Sandbox.broker("start") }  // never leave the broker stopped
        var disk: SmallDisk?
        if plan.diskFull {
            do {
                disk = try SmallDisk(at: sandbox.folder.appending(path: "disk"), megabytes: 64)
                sandbox.store = disk!.folder.appending(path: "chronicle.sqlite").path
            } catch {
                print("chaos: SKIPPING the full-disk fault: \(error)")
            }
        }
        defer { withExtendedLifetime(sandbox) { disk?.unmount() } }

        var processor = try sandbox.start(["run"], output: "run-0.out")
        let hotel = try sandbox.start(
            [
                "services", "--only", "hotel", "--failure-rate", "0.3", "--latency", "5ms", "--jitter", "5ms",
                "--seed", "\(seed)",
            ],
            output: "hotel.out")
        let flight = try sandbox.start(
            [
                "services", "--only", "flight", "--failure-rate", "0.3", "--latency", "5ms", "--jitter", "5ms",
                "--seed", "\(seed &+ 7)", "--outage", "\(plan.outageStart)s+\(plan.outageLength)s",
            ],
            output: "flight.out")
        try await EndToEndTests.waitForQueues(
            sandbox, ["chronicle.orchestrator", "chronicle.hotel", "chronicle.flight"])

        // The trips and the injected bad starts, in rounds; a fault at a random moment after some rounds.
        let trips = (1...plan.trips).map { String(format: "chaos-%04d", $0) }
        let injected = (1...plan.injected).map { "chaos-injected-\($0): not JSON" }
        var faults: [Fault] =
            Array(repeating: .kill, count: plan.kills) + Array(repeating: .brokerRestart, count: plan.brokerRestarts)
        if disk != nil { faults.append(.diskFull) }
        faults.shuffle(using: &random)
        let rounds = max(faults.count, 10)
        var figures = Figures()
        var exits: [(Process.TerminationReason, Int32)] = []
        let started = ContinuousClock.now

        for round in 0..<rounds {
            var lines = Array(trips[(round * trips.count / rounds)..<((round + 1) * trips.count / rounds)])
                .map { startTrip($0) }
            for (index, line) in injected.enumerated() where index * rounds / injected.count == round {
                lines.insert(line, at: Int.random(in: 0...lines.count, using: &random))
            }
            try await sandbox.amqpPublishPersistently(
                exchange: "chronicle.commands", routingKey: "trip.start", lines: lines)

            for fault in faults.indices.filter({ $0 * rounds / faults.count == round }).map({ faults[$0] }) {
                try await Task.sleep(for: .milliseconds(Int.random(in: 200...2_500, using: &random)))
                switch fault {
                case .kill:
                    #expect(processor.isRunning, "chronicle run died on its own before kill \(figures.kills + 1)")
                    await sandbox.kill(processor)
                    exits.append((processor.terminationReason, processor.terminationStatus))
                    figures.kills += 1
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...1_500, using: &random)))
                    processor = try sandbox.start(["run"], output: "run-\(figures.kills).out")
                case .brokerRestart:
                    let down = ContinuousClock.now
                    try Sandbox.broker("restart")
                    figures.brokerDowntime.append(ContinuousClock.now - down)
                    figures.brokerRestarts += 1
                    try await EndToEndTests.waitForQueues(
                        sandbox, ["chronicle.orchestrator", "chronicle.hotel", "chronicle.flight"])
                case .diskFull:
                    figures.diskFullSeconds = try await fillDisk(disk!, sandbox: sandbox, processor: processor)
                }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...2_000, using: &random)))
        }
        let faultPhase = ContinuousClock.now - started

        // Let the last trips end.
        var states: [String: String] = [:]
        let deadline = ContinuousClock.now + plan.settleLimit
        while ContinuousClock.now < deadline {
            states = try sandbox.trips()
            if trips.allSatisfy({ states[$0] != nil && states[$0] != "running" }) { break }
            try await Task.sleep(for: .seconds(1))
        }
        let total = ContinuousClock.now - started

        // The invariants.
        let terminal = trips.count { states[$0] == "completed" || states[$0] == "failed" }
        let (verifyStatus, verify) = try sandbox.chronicle("verify")
        let problems = verify.split(separator: "\n").filter { $0.hasPrefix("  - ") }
        let doubled = problems.count { $0.contains("took effect") }
        let dangling = problems.count - doubled
        let deadLetters = try await sandbox.takeDeadLetters()
        // amqp-publish -l keeps each line's newline in the body.
        let deadBodies = deadLetters.map {
            String(decoding: $0.body, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        let unexpected = deadBodies.filter { !injected.contains($0) }
        let injectedFound = Set(deadBodies).intersection(injected).count
        let accounted = trips.count { states[$0] != nil }
        // The outage: trips whose flight attempts timed out and that compensated.
        for trip in trips {
            let (_, history) = try sandbox.chronicle("history", trip)
            guard history.contains("callTimedOut") else { continue }
            figures.outageTimeouts += 1
            if history.contains("\"compensated\"") { figures.compensatedAfterTimeouts += 1 }
        }
        let processorAlive = processor.isRunning
        let servicesAlive = hotel.isRunning && flight.isRunning
        let finalStop = await sandbox.stop(processor)
        _ = await sandbox.stop(hotel)
        _ = await sandbox.stop(flight)

        func percent(_ part: Int, _ whole: Int) -> String {
            String(format: "%.1f %%", 100 * Double(part) / Double(whole))
        }
        let rows: [(String, String, Bool)] = [
            (
                "trips terminal", "\(terminal)/\(trips.count) = \(percent(terminal, trips.count))",
                terminal == trips.count
            ),
            ("effects doubled", "\(doubled)", doubled == 0),
            ("reservations dangling", "\(dangling)", dangling == 0),
            ("chronicle verify", verifyStatus == 0 ? "clean" : "exit \(verifyStatus)", verifyStatus == 0),
            ("StartTrips accounted for", "\(accounted)/\(trips.count) in the store", accounted == trips.count),
            (
                "injected bad starts dead-lettered", "\(injectedFound)/\(injected.count)",
                injectedFound == injected.count
            ),
            ("dead letters not injected", "\(unexpected.count) of \(deadLetters.count)", unexpected.isEmpty),
            ("processor kills (SIGKILL)", "\(figures.kills)", figures.kills >= plan.kills),
            (
                "broker restarts",
                "\(figures.brokerRestarts), down "
                    + figures.brokerDowntime.map {
                        "\($0.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))"
                    }
                    .joined(separator: ", "),
                figures.brokerRestarts >= plan.brokerRestarts
            ),
            (
                "flight outage \(plan.outageStart)s+\(plan.outageLength)s",
                "\(figures.outageTimeouts) trips timed out, \(figures.compensatedAfterTimeouts) compensated",
                figures.compensatedAfterTimeouts > 0
            ),
            (
                "store disk full",
                figures.diskFullSeconds.map { "\($0.formatted(.units(allowed: [.seconds]))) stalled, then carried on" }
                    ?? (plan.diskFull ? "could not mount a tmpfs: skipped" : "(full run only)"),
                true
            ),
            (
                "processor and services up at the end", processorAlive && servicesAlive ? "yes" : "no",
                processorAlive && servicesAlive
            ),
        ]
        print(
            "chaos: \(plan.name) run, seed \(seed); faults for \(faultPhase.formatted(.units(allowed: [.seconds]))), "
                + "all over in \(total.formatted(.units(allowed: [.seconds])))")
        print(Self.table(rows))
        print(verify)

        #expect(
            terminal == trips.count,
            "trips not ended: \(trips.filter { states[$0] != "completed" && states[$0] != "failed" }.prefix(20))")
        #expect(verifyStatus == 0, "\(verify)")
        #expect(doubled == 0)
        #expect(dangling == 0)
        #expect(accounted == trips.count)
        #expect(injectedFound == injected.count)
        #expect(
            unexpected.isEmpty,
            "dead letters nobody injected: \(zip(deadLetters, deadBodies).filter { !injected.contains($0.1) }.prefix(10).map { "\($0.0.routingKey) \(String(reflecting: $0.1)): \($0.0.headers["x-chronicle-dead-letter-reason"] ?? "?")" })"
        )
        #expect(figures.kills >= plan.kills)
        #expect(figures.brokerRestarts >= plan.brokerRestarts)
        #expect(figures.compensatedAfterTimeouts > 0, "the outage made no trip compensate")
        for (reason, status) in exits {
            #expect(
                reason == .uncaughtSignal && status == SIGKILL,
                "chronicle run ended by \(reason) \(status), not our SIGKILL")
        }
        #expect(processorAlive && servicesAlive, "a process died on its own; logs in \(sandbox.folder.path)")
        #expect(finalStop == 0, "chronicle run did not stop cleanly on SIGTERM at the end")
    }

    /// Fills the store's disk while trips run: the processor must say so clearly, keep the batch unacknowledged
    /// and stay up; when the space comes back it carries on. Returns how long the disk was full.
    private func fillDisk(_ disk: SmallDisk, sandbox: Sandbox, processor: Process) async throws -> Duration {
        let filled = ContinuousClock.now
        try disk.fill()
        // New work, so that the processor has something to commit: 20 trips a second for up to 30 s. A few are
        // not always enough: once a checkpoint has emptied the store's write-ahead log, SQLite writes the log
        // from its start again, into pages the file already has, and those need no new disk space. The trips
        // come until the commits outgrow them.
        let logs = { sandbox.logs().filter { $0.key.hasPrefix("run-") }.values.joined() }
        var said = false
        for round in 1...60 {
            if round % 2 == 1 {
                let probes = (1...20).map { "chaos-disk-\(round)-\($0)" }
                try await sandbox.amqpPublishPersistently(
                    exchange: "chronicle.commands", routingKey: "trip.start", lines: probes.map { startTrip($0) })
            }
            if logs().contains("the store cannot commit") {
                said = true
                break
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(said, "the processor did not say that the store cannot commit")
        // While the disk is full nothing is acknowledged that was not committed: the work waits in the queue.
        try await Task.sleep(for: .seconds(3))
        let held = try sandbox.queues()["chronicle.orchestrator"].map { $0.ready + $0.unacknowledged } ?? 0
        #expect(held > 0, "the processor acknowledged work while its store could not commit")
        #expect(processor.isRunning, "the processor died of a full disk")
        disk.free()
        return ContinuousClock.now - filled
    }

    static func table(_ rows: [(String, String, Bool)]) -> String {
        let width = rows.map(\.0.count).max() ?? 0
        let valueWidth = rows.map(\.1.count).max() ?? 0
        var lines = [
            "| \("invariant / fault".padding(toLength: width, withPad: " ", startingAt: 0)) | "
                + "\("result".padding(toLength: valueWidth, withPad: " ", startingAt: 0)) | ok |"
        ]
        lines.append(
            "|\(String(repeating: "-", count: width + 2))|\(String(repeating: "-", count: valueWidth + 2))|----|")
        for (name, value, ok) in rows {
            lines.append(
                "| \(name.padding(toLength: width, withPad: " ", startingAt: 0)) | "
                    + "\(value.padding(toLength: valueWidth, withPad: " ", startingAt: 0)) | \(ok ? "✓ " : "✗ ") |")
        }
        return lines.joined(separator: "\n")
    }
}

/// A tmpfs of a few megabytes, mounted for the store's folder, that a filler file can fill up.
final class SmallDisk {
    let folder: URL
    private var filler: URL { folder.appending(path: "filler") }

    init(at folder: URL, megabytes: Int) throws {
        self.folder = folder
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Spawn.output("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", folder.path])
    }

    /// Writes a filler file until the disk refuses another byte.
    func fill() throws {
        _ = FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        defer { try? handle.close() }
        let chunk = Data(count: 64 * 1024)
        var small = Data(count: 512)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        while (try? handle.write(contentsOf: small)) != nil {}
        small = Data(count: 1)
        while (try? handle.write(contentsOf: small)) != nil {}
    }

    func free() {
        try? FileManager.default.removeItem(at: filler)
    }

    func unmount() {
        _ = try? Spawn.output("/usr/bin/umount", ["-l", folder.path])
    }
}

/// A small seeded generator, so that a run's moments can be repeated.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
