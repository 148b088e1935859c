import Foundation
import TestSupport
import Testing

import struct Chronicle.OutgoingMessage

@Suite("End to end: chronicle run, services, watch, start-trip, verify — real processes, broker and files", .serialized)
struct EndToEndTests {
    @Test(
        "100 trips at a 30 % failure rate, started by amqp-publish, all end; verify is clean; watch and history tell the story",
        .timeLimit(.minutes(5)))
    func hundredTrips() async throws {
        let sandbox = try Sandbox()
        let processor = try sandbox.start(["run"], output: "run.out")
        let services = try sandbox.start(
            ["services", "--failure-rate", "0.3", "--latency", "5ms", "--jitter", "5ms", "--seed", "11"],
            output: "services.out")
        let watch = try sandbox.start(["watch", "--json"], output: "watch.jsonl")
        try await Self.waitForQueues(sandbox, ["chronicle.orchestrator", "chronicle.hotel", "chronicle.flight"])
        try await Task.sleep(for: .seconds(1))  // the watch's tap

        let trips = (1...100).map { String(format: "e2e-%03d", $0) }
        var lines = trips.map { startTrip($0) }
        // Bad input among them: not JSON; a StartTrip that names its trip but books no nights.
        lines.insert("this is not json", at: 50)
        lines.insert(startTrip("e2e-bad", nights: 0), at: 70)
        try sandbox.amqpPublish(exchange: "chronicle.commands", routingKey: "trip.start", lines: lines)

        var running = -1
        for _ in 0..<1_200 {
            let (_, list) = try sandbox.chronicle("list", "--limit", "1000")
            let rows = list.split(separator: "\n").dropFirst()
            running = rows.filter { $0.contains(" running ") }.count
            if rows.count == 100 && running == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(running == 0, "trips still running")

        let (verifyStatus, verify) = try sandbox.chronicle("verify")
        #expect(verifyStatus == 0, "\(verify)")
        #expect(verify.hasPrefix("verify: OK"))
        let counts = verify.components(separatedBy: " — ")[1].components(separatedBy: ";")[0]
        let total = counts.split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
        }.reduce(0, +)
        #expect(total == 100, "\(verify)")
        #expect(counts.contains("booked"))
        // list's OUTCOME column agrees with verify's counts, outcome by outcome.
        let (_, list) = try sandbox.chronicle("list", "--limit", "1000")
        for count in counts.split(separator: ",") {
            let words = count.split(separator: " ")
            let listed = list.split(separator: "\n").count { $0.hasSuffix(" \(words[1])") }
            #expect(listed == Int(words[0]), "\(words[1]): \(list)")
        }
        // Pointed at a folder without the services' ledgers, verify says so instead of listing every trip.
        let (elsewhere, said) = try Spawn.capture(
            Sandbox.chronicle.path, ["verify", "--ledger-dir", sandbox.folder.appending(path: "nowhere").path],
            environment: sandbox.environment, mergingErrors: true)
        #expect(elsewhere == .exited(1))
        #expect(said.contains("no service ledger found"), "\(said)")
        #expect(said.split(separator: "\n").count < 5, "\(said)")

        try await Task.sleep(for: .milliseconds(500))
        let traffic = sandbox.read("watch.jsonl").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(await sandbox.stop(watch) == 0)

        // One booked trip's messages, in causal order.
        let (_, booked) = try sandbox.chronicle("list", "--status", "completed", "--limit", "1000")
        let bookedTrip = try #require(
            trips.first { trip in
                booked.contains(trip)
                    && traffic.contains {
                        $0["tripId"] as? String == trip && $0["routingKey"] as? String == "trip.booked"
                    }
            }
        )
        let keys = traffic.filter { $0["tripId"] as? String == bookedTrip }.compactMap { $0["routingKey"] as? String }
        let story = [
            "trip.start", "hotel.reserve", "hotel.reserved", "flight.reserve", "flight.reserved", "trip.booked",
        ]
        let positions = story.map { step in keys.firstIndex(of: step) }
        #expect(!positions.contains(nil), "\(bookedTrip): \(keys)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "\(bookedTrip): \(keys)")

        // Its history, from the store.
        let (historyStatus, history) = try sandbox.chronicle("history", bookedTrip)
        #expect(historyStatus == 0)
        for event in [
            "orchestrationStarted", "uuidRecorded", "timerFired", "callScheduled", "callCompleted",
            "orchestrationCompleted",
        ] {
            #expect(history.contains(event), "history of \(bookedTrip) lacks \(event)")
        }

        // The bad input: dead-lettered with its reason; the invalid trip told why on trip.failed.
        let deadLettered = traffic.compactMap {
            ($0["headers"] as? [String: String])?["x-chronicle-dead-letter-reason"]
        }
        #expect(deadLettered.contains { $0.contains("not JSON") }, "\(deadLettered)")
        #expect(deadLettered.contains { $0.contains("hotel.nights 0 is not within 1...365") }, "\(deadLettered)")
        let badFailed = traffic.first {
            $0["tripId"] as? String == "e2e-bad" && $0["routingKey"] as? String == "trip.failed"
        }
        #expect(badFailed != nil)

        #expect(await sandbox.stop(processor) == 0, "chronicle run did not stop cleanly on SIGTERM")
        #expect(await sandbox.stop(services) == 0, "chronicle services did not stop cleanly on SIGTERM")
    }

    @Test(
        "start-trip --wait follows a trip to its outcome, and exits non-zero when it does not book",
        .timeLimit(.minutes(2)))
    func startTripWaits() async throws {
        let sandbox = try await Self.processorAndServices()

        let (bookedStatus, booked) = try sandbox.chronicle("start-trip", "--wait", "--trip-id", "wait-1")
        #expect(bookedStatus == 0, "\(booked)")
        #expect(booked.hasPrefix("wait-1\ntrip.booked "))

        let (failedStatus, failed) = try sandbox.chronicle("start-trip", "--wait", "--city", "Atlantis")
        #expect(failedStatus == 1)
        #expect(failed.contains("trip.failed"))
        #expect(failed.contains("CityNotServed"))

        let (badStatus, _) = try sandbox.chronicle("start-trip", "--nights", "0")
        #expect(badStatus != 0)
    }

    @Test(
        "a count out of range, negative ones too, is refused with what to pass, before anything runs",
        arguments: [
            // A negative number is the option's value, not a flag ArgumentParser would call a missing value.
            (["run", "--prefetch", "-5"], "--prefetch must be at least 1 (got -5)"),
            (["services", "--failure-rate", "-0.1"], "--failure-rate must be between 0 and 1 (got -0.1)"),
            (["list", "--limit", "0"], "--limit must be at least 1 (got 0)"),
            (["timers", "--limit=-3"], "--limit must be at least 1 (got -3)"),
            (["watch", "--count", "0"], "--count must be at least 1 (got 0)"),
        ])
    func countsBelowOneAreRefused(arguments: [String], message: String) throws {
        let (outcome, said) = try Spawn.capture(
            Sandbox.chronicle.path, arguments, environment: ["CHRONICLE_STORE": "/nonexistent/store.sqlite"],
            mergingErrors: true)
        #expect(outcome == .exited(64), "\(said)")
        #expect(said.contains(message), "\(said)")
    }

    @Test(
        "watch shows control characters from the wire escaped, never raw on the terminal", .timeLimit(.minutes(2)))
    func watchEscapesControlCharacters() async throws {
        let sandbox = try Sandbox()
        let watch = try sandbox.start(["watch", "--count", "1"], output: "watch.out")
        try await Task.sleep(for: .seconds(2))  // the watch's tap
        let evil = "\u{1B}]0;pwned\u{07}\u{1B}[2J\u{0}"
        try await sandbox.publish([
            OutgoingMessage(
                id: "evil-1", exchange: "chronicle.commands", routingKey: "trip.start", type: "Evil\(evil)",
                correlationID: "trip\(evil)", timestamp: Date(), body: Data("{\"x\":\"\(evil)\"}".utf8))
        ])
        for _ in 0..<200 where watch.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        let shown = sandbox.read("watch.out")
        #expect(shown.contains("Evil\\u{1B}]0;pwned\\u{7}"), "\(shown)")
        #expect(!shown.unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" }, "\(shown)")
    }

    /// Two processors with stores of their own on one virtual host split the trips and dead-letter each other's
    /// replies and timers, stranding trips: the broker now refuses the second one's consumer.
    @Test(
        "a second chronicle run on the same virtual host is refused with a message that says why; the first goes on",
        .timeLimit(.minutes(2)))
    func secondProcessorRefused() async throws {
        let sandbox = try await Self.processorAndServices()

        let second = sandbox.folder.appending(path: "second.sqlite").path
        let (outcome, said) = try Spawn.capture(
            Sandbox.chronicle.path, ["run", "--store", second], environment: sandbox.environment, mergingErrors: true)
        #expect(outcome == .exited(1), "\(said)")
        #expect(said.contains("another processor consumes 'chronicle.orchestrator'"), "\(said)")

        let (status, booked) = try sandbox.chronicle("start-trip", "--wait", "--trip-id", "after-refusal")
        #expect(status == 0, "\(booked)")
        #expect(booked.contains("trip.booked"))
    }

    @Test(
        "bench trips runs the real processes and prints figures that agree with the latencies it writes",
        .timeLimit(.minutes(3)))
    func benchPrintsFiguresAndLatencies() async throws {
        let sandbox = try Sandbox()
        let file = sandbox.folder.appending(path: "latencies.csv").path
        let (status, output) = try sandbox.chronicle(
            "bench", "trips", "--trips", "40", "--in-flight", "8", "--no-ceiling", "--json", "--latencies", file)
        #expect(status == 0, "\(output)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(figures["trips"] as? Double == 40)
        #expect(figures["messages_per_saga"] as? Double == 6)
        #expect((figures["sagas_per_second"] as? Double ?? 0) > 0)
        #if os(Linux)
            let busy = try #require(figures["machine_cpu_busy_percent"] as? Double, "\(output)")
            #expect(busy >= 0 && busy <= 100, "\(output)")
            #expect((figures["machine_cores"] as? Double ?? 0) >= 1, "\(output)")
        #endif
        let p50 = try #require(figures["latency_p50_ms"] as? Double)
        let p99 = try #require(figures["latency_p99_ms"] as? Double)

        let rows = sandbox.read("latencies.csv").split(separator: "\n")
        #expect(rows.first == "due_ms,latency_ms")
        let trips = rows.dropFirst().map { $0.split(separator: ",").compactMap { Double($0) } }
        #expect(trips.count == 40 && trips.allSatisfy { $0.count == 2 && $0[0] >= 0 && $0[1] > 0 }, "\(rows)")
        // The printed percentiles are those of the rows (the 20th and the 40th of 40, to 0.1 ms).
        let sorted = trips.map { $0[1] }.sorted()
        #expect(abs(sorted[19] - p50) < 0.06, "p50 \(p50) against the rows' \(sorted[19])")
        #expect(abs(sorted[39] - p99) < 0.06, "p99 \(p99) against the rows' \(sorted[39])")

        let (refused, _) = try sandbox.chronicle("bench", "trips", "--waiting", "5", "--latencies", file)
        #expect(refused != 0, "--latencies with --waiting was accepted")
        let (unwritable, _) = try sandbox.chronicle("bench", "trips", "--latencies", "/nonexistent/latencies.csv")
        #expect(unwritable != 0, "--latencies into a folder that does not exist was accepted")
    }

    @Test(
        "bench trips --floor measures the broker's latency floor at the same rate, after the trips",
        .timeLimit(.minutes(3)))
    func benchMeasuresTheFloor() async throws {
        let sandbox = try Sandbox()
        let (status, output) = try sandbox.chronicle(
            "bench", "trips", "--trips", "200", "--rate", "200", "--no-ceiling", "--floor", "--json")
        #expect(status == 0, "\(output)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let p50 = try #require(figures["floor_latency_p50_ms"] as? Double, "\(output)")
        let p99 = try #require(figures["floor_latency_p99_ms"] as? Double, "\(output)")
        #expect(p50 > 0 && p50 <= p99, "\(output)")
        // At 200 trips a second for a second, the floor's trips end at about that rate.
        let rate = try #require(figures["floor_sagas_per_second"] as? Double)
        #expect(rate > 100 && rate < 260, "\(output)")
        #expect((figures["floor_relays_cpu_ms_per_saga"] as? Double ?? 0) > 0, "\(output)")

        let (refused, message) = try Spawn.capture(
            Sandbox.chronicle.path, ["bench", "trips", "--floor"], environment: sandbox.environment,
            mergingErrors: true)
        #expect(!refused.succeeded && message.contains("give --rate too"), "\(message)")

        // A floor the broker refuses (no right to declare its exchange): the run's figures still print, and the
        // command fails saying why.
        let user = try #require(URLComponents(string: sandbox.url)?.user)
        _ = try Spawn.brokerCtl(
            "set_permissions", "-p", sandbox.vhost, user, #"^(?!chronicle\.bench\.floor).*"#, ".*", ".*")
        let arguments = ["bench", "trips", "--trips", "50", "--rate", "100", "--no-ceiling", "--floor", "--json"]
        let (failed, printed) = try Sandbox.capture(Sandbox.chronicle.path, arguments, environment: sandbox.environment)
        #expect(failed != 0)
        let partial = try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any]
        #expect(partial?["trips"] as? Double == 50, "\(printed)")
        #expect(partial?["floor_latency_p50_ms"] == nil, "\(printed)")
        let (_, said) = try Spawn.capture(
            Sandbox.chronicle.path, arguments, environment: sandbox.environment, mergingErrors: true)
        #expect(said.contains("the latency floor could not be measured") && said.contains("ACCESS_REFUSED"), "\(said)")
    }

    @Test(
        "a known password never shows: not in the logs of a run at trace level, not in errors of a refused login",
        .timeLimit(.minutes(2)))
    func passwordNeverShows() async throws {
        let sandbox = try Sandbox()
        let user = "\(sandbox.vhost)-user"
        let password = "Pa55-\(UUID().uuidString.prefix(12))"
        try Spawn.brokerCtl("add_user", user, password)
        defer { _ = try? Spawn.brokerCtl("delete_user", user) }
        try Spawn.brokerCtl("set_permissions", "-p", sandbox.vhost, user, ".*", ".*", ".*")
        let url = sandbox.url.replacingOccurrences(of: "guest:guest@", with: "\(user):\(password)@")
        #expect(url.contains(password))

        try sandbox.start(["run", "--amqp-url", url, "--log-level", "trace"], output: "run.out")
        try sandbox.start(["services", "--amqp-url", url, "--log-level", "trace"], output: "services.out")
        try await Self.waitForQueues(sandbox, ["chronicle.orchestrator", "chronicle.hotel", "chronicle.flight"])
        // Standard output and error together.
        func chronicle(_ arguments: String...) throws -> (Spawn.Outcome, String) {
            try Spawn.capture(
                Sandbox.chronicle.path, arguments, environment: sandbox.environment, mergingErrors: true)
        }
        let (status, said) = try chronicle(
            "start-trip", "--wait", "--trip-id", "secret-1", "--amqp-url", url, "--log-level", "trace")
        #expect(status.succeeded, "\(said)")
        // A refused login, with the password one character off.
        let wrong = url.replacingOccurrences(of: password, with: password.dropLast() + "x")
        let (refusedStatus, refused) = try chronicle("start-trip", "--amqp-url", wrong, "--log-level", "trace")
        #expect(!refusedStatus.succeeded)
        #expect(refused.contains("refused the login"), "\(refused)")

        let everything =
            [said, refused] + sandbox.logs().values + [sandbox.read("run.out"), sandbox.read("services.out")]
        #expect(everything.joined().contains("secret-1"), "the run logged nothing to search")
        for text in everything {
            #expect(!text.contains(password), "the password shows in: \(text.prefix(300))")
            #expect(!text.contains(password.dropLast()), "the wrong password shows in: \(text.prefix(300))")
        }
    }

    /// Waits until the broker has consumers on `queues` (the processes are up).
    /// A sandbox with `chronicle run` and `chronicle services` started and consuming.
    static func processorAndServices() async throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.start(["run"], output: "run.out")
        try sandbox.start(["services"], output: "services.out")
        try await waitForQueues(sandbox, ["chronicle.orchestrator", "chronicle.hotel"])
        return sandbox
    }

    static func waitForQueues(_ sandbox: Sandbox, _ queues: [String]) async throws {
        // Bounded in time, not in tries: on a loaded machine one rabbitmqctl call can take seconds.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let listing =
                (try? Spawn.brokerCtl("list_queues", "-p", sandbox.vhost, "name", "consumers")) ?? ""
            let ready = queues.allSatisfy { queue in
                listing.split(separator: "\n").contains { line in
                    let fields = line.split(separator: "\t")
                    return fields.count == 2 && fields[0] == queue && (Int(fields[1]) ?? 0) > 0
                }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        // What each process said last, to tell a slow reconnect from a consumer that gave up.
        let said = sandbox.logs().sorted { $0.key < $1.key }.map { name, log in
            "\(name): \(log.split(separator: "\n").suffix(3).joined(separator: " | "))"
        }
        throw E2EFailure(
            "\(queues) have no consumers after 60 s; see \(sandbox.folder.path)\n" + said.joined(separator: "\n"))
    }
}
