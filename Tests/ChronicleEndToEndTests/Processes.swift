import ChronicleAMQP
import Foundation
import Logging
import TestSupport
import Testing

import struct Chronicle.InboundMessage
import struct Chronicle.OutgoingMessage

/// Starts and stops the `chronicle` binary and other commands, in a virtual host and a folder of their own.
final class Sandbox: @unchecked Sendable {
    // @unchecked: `children` is only touched by the test's own task.
    let vhost = "chronicle-e2e-\(UUID().uuidString.prefix(8).lowercased())"
    let folder: URL
    let url: String
    /// The processor's store; a test may move it (onto a small disk, say) before starting `chronicle run`.
    var store: String
    private var children: [Process] = []

    init() throws {
        folder = FileManager.default.temporaryDirectory.appending(path: vhost)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        store = folder.appending(path: "chronicle.sqlite").path
        let base = ProcessInfo.processInfo.environment["CHRONICLE_AMQP_URL"] ?? "amqp://guest:guest@localhost:5672/"
        let root = base.split(separator: "/", omittingEmptySubsequences: false).prefix(3).joined(separator: "/")
        url = "\(root)/\(vhost)"
        try Spawn.brokerCtl("add_vhost", vhost)
        try Spawn.brokerCtl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    }

    deinit {
        for child in children where child.isRunning { child.terminate() }
        // CHRONICLE_KEEP_SANDBOX=1 keeps the vhost and the folder, to look into a failure.
        guard ProcessInfo.processInfo.environment["CHRONICLE_KEEP_SANDBOX"] == nil else { return }
        _ = try? Spawn.brokerCtl("delete_vhost", vhost)
        try? FileManager.default.removeItem(at: folder)
    }

    /// `chronicle` beside the test binary.
    static let chronicle: URL = {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        return folder.appending(path: "chronicle")
    }()

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CHRONICLE_AMQP_URL"] = url
        environment["CHRONICLE_STORE"] = store
        environment["CHRONICLE_LEDGER_DIR"] = folder.path
        return environment
    }

    /// Starts `chronicle arguments…` in the background; its standard output goes to `output` in the folder.
    @discardableResult
    func start(_ arguments: [String], output: String) throws -> Process {
        let process = Process()
        process.executableURL = Self.chronicle
        process.arguments = arguments
        process.environment = environment
        let path = folder.appending(path: output).path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let log = folder.appending(path: output + ".err").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        children.append(process)
        return process
    }

    /// Runs `chronicle arguments…` to its end; returns its exit status and standard output.
    func chronicle(_ arguments: String...) throws -> (status: Int32, output: String) {
        try Self.capture(Self.chronicle.path, arguments, environment: environment)
    }

    func read(_ output: String) -> String {
        (try? String(contentsOf: folder.appending(path: output), encoding: .utf8)) ?? ""
    }

    /// Publishes lines of JSON to `exchange` with `routingKey` through amqp-publish (Debian's amqp-tools), one
    /// message a line, with no type, message id or correlation id: a client Chronicle did not write.
    func amqpPublish(exchange: String, routingKey: String, lines: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/amqp-publish")
        process.arguments = ["--url", url, "-e", exchange, "-r", routingKey, "-p", "-C", "application/json", "-l"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "amqp-publish failed")
    }

    /// As ``amqpPublish(exchange:routingKey:lines:)``, but tries again while the broker refuses (it may be
    /// restarting); a start sent twice starts one trip. Returns how many tries it took.
    @discardableResult
    func amqpPublishPersistently(exchange: String, routingKey: String, lines: [String]) async throws -> Int {
        // From a file, not a pipe: an amqp-publish that cannot connect exits unread, and a write to its pipe
        // would raise SIGPIPE in the test.
        let file = folder.appending(path: "publish-\(UUID().uuidString).jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        for attempt in 1...120 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/amqp-publish")
            process.arguments = ["--url", url, "-e", exchange, "-r", routingKey, "-p", "-C", "application/json", "-l"]
            process.standardInput = try FileHandle(forReadingFrom: file)
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus == 0 { return attempt }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw E2EFailure("amqp-publish kept failing for 60 s")
    }

    /// Stops a background process with SIGTERM and waits for it; returns its exit status.
    func stop(_ process: Process) async -> Int32 {
        process.terminate()
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? -1 : process.terminationStatus
    }

    static func capture(_ executable: String, _ arguments: [String], environment: [String: String]?) throws -> (
        Int32, String
    ) {
        let (outcome, output) = try Spawn.capture(
            executable, arguments, environment: environment, mergingErrors: false)
        switch outcome {
        case .exited(let status): return (status, output)
        case .signalled(let signal): return (128 + signal, output)
        case .unknown: return (-1, output)
        }
    }
}

// MARK: - Faults, counts and raw AMQP, for the fault and fuzz suites

extension Sandbox {
    /// Kills `process` with SIGKILL — no shutdown, no flush — and waits for it to be gone.
    func kill(_ process: Process) async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        for _ in 0..<400 where process.isRunning { try? await Task.sleep(for: .milliseconds(25)) }
    }

    /// Runs `scripts/broker.sh action` (start, stop or restart). The broker is the node's: every vhost on it
    /// is disturbed, so only serialized suites that run alone may call it.
    static func broker(_ action: String) throws {
        let script = Spawn.scripts.appending(path: "broker.sh").path
        let (outcome, said) = try Spawn.capture(script, [action])
        // Reaped by someone else: the script's last line says how it ended.
        let succeeded = outcome == .unknown ? said.contains(" is up") : outcome.succeeded
        guard succeeded || action == "stop" else {
            throw E2EFailure("scripts/broker.sh \(action) ended \(outcome): \(said)")
        }
    }

    /// Each queue of the vhost: messages ready and messages delivered but not yet acknowledged.
    func queues() throws -> [String: (ready: Int, unacknowledged: Int)] {
        let listing = try Spawn.brokerCtl(
            "list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged")
        var queues: [String: (ready: Int, unacknowledged: Int)] = [:]
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            guard fields.count == 3, let ready = Int(fields[1]), let unacknowledged = Int(fields[2]) else { continue }
            queues[String(fields[0])] = (ready, unacknowledged)
        }
        return queues
    }

    /// Every trip in the store and its status (running, completed, failed), from `chronicle list`.
    func trips() throws -> [String: String] {
        let (status, listing) = try chronicle("list", "--limit", "1000000")
        guard status == 0 else { throw E2EFailure("chronicle list failed: \(listing)") }
        var trips: [String: String] = [:]
        for line in listing.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 3 { trips[String(fields[0])] = String(fields[2]) }
        }
        return trips
    }

    /// Standard error of every process this sandbox started, by file name.
    func logs() -> [String: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return Dictionary(uniqueKeysWithValues: names.filter { $0.hasSuffix(".err") }.map { ($0, read($0)) })
    }

    /// Runs `body` with an AMQP connection of the sandbox's own (no topology declared), then closes it.
    func withTransport<T: Sendable>(_ body: @Sendable (AMQPTransport) async throws -> T) async throws -> T {
        var configuration = try AMQPTransport.Configuration(url: url, topology: Topology())
        configuration.shutdownGracePeriod = .seconds(2)
        var logger = Logger(label: "chronicle.tests")
        logger.logLevel = .warning
        let transport = AMQPTransport(configuration: configuration, logger: logger)
        async let running: Void = transport.run()
        do {
            let result = try await body(transport)
            transport.shutdown()
            try await running
            return result
        } catch {
            transport.shutdown()
            try? await running
            throw error
        }
    }

    /// Takes (and acknowledges) every message in `chronicle.dead-letter`; their reasons are in the header
    /// `x-chronicle-dead-letter-reason`.
    func takeDeadLetters(within limit: Duration = .seconds(60)) async throws -> [InboundMessage] {
        let expected = try queues()["chronicle.dead-letter"].map { $0.ready + $0.unacknowledged } ?? 0
        guard expected > 0 else { return [] }
        return try await withTransport { transport in
            let stream = try await transport.consume(queue: "chronicle.dead-letter", prefetch: 1_000)
            return try await withThrowingTaskGroup(of: [InboundMessage]?.self) { group in
                group.addTask {
                    var taken: [InboundMessage] = []
                    for try await batch in stream {
                        taken += batch
                        try await transport.acknowledge(batch)
                        if taken.count >= expected { break }
                    }
                    return taken
                }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else {
                    throw E2EFailure("chronicle.dead-letter did not hand out its \(expected) messages within \(limit)")
                }
                return first
            }
        }
    }

    /// Publishes `messages` through a connection of the sandbox's own, with publisher confirms.
    func publish(_ messages: [OutgoingMessage]) async throws {
        try await withTransport { transport in
            for chunk in stride(from: 0, to: messages.count, by: 500) {
                try await transport.publish(Array(messages[chunk..<min(chunk + 500, messages.count)]))
            }
        }
    }
}

struct E2EFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A StartTrip body as a client would write it.
func startTrip(_ id: String, city: String = "Lisbon", nights: Int = 3) -> String {
    #"{"tripId":"\#(id)","customerId":"c-\#(id)","hotel":{"city":"\#(city)","checkIn":"2027-05-01","nights":\#(nights)},"flight":{"from":"LHR","to":"LIS","date":"2027-05-01"}}"#
}
