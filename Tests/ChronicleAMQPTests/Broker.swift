import Chronicle
import ChronicleAMQP
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// Every test that talks to the broker, one at a time: some restart the broker or drop its connections,
/// and the delay tests measure timing. Each test still has its own virtual host.
@Suite(.serialized) struct BrokerTests {}

/// The broker the integration tests use: `CHRONICLE_AMQP_URL`, else the local one `make test` starts.
///
/// Each test gets its own virtual host (made and removed with rabbitmqctl), so the fixed names of the wire
/// contract never collide between tests or runs.
enum Broker {
    static let url = ProcessInfo.processInfo.environment["CHRONICLE_AMQP_URL"] ?? "amqp://guest:guest@localhost:5672/"

    /// Runs a script of scripts/ (or an absolute path) and waits for it on a thread of its own, so the
    /// cooperative pool never blocks.
    static func script(_ name: String, _ arguments: String...) async throws {
        let executable = name.hasPrefix("/") ? name : Spawn.scripts.appending(path: name).path
        let (outcome, text) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(Spawn.Outcome, String), any Error>) in
            Thread { continuation.resume(with: Result { try Spawn.capture(executable, arguments) }) }.start()
        }
        guard outcome.succeeded else { throw TestFailure("\(name) \(arguments) ended \(outcome): \(text)") }
    }

    /// A fresh virtual host the default user may use, removed after `body`.
    static func withVirtualHost<T>(_ body: (String) async throws -> T) async throws -> T {
        let vhost = "chronicle-test-\(UUID().uuidString.prefix(8))"
        let endpoint = try AMQPEndpoint(url: url)
        try Spawn.brokerCtl("add_vhost", vhost)
        defer { _ = try? Spawn.brokerCtl("delete_vhost", vhost) }
        try Spawn.brokerCtl("set_permissions", "-p", vhost, endpoint.user, ".*", ".*", ".*")
        return try await body(vhost)
    }

    static func configuration(vhost: String, topology: Topology) throws -> AMQPTransport.Configuration {
        var endpoint = try AMQPEndpoint(url: url)
        endpoint.virtualHost = vhost
        var configuration = AMQPTransport.Configuration(endpoint: endpoint, topology: topology)
        configuration.heartbeat = .seconds(10)
        configuration.maximumBackoff = .seconds(1)
        configuration.initialConnectTimeout = .seconds(60)
        return configuration
    }

    /// Runs a transport for the duration of `body`, then cancels it.
    static func withTransport<T: Sendable>(
        _ configuration: AMQPTransport.Configuration,
        _ body: @escaping @Sendable (AMQPTransport) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "chronicle.amqp.test")
        logger.logLevel = ProcessInfo.processInfo.environment["CHRONICLE_TEST_LOG"] != nil ? .trace : .critical
        let transport = AMQPTransport(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await transport.run()
                return nil
            }
            group.addTask { try await body(transport) }
            while let result = try await group.next() {
                if let result {
                    group.cancelAll()
                    return result
                }
            }
            throw TestFailure("the transport stopped before the test finished")
        }
    }
}

extension Broker {
    /// What a fresh consumer of `queue` gets within `wait`: the messages left in it (not acked away).
    static func remaining(
        in queue: String,
        _ configuration: AMQPTransport.Configuration,
        wait: Duration = .milliseconds(500)
    ) async throws -> [InboundMessage] {
        try await withTransport(configuration) { transport in
            let collector = Collector(try await transport.consume(queue: queue, prefetch: 100))
            try await Task.sleep(for: wait)
            return collector.messages
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reads a consumer stream in the background and keeps what came, with the time it came.
final class Collector: Sendable {
    struct Arrival: Sendable {
        var message: InboundMessage
        var at: Date
    }
    private let state = Mutex<(arrivals: [Arrival], batches: Int, error: String?)>(([], 0, nil))
    private let reader = Mutex<Task<Void, Never>?>(nil)

    init(_ stream: AsyncThrowingStream<[InboundMessage], any Error>) {
        let task = Task { [weak self] in
            do {
                for try await batch in stream {
                    let now = Date()
                    guard let self else { return }
                    self.state.withLock {
                        $0.arrivals += batch.map { Arrival(message: $0, at: now) }
                        $0.batches += 1
                    }
                }
            } catch {
                self?.state.withLock { $0.error = "\(error)" }
            }
        }
        reader.withLock { $0 = task }
    }

    deinit { reader.withLock { $0?.cancel() } }

    var arrivals: [Arrival] { state.withLock { $0.arrivals } }
    var messages: [InboundMessage] { arrivals.map(\.message) }
    var batches: Int { state.withLock { $0.batches } }
    var error: String? { state.withLock { $0.error } }

    /// Waits until at least `count` messages came; throws after `timeout`.
    @discardableResult
    func wait(for count: Int, timeout: Duration) async throws -> [InboundMessage] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let messages = self.messages
            if messages.count >= count { return messages }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("\(messages.count) of \(count) messages came within \(timeout)")
    }

    func stop() { reader.withLock { $0?.cancel() } }
}

func message(
    _ id: String,
    to queue: String,
    exchange: String = "",
    headers: [String: String] = [:],
    deliverAt: Date? = nil
) -> OutgoingMessage {
    OutgoingMessage(
        id: id, exchange: exchange, routingKey: queue, type: "Test", correlationID: "trip-1",
        timestamp: Date(timeIntervalSince1970: 1_700_000_000), headers: headers, body: Data("{\"id\":\"\(id)\"}".utf8),
        deliverAt: deliverAt)
}
