import ArgumentParser
import Chronicle
import ChronicleAMQP
import Foundation
import Logging
import Synchronization
import TripBooking

/// `chronicle bench`: trip sagas per second through the real processes, with latency percentiles and the
/// processor's memory.
struct BenchTrips: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trips",
        abstract: "Trip sagas per second through chronicle run and instant services, with latency and memory.",
        discussion: """
            Starts `chronicle run` (a new store in a temporary folder, no booking delay) and `chronicle \
            services` (no latency, no failures) as child processes — the production code paths — then \
            publishes --trips StartTrips with at most --in-flight unfinished at once, and takes every outcome \
            from a queue of its own. Prints sagas per second, the latency from publishing a StartTrip to \
            receiving its trip.booked (p50, p95, p99), the processor's peak resident memory, the CPU time the \
            processor and the services spent per saga, the messages the broker carried per saga, and how busy \
            the machine's cores were meanwhile (where /proc/stat tells). With --waiting N it instead starts N \
            trips that park on a one-hour timer and prints the processor's memory and the store's bytes per \
            waiting trip. Use a broker (or vhost) where nothing else runs.
            """
    )

    @Option(parsing: .unconditional, help: "How many trips.")
    var trips = 20_000

    @Option(parsing: .unconditional, help: "At most this many trips started and not yet ended.")
    var inFlight = 500

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Start trips at this steady rate (per second) instead of as fast as --in-flight allows.",
            discussion: """
                An open-loop load, as users bring it: a trip's latency counts from the moment it was due to \
                start, so a publisher that falls behind shows in the figures. --in-flight still bounds the \
                trips unfinished at once.
                """))
    var rate: Double?

    @Option(
        parsing: .unconditional,
        help: "Start this many trips that wait an hour, and report memory and store size per waiting trip.")
    var waiting: Int?

    @Flag(
        help: ArgumentHelp(
            "Also print the latency of each hop of a trip (which process the time goes to).",
            discussion: """
                A queue of the bench's own sees a copy of every command and event; each hop is the time \
                from one message of a trip to the next (trip.start→hotel.reserve is the processor, \
                hotel.reserve→hotel.reserved the hotel service, each with its broker round trip). The copies \
                are load of their own (the broker routes every message twice): compare hops with each other, \
                and take the end-to-end latency from a run without --stages.
                """))
    var stages = false

    @Option(
        help: ArgumentHelp(
            "Also write each trip's latency to this file, as CSV.",
            discussion: """
                One row a trip, in the order they ended: when it was due to start (milliseconds since the run \
                began) and its latency in milliseconds. Plotted, it shows whether a high p99 comes from \
                a steady spread or from stretches of the run.
                """,
            valueName: "file"))
    var latencies: String?

    @Flag(help: "Print the figures as one JSON object.")
    var json = false

    @Option(help: "The processor's durability: full or normal.")
    var synchronous: SynchronousMode = .full

    @Flag(help: "Skip measuring the broker's ceiling (raw librabbitmq publish and consume loops).")
    var noCeiling = false

    @Flag(
        help: ArgumentHelp(
            "With --rate: also measure the broker's latency floor for a trip at the same rate (floor_* figures).",
            discussion: """
                After the run, the same number of trips at the same rate take a trip's six hops through the \
                same broker — persistent, confirmed messages through a topic exchange to durable queues — \
                carried by two minimal relays on librabbitmq in this process: one in the processor's place, \
                which writes and fdatasyncs a file for each batch it takes, one in the services'. Their latency \
                is the least this broker and disk give a trip at that rate; what Chronicle's has above it is \
                Chronicle's own. floor_relays_cpu_ms_per_saga is the relays' CPU time, to compare with the \
                processor's and the services'.
                """))
    var floor = false

    @OptionGroup var broker: BrokerOptions

    func validate() throws {
        guard trips > 0, inFlight > 0 else { throw ValidationError("--trips and --in-flight must be at least 1.") }
        if let waiting, waiting <= 0 { throw ValidationError("--waiting must be at least 1.") }
        if waiting != nil && (rate != nil || stages || latencies != nil) {
            throw ValidationError(
                "--rate, --stages and --latencies measure trips that end; --waiting parks them. Use one or the other."
            )
        }
        if let latencies {
            let parent = (latencies as NSString).deletingLastPathComponent
            let folder = parent.isEmpty ? "." : parent
            if !FileManager.default.isWritableFile(atPath: folder) {
                throw ValidationError(
                    "--latencies \(latencies): cannot write in \(folder); name a file in a folder that exists "
                        + "and is writable.")
            }
        }
        if floor && rate == nil {
            throw ValidationError(
                "--floor measures latency at a steady rate: give --rate too, e.g. --rate 900 --floor.")
        }
        if let rate, !(rate >= 1 && rate <= 1_000_000) {
            throw ValidationError("--rate must be a number of trips per second between 1 and 1000000, e.g. 800.")
        }
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(
            path: "chronicle-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = folder.appending(path: "chronicle.sqlite").path
        let parked = waiting != nil
        let processor = try Child.start(
            [
                "run", "--store", store, "--booking-delay", parked ? "3600s" : "0s", "--synchronous",
                synchronous.rawValue, "--log-level", "warning",
            ],
            url: broker.url,
            log: folder.appending(path: "run.log")
        )
        let services = try Child.start(
            ["services", "--latency", "0ms", "--ledger-dir", folder.path, "--log-level", "warning"],
            url: broker.url,
            log: folder.appending(path: "services.log")
        )
        defer {
            processor.terminate()
            services.terminate()
        }

        var topology = Topology.chronicle
        let outcomes = topology.addExclusiveQueue(prefix: "chronicle.bench", bindings: [(Topology.events, "trip.*")])
        let tap =
            stages
            ? topology.addExclusiveQueue(
                prefix: "chronicle.bench.tap", bindings: [(Topology.commands, "#"), (Topology.events, "#")])
            : nil
        let logger = Logger(label: "chronicle.bench", factory: { StreamLogHandler.standardError(label: $0) })
        let count = waiting ?? trips
        let report = try await withTransport(broker: broker, topology: topology, logger: logger) { transport in
            let deliveries = try await transport.consume(queue: outcomes, prefetch: 2_000)
            var copies: AsyncThrowingStream<[InboundMessage], any Error>?
            if let tap { copies = try await transport.consume(queue: tap, prefetch: 2_000) }
            let run = BenchRun(transport: transport, prefix: "bench-\(UUID().uuidString.prefix(6).lowercased())")
            try await run.warmUp(deliveries: deliveries, processor: processor, toTheEnd: !parked)
            if parked {
                return try await run.park(count, store: store, processor: processor)
            }
            return try await run.measure(
                count, inFlight: inFlight, rate: rate, deliveries: deliveries, copies: copies, processor: processor,
                services: services)
        }
        var figures = report
        if !parked && !noCeiling {
            // The broker's own ceiling, measured in this run: persistent confirmed publishes and consume+ack
            // through librabbitmq directly, 1,000 in flight, each alone; the lower of the two.
            var options = TransportBenchmark.Options()
            options.inFlight = [1_000]
            options.messages = 20_000
            options.queue = "chronicle.bench.ceiling"
            let raw = try await TransportBenchmark.run(
                endpoint: try AMQPEndpoint(url: broker.url, caFile: broker.caFile),
                options: options,
                logger: logger
            )
            if let ceiling = raw.measurements.first {
                let limit = min(ceiling.rawPublish, ceiling.rawConsume)
                let carried = (Double(figures["sagas_per_second"] ?? "") ?? 0) * Double(BenchRun.messagesPerSaga)
                figures.fields += [
                    ("broker_raw_publish_per_second", String(format: "%.0f", ceiling.rawPublish)),
                    ("broker_raw_consume_per_second", String(format: "%.0f", ceiling.rawConsume)),
                    ("ratio_to_ceiling", String(format: "%.2f", carried / limit)),
                ]
            }
        }
        var floorFailure: (any Error)?
        if let rate, floor {
            if isatty(STDERR_FILENO) == 1 {
                FileHandle.standardError.write(
                    Data("the broker's latency floor: \(count) trips at \(Int(rate))/s...\n".utf8))
            }
            do {
                let measured = try await LatencyFloor.run(
                    endpoint: try AMQPEndpoint(url: broker.url, caFile: broker.caFile), rate: rate, trips: count,
                    folder: folder)
                let milliseconds = measured.latencies.map { $0 * 1000 }.sorted()
                figures.fields += [
                    ("floor_sagas_per_second", String(format: "%.0f", Double(count) / measured.seconds)),
                    ("floor_latency_p50_ms", percentileText(milliseconds, 0.50)),
                    ("floor_latency_p95_ms", percentileText(milliseconds, 0.95)),
                    ("floor_latency_p99_ms", percentileText(milliseconds, 0.99)),
                    (
                        "floor_relays_cpu_ms_per_saga",
                        String(format: "%.3f", measured.relayCPUSeconds * 1000 / Double(count))
                    ),
                ]
            } catch {
                // The run's own figures still print; the command then fails with the floor's error.
                floorFailure = error
            }
        }
        if let latencies {
            let rows = figures.trips.map { String(format: "%.3f,%.3f\n", $0.due * 1000, $0.latency * 1000) }
            try ("due_ms,latency_ms\n" + rows.joined()).write(toFile: latencies, atomically: true, encoding: .utf8)
        }
        print(json ? figures.json : figures.text)
        if let floorFailure { throw CommandFailure("the latency floor could not be measured: \(floorFailure)") }
    }
}

/// The figures a bench run prints.
struct BenchReport: Sendable {
    var fields: [(String, String)] = []
    /// Each trip that ended, in that order: when it was due since the run began, and its latency (seconds).
    var trips: [(due: Double, latency: Double)] = []

    subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }

    var text: String { fields.map { "\(column($0.0, 34))\($0.1)" }.joined(separator: "\n") }

    var json: String {
        let object = Dictionary(uniqueKeysWithValues: fields.map { ($0.0, Double($0.1) as Any? ?? $0.1) })
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// One bench run: the publisher and the outcome reader.
struct BenchRun: Sendable {
    let transport: AMQPTransport
    let prefix: String

    func start(_ id: String) throws -> OutgoingMessage {
        try TripBookingApp.startMessage(TripBookingApp.sampleTrip(id), messageID: "start-\(id)", at: Date())
    }

    /// One trip end to end, so that every process is up and every queue declared before the clock starts; with
    /// `toTheEnd` false, only until the processor takes starts (parked trips never end).
    func warmUp(
        deliveries: AsyncThrowingStream<[InboundMessage], any Error>,
        processor: Process,
        toTheEnd: Bool = true
    ) async throws {
        let id = "\(prefix)-warm-up"
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            guard processor.isRunning else { throw CommandFailure("chronicle run exited; see its log") }
            do {
                // Unroutable until the processor has declared its queue.
                try await transport.publish([start(id)])
                break
            } catch  where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        guard toTheEnd else { return }
        let transport = self.transport
        let ended = try await withDeadline(.seconds(60)) { () -> Bool? in
            for try await batch in deliveries {
                try await transport.acknowledge(batch)
                if batch.contains(where: { $0.correlationID == id }) { return true }
            }
            return nil
        }
        guard ended == true else { throw CommandFailure("the warm-up trip did not end within 60 s") }
    }

    func measure(
        _ count: Int,
        inFlight: Int,
        rate: Double?,
        deliveries: AsyncThrowingStream<[InboundMessage], any Error>,
        copies: AsyncThrowingStream<[InboundMessage], any Error>?,
        processor: Process,
        services: Process
    ) async throws -> BenchReport {
        let hops = copies.map { _ in Hops() }
        let cpuBefore = (Child.cpuTime(processor.processIdentifier), Child.cpuTime(services.processIdentifier))
        let machineBefore = Child.machineCPU()
        var machineBusy: Double?
        let started = StartTimes()
        var latencies: [(due: Double, latency: Double)] = []
        latencies.reserveCapacity(count)
        let window = Window(limit: inFlight)
        let clock = ContinuousClock()
        let begin = clock.now
        var elapsed = Duration.zero
        var cpu = (0.0, 0.0)
        let ids = (0..<count).map { String(format: "\(prefix)-%06d", $0) }
        let progress = Progress(total: count)

        try await withThrowingTaskGroup(of: Void.self) { group in
            if let copies, let hops {
                group.addTask {
                    for try await batch in copies {
                        try await transport.acknowledge(batch)
                        hops.seen(batch, at: clock.now)
                    }
                }
            }
            group.addTask {
                var next = 0
                while next < ids.count {
                    var due = ids.count
                    if let rate {
                        // Trip i is due at begin + i / rate; those due now go together.
                        let now = clock.now
                        let first = begin + .seconds(Double(next) / rate)
                        if first > now {
                            try await clock.sleep(until: first)
                            continue
                        }
                        due = min(ids.count, Int(((now - begin).seconds * rate).rounded(.down)) + 1)
                    }
                    let room = await window.acquire(max: min(100, due - next))
                    let slice = next..<(next + room)
                    let now = clock.now
                    let starts = slice.map { index in
                        (id: ids[index], at: rate.map { begin + .seconds(Double(index) / $0) } ?? now)
                    }
                    started.record(starts)
                    hops?.started(starts)
                    try await transport.publish(try ids[slice].map(start))
                    next += room
                }
            }
            var ended = 0
            for try await batch in deliveries {
                try await transport.acknowledge(batch)
                let now = clock.now
                for message in batch {
                    guard let id = message.correlationID, let at = started.take(id)
                    else { continue }
                    latencies.append(((at - begin).seconds, (now - at).seconds))
                    ended += 1
                }
                await window.release(batch.count)
                progress.show(ended)
                if ended >= count { break }
            }
            elapsed = clock.now - begin
            cpu = (
                Child.cpuTime(processor.processIdentifier) - cpuBefore.0,
                Child.cpuTime(services.processIdentifier) - cpuBefore.1
            )
            if let before = machineBefore, let after = Child.machineCPU(), after.total > before.total {
                machineBusy = (after.busy - before.busy) / (after.total - before.total)
            }
            // The copies of the last trip.booked come with the originals; give them a moment (not counted above).
            if let hops { try await hops.waitForEnds(count, until: clock.now + .seconds(2)) }
            group.cancelAll()
        }
        progress.finish()
        let milliseconds = latencies.map { $0.latency * 1000 }.sorted()
        func percentile(_ p: Double) -> String { percentileText(milliseconds, p) }
        let achieved = Double(count) / elapsed.seconds
        var report = BenchReport()
        report.fields = [
            ("trips", "\(count)"),
            ("in_flight", "\(inFlight)"),
        ]
        if let rate { report.fields.append(("offered_sagas_per_second", String(format: "%.0f", rate))) }
        report.fields += [
            ("seconds", String(format: "%.2f", elapsed.seconds)),
            ("sagas_per_second", String(format: "%.0f", achieved)),
            ("latency_p50_ms", percentile(0.50)),
            ("latency_p95_ms", percentile(0.95)),
            ("latency_p99_ms", percentile(0.99)),
            (
                "processor_peak_rss_mb",
                String(format: "%.1f", Double(Child.memory(processor.processIdentifier, "VmHWM")) / 1024)
            ),
            ("processor_cpu_ms_per_saga", String(format: "%.3f", cpu.0 * 1000 / Double(count))),
            ("services_cpu_ms_per_saga", String(format: "%.3f", cpu.1 * 1000 / Double(count))),
            ("messages_per_saga", "\(Self.messagesPerSaga)"),
            ("broker_messages_per_second", String(format: "%.0f", achieved * Double(Self.messagesPerSaga))),
        ]
        if let machineBusy, let cores = machineBefore?.cores {
            report.fields += [
                ("machine_cores", "\(cores)"),
                ("machine_cpu_busy_percent", String(format: "%.0f", machineBusy * 100)),
            ]
        }
        if let hops { report.fields += hops.report() }
        report.trips = latencies
        return report
    }

    /// Messages the broker carries for one booked trip with instant services: StartTrip, ReserveHotel,
    /// HotelReserved, ReserveFlight, FlightReserved, TripBooked. The booking delay of zero fires in the pass
    /// that armed it, and the two attempts' timeout timers are held in the processor's memory and cancelled by
    /// the replies (`chronicle run --local-timers`): none of them reaches the broker.
    static let messagesPerSaga = 6

    func park(_ count: Int, store: String, processor: Process) async throws -> BenchReport {
        let ids = (0..<count).map { String(format: "\(prefix)-w%07d", $0) }
        let progress = Progress(total: count)
        var sent = 0
        for chunk in stride(from: 0, to: ids.count, by: 1_000) {
            try await transport.publish(try ids[chunk..<min(chunk + 1_000, ids.count)].map(start))
            sent = min(chunk + 1_000, ids.count)
            progress.show(sent)
        }
        progress.finish()
        // Wait until the processor has committed them all: the store stops growing.
        var last = -1
        var size = 0
        repeat {
            try await Task.sleep(for: .seconds(2))
            last = size
            size = Child.fileSize(store) + Child.fileSize(store + "-wal")
        } while size != last
        var report = BenchReport()
        let rss = Child.memory(processor.processIdentifier, "VmRSS")
        report.fields = [
            ("waiting_trips", "\(count)"),
            ("processor_rss_mb", String(format: "%.1f", Double(rss) / 1024)),
            (
                "processor_peak_rss_mb",
                String(format: "%.1f", Double(Child.memory(processor.processIdentifier, "VmHWM")) / 1024)
            ),
            ("store_bytes", "\(size)"),
            ("store_bytes_per_waiting_trip", String(format: "%.0f", Double(size) / Double(count))),
        ]
        return report
    }
}

/// When each trip was published.
final class StartTimes: Sendable {
    private let times = Mutex<[String: ContinuousClock.Instant]>([:])

    func record(_ starts: [(id: String, at: ContinuousClock.Instant)]) {
        times.withLock { for (id, instant) in starts { $0[id] = instant } }
    }

    func take(_ id: String) -> ContinuousClock.Instant? {
        times.withLock { $0.removeValue(forKey: id) }
    }
}

/// When each trip's messages passed by, from copies of all commands and events (`--stages`).
final class Hops: Sendable {
    private struct State {
        /// Per trip: when it was due to start, then each message's routing key and arrival, in order.
        var trips: [String: [(key: String, at: ContinuousClock.Instant)]] = [:]
        var ended = 0
    }
    private let state = Mutex(State())

    func started(_ starts: [(id: String, at: ContinuousClock.Instant)]) {
        state.withLock { for (id, at) in starts { $0.trips[id] = [("due", at)] } }
    }

    func seen(_ batch: [InboundMessage], at now: ContinuousClock.Instant) {
        state.withLock { state in
            for message in batch {
                guard let id = message.correlationID, state.trips[id] != nil else { continue }
                state.trips[id]?.append((message.routingKey, now))
                if message.routingKey.hasPrefix("trip."), message.routingKey != "trip.start" { state.ended += 1 }
            }
        }
    }

    /// Waits until the copies of `count` trips' ends were seen, or `deadline` passes.
    func waitForEnds(_ count: Int, until deadline: ContinuousClock.Instant) async throws {
        while state.withLock({ $0.ended }) < count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// p50 and p99 of each hop, in the order hops happen in a trip. Hops in fewer than 1 % of the trips are left
    /// out: copies from two publishers can reach the bench's queue in the other order now and then.
    func report() -> [(String, String)] {
        var durations: [String: [Double]] = [:]
        var offsets: [String: Double] = [:]
        let trips = state.withLock { $0.trips.values }
        for messages in trips {
            guard let due = messages.first?.at else { continue }
            for (from, to) in zip(messages, messages.dropFirst()) {
                let name = "\(from.key)->\(to.key)"
                durations[name, default: []].append((to.at - from.at).seconds * 1000)
                offsets[name, default: 0] += (from.at - due).seconds
            }
        }
        var fields: [(String, String)] = []
        durations = durations.filter { $0.value.count * 100 >= trips.count }
        for (name, values) in durations.sorted(by: {
            offsets[$0.key]! / Double($0.value.count) < offsets[$1.key]! / Double($1.value.count)
        }) {
            let sorted = values.sorted()
            fields += [
                ("hop_\(name)_p50_ms", percentileText(sorted, 0.50)),
                ("hop_\(name)_p99_ms", percentileText(sorted, 0.99)),
            ]
        }
        return fields
    }
}

/// The `p` percentile (nearest rank) of ascending `sorted`, with one decimal; 0 for none.
func percentileText(_ sorted: [Double], _ p: Double) -> String {
    guard !sorted.isEmpty else { return "0.0" }
    let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))
    return String(format: "%.1f", sorted[index])
}

/// Bounds the trips in flight.
actor Window {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { available = limit }

    /// Waits for room, then takes up to `max` places.
    func acquire(max: Int) async -> Int {
        while available == 0 { await withCheckedContinuation { waiters.append($0) } }
        let taken = Swift.min(max, available)
        available -= taken
        return taken
    }

    func release(_ count: Int) {
        available += count
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
    }
}

/// A progress bar on standard error.
struct Progress: Sendable {
    let total: Int
    let terminal = isatty(STDERR_FILENO) == 1

    func show(_ done: Int) {
        guard terminal, done % max(1, total / 200) == 0 || done == total else { return }
        let width = 40
        let filled = width * done / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// The bench's child processes.
enum Child {
    static func start(_ arguments: [String], url: String, log: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CHRONICLE_AMQP_URL"] = url
        process.environment = environment
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// A `/proc/PID/status` memory figure, in KiB (`VmRSS`, `VmHWM`).
    static func memory(_ pid: Int32, _ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// The CPU time (user and system) a process has used so far, in seconds.
    static func cpuTime(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        // After the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The machine's CPU time so far, in clock ticks summed over its cores: busy, and in all; and how many
    /// cores (`/proc/stat`). `nil` where there is no such file.
    static func machineCPU() -> (busy: Double, total: Double, cores: Int)? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        let lines = stat.split(separator: "\n")
        guard let line = lines.first, line.hasPrefix("cpu ") else { return nil }
        // user nice system idle iowait irq softirq steal (guest time is within user and nice): idle and iowait
        // are not busy, and neither is steal, time the hypervisor gave to others.
        let ticks = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
        guard ticks.count == 8 else { return nil }
        let total = ticks.reduce(0, +)
        let cores = lines.count { $0.hasPrefix("cpu") && $0.dropFirst(3).first?.isNumber == true }
        return (total - ticks[3] - ticks[4] - ticks[7], total, cores)
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}

extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
