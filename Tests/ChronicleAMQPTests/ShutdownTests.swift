import Chronicle
import ChronicleAMQP
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// Publishes one message once `go` is set, and keeps what came of it; it does not react to the shutdown, as the
/// processor finishing its batch does not.
final class LatePublisher: Service {
    let transport: AMQPTransport
    let go = Mutex(false)
    let result = Mutex<Result<Void, any Error>?>(nil)

    init(transport: AMQPTransport) { self.transport = transport }

    func run() async throws {
        while !go.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(20)) }
        let message = OutgoingMessage(
            id: "late-1", exchange: Topology.commands, routingKey: "test.late", type: "Late", correlationID: nil,
            timestamp: Date(), body: Data("{}".utf8))
        let outcome = await Result { try await transport.publish([message]) }
        result.withLock { $0 = outcome }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

extension BrokerTests {
    @Suite(.serialized, .timeLimit(.minutes(2)))
    struct ShutdownTests {
        @Test("a graceful shutdown ends while a service waits on a transport whose virtual host was deleted")
        func shutdownWithTheBrokerGone() async throws {
            try await Broker.withVirtualHost { vhost in
                var topology = Topology.chronicle
                topology.delays = nil
                topology.addQueue("late", boundTo: Topology.commands, routingKeys: ["test.late"])
                var configuration = try Broker.configuration(vhost: vhost, topology: topology)
                configuration.shutdownGracePeriod = .seconds(2)
                var logger = Logger(label: "chronicle.amqp.test")
                logger.logLevel = .critical
                let transport = AMQPTransport(configuration: configuration, logger: logger)
                let publisher = LatePublisher(transport: transport)
                let group = ServiceGroup(
                    services: [transport, TransportUser(publisher, of: transport, patience: .seconds(1))],
                    logger: logger)
                let ended = Mutex(false)
                let running = Task {
                    defer { ended.withLock { $0 = true } }
                    try await group.run()
                }
                for _ in 0..<500 where transport.connections == 0 { try await Task.sleep(for: .milliseconds(20)) }
                #expect(transport.connections == 1)

                // The virtual host goes: every reconnect is refused, and the publish waits for a connection.
                try Spawn.brokerCtl("delete_vhost", vhost)
                publisher.go.withLock { $0 = true }
                try await Task.sleep(for: .milliseconds(500))
                #expect(publisher.result.withLock { $0 } == nil, "the publish should still be waiting")

                await group.triggerGracefulShutdown()
                for _ in 0..<400 where !ended.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(50)) }
                #expect(ended.withLock { $0 }, "the group did not end within 20 s of the shutdown")
                // (If it hangs, cancelling closes the transport at once, so that the test itself ends.)
                running.cancel()
                _ = await running.result
                let outcome = try #require(publisher.result.withLock { $0 })
                #expect(throws: AMQPError.self) { try outcome.get() }
            }
        }
    }
}
