import Chronicle
import ChronicleAMQP
import Foundation
import Logging
import Testing

extension BrokerTests {
    /// The transport against a real broker. Serialized: some tests restart the broker or close its connections.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct TransportTests {
        /// The wire contract plus the queues a test uses, without delay levels unless asked.
        static func topology(queues: [String], delays: Bool = false) -> Topology {
            var topology = Topology.chronicle
            if !delays { topology.delays = nil }
            for queue in queues { topology.addQueue(queue, boundTo: Topology.commands, routingKeys: ["test.\(queue)"]) }
            return topology
        }

        @Test func roundTripKeepsEveryPropertyAndHeader() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["rt"]))
                try await Broker.withTransport(configuration) { transport in
                    let collector = Collector(try await transport.consume(queue: "rt", prefetch: 10))
                    let sent = OutgoingMessage(
                        id: "m-1", exchange: Topology.commands, routingKey: "test.rt", type: "ReserveHotel",
                        correlationID: "trip-42", timestamp: Date(timeIntervalSince1970: 1_700_000_123),
                        headers: ["attempt": "2", "x-call-id": "call-7", "unicode": "héllo ✓"],
                        body: Data("{\"city\":\"Lyon\"}".utf8))
                    try await transport.publish([sent])
                    let received = try #require(try await collector.wait(for: 1, timeout: .seconds(5)).first)
                    #expect(received.messageID == "m-1")
                    #expect(received.type == "ReserveHotel")
                    #expect(received.correlationID == "trip-42")
                    #expect(received.contentType == "application/json")
                    #expect(received.timestamp == Date(timeIntervalSince1970: 1_700_000_123))
                    #expect(received.headers == sent.headers)
                    #expect(received.body == sent.body)
                    #expect(received.exchange == Topology.commands)
                    #expect(received.routingKey == "test.rt")
                    #expect(!received.redelivered)
                    try await transport.acknowledge([received])
                }
            }
        }

        /// Publishes and acknowledgements are held back (TCP_CORK) until the end of the connection thread's round;
        /// one left held would wait for the kernel's 200 ms ceiling. Forty one-at-a-time round trips (publish,
        /// confirm, delivery, acknowledgement, and the next) take a few milliseconds each when every round lets
        /// its writes go, and at least 8 s when publishes or acknowledgements wait for the ceiling.
        @Test func nothingWrittenIsHeldBack() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["ping"]))
                try await Broker.withTransport(configuration) { transport in
                    let collector = Collector(try await transport.consume(queue: "ping", prefetch: 1))
                    let start = ContinuousClock.now
                    for round in 0..<40 {
                        try await transport.publish([message("ping-\(round)", to: "ping")])
                        let received = try await collector.wait(for: round + 1, timeout: .seconds(5))
                        try await transport.acknowledge([received[round]])
                    }
                    let elapsed = ContinuousClock.now - start
                    #expect(elapsed < .seconds(4), "40 round trips took \(elapsed)")
                }
            }
        }

        @Test func tenThousandPipelinedPublishesAreAllConfirmed() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["bulk"]))
                try await Broker.withTransport(configuration) { transport in
                    // 20 concurrent callers of 500 messages each share the window of 1,000 unconfirmed.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for caller in 0..<20 {
                            group.addTask {
                                try await transport.publish((0..<500).map { message("\(caller)-\($0)", to: "bulk") })
                            }
                        }
                        try await group.waitForAll()
                    }
                    let collector = Collector(try await transport.consume(queue: "bulk", prefetch: 1000))
                    var seen = Set<String>()
                    while seen.count < 10_000 {
                        let messages = try await collector.wait(for: seen.count + 1, timeout: .seconds(20))
                        let fresh = messages.dropFirst(seen.count)
                        seen.formUnion(fresh.compactMap(\.messageID))
                        try await transport.acknowledge(Array(fresh))
                    }
                    #expect(seen.count == 10_000)
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(collector.messages.count == 10_000, "more messages than were published")
                }
            }
        }

        @Test func unroutableAndUnknownExchangeAreErrors() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["q"]))
                try await Broker.withTransport(configuration) { transport in
                    await #expect(throws: AMQPError.self) {
                        try await transport.publish([message("lost", to: "nobody.listens", exchange: Topology.commands)]
                        )
                    }
                    do {
                        try await transport.publish([message("lost", to: "nobody.listens", exchange: Topology.commands)]
                        )
                    } catch let error as AMQPError {
                        #expect(error.code == .unroutable)
                        #expect(error.description.contains("nobody.listens"))
                    }
                    do {
                        try await transport.publish([message("x", to: "q", exchange: "no-such-exchange")])
                        Issue.record("publishing to a missing exchange succeeded")
                    } catch let error as AMQPError {
                        #expect(error.code == .channelClosed)
                    }
                    // The channel is reopened: publishing goes on.
                    try await transport.publish([message("ok", to: "test.q", exchange: Topology.commands)])
                }
            }
        }

        /// librabbitmq refuses a short string over 255 bytes only when it encodes the frame, with the status of a
        /// broken connection: such a message once made the transport reconnect again and again.
        @Test func aPropertyOverAMQPsLimitFailsThatMessageOnly() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["q"]))
                try await Broker.withTransport(configuration) { transport in
                    var long = message("long", to: "test.q", exchange: Topology.commands)
                    long.correlationID = String(repeating: "é", count: 128)
                    do {
                        try await transport.publish([long])
                        Issue.record("a 256-byte correlation_id was published")
                    } catch let error as AMQPError {
                        #expect(error.code == .invalidMessage)
                        #expect(error.description.contains("correlation_id is 256 bytes"), "\(error)")
                    }
                    try await transport.publish([message("ok", to: "test.q", exchange: Topology.commands)])
                    #expect(transport.connections == 1)
                }
            }
        }

        @Test func nackedPublishIsAnError() async throws {
            try await Broker.withVirtualHost { vhost in
                var topology = Self.topology(queues: [])
                topology.queues.append(
                    Topology.Queue(
                        "full", kind: .classic,
                        arguments: ["x-max-length": .int(1), "x-overflow": .string("reject-publish")]))
                let configuration = try Broker.configuration(vhost: vhost, topology: topology)
                try await Broker.withTransport(configuration) { transport in
                    try await transport.publish([message("first", to: "full")])
                    do {
                        try await transport.publish([message("second", to: "full")])
                        Issue.record("a publish to a full queue was confirmed")
                    } catch let error as AMQPError {
                        #expect(error.code == .nacked)
                    }
                }
            }
        }

        @Test func prefetchIsHonoured() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["pf"]))
                try await Broker.withTransport(configuration) { transport in
                    try await transport.publish((0..<50).map { message("p\($0)", to: "pf") })
                    let collector = Collector(try await transport.consume(queue: "pf", prefetch: 5))
                    let first = try await collector.wait(for: 5, timeout: .seconds(5))
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(collector.messages.count == 5, "more than the prefetch came before any ack")
                    try await transport.acknowledge(Array(first.prefix(5)))
                    try await collector.wait(for: 10, timeout: .seconds(5))
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(collector.messages.count == 10)
                    #expect(collector.messages.map(\.messageID) == (0..<10).map { "p\($0)" })
                }
            }
        }

        @Test func unackedDeliveriesComeAgainAfterTheConsumerDies() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["rd"]))
                let stale = try await Broker.withTransport(configuration) { transport in
                    try await transport.publish([message("once", to: "rd")])
                    let collector = Collector(try await transport.consume(queue: "rd", prefetch: 10))
                    let first = try #require(try await collector.wait(for: 1, timeout: .seconds(5)).first)
                    #expect(!first.redelivered)
                    return first  // not acked: the transport is cancelled with it outstanding
                }
                try await Broker.withTransport(configuration) { transport in
                    let collector = Collector(try await transport.consume(queue: "rd", prefetch: 10))
                    let again = try #require(try await collector.wait(for: 1, timeout: .seconds(5)).first)
                    #expect(again.messageID == "once")
                    #expect(again.redelivered)
                    // An ack for the dead consumer's delivery is skipped rather than acking something else.
                    try await transport.acknowledge([stale])
                    try await transport.acknowledge([again])
                }
                #expect(try await Broker.remaining(in: "rd", configuration).isEmpty, "the ack was lost")
            }
        }

        @Test func deadLetterKeepsTheReason() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["in"]))
                try await Broker.withTransport(configuration) { transport in
                    try await transport.publish([message("bad", to: "test.in", exchange: Topology.commands)])
                    let input = Collector(try await transport.consume(queue: "in", prefetch: 10))
                    let bad = try #require(try await input.wait(for: 1, timeout: .seconds(5)).first)
                    try await transport.deadLetter(bad, reason: "cannot decode StartTrip: missing tripId")
                    let dead = Collector(try await transport.consume(queue: Topology.deadLetter, prefetch: 10))
                    let copy = try #require(try await dead.wait(for: 1, timeout: .seconds(5)).first)
                    #expect(copy.messageID == "bad")
                    #expect(copy.body == bad.body)
                    #expect(copy.headers[ChronicleHeader.deadLetterReason] == "cannot decode StartTrip: missing tripId")
                    #expect(copy.headers[ChronicleHeader.deadLetterExchange] == Topology.commands)
                    #expect(copy.headers[ChronicleHeader.deadLetterRoutingKey] == "test.in")
                }
                #expect(try await Broker.remaining(in: "in", configuration).isEmpty, "the original was not acked")
            }
        }

        @Test func gracefulShutdownLetsWhatWasHandedOutBeAckedThenCloses() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: ["gs"]))
                var logger = Logger(label: "chronicle.amqp.test")
                logger.logLevel = .critical
                let transport = AMQPTransport(configuration: configuration, logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await transport.run() }
                    try await transport.publish([message("g1", to: "gs"), message("g2", to: "gs")])
                    var received: [InboundMessage] = []
                    for try await batch in try await transport.consume(queue: "gs", prefetch: 1) {
                        received += batch
                        // Shut down while holding one delivery: the stream ends, the ack still goes through.
                        transport.shutdown()
                    }
                    #expect(received.map(\.messageID) == ["g1"], "deliveries kept coming after the shutdown")
                    try await transport.acknowledge(received)
                    try await group.waitForAll()  // run() returns once nothing is outstanding
                    // An ack does not wait for its frame, but one handed to a stopped transport is refused, not
                    // dropped in silence.
                    await #expect(throws: AMQPError.self) { try await transport.acknowledge(received) }
                }
                await #expect(throws: AMQPError.self) { try await transport.publish([message("late", to: "gs")]) }
                let left = try await Broker.remaining(in: "gs", configuration)
                #expect(left.map(\.messageID) == ["g2"], "the acked delivery came again, or g2 was lost")
            }
        }

        @Test func connectionErrorsNeverShowThePassword() async throws {
            var refused = try Broker.configuration(vhost: "/", topology: Topology())
            refused.endpoint.password = "s3cret-pw"
            refused.endpoint.port = 1
            refused.initialConnectTimeout = .zero
            var badLogin = try Broker.configuration(vhost: "/", topology: Topology())
            badLogin.endpoint.password = "s3cret-pw"
            for (configuration, code) in [
                (refused, AMQPError.Code.connectionFailed), (badLogin, .authenticationFailed),
            ] {
                var logger = Logger(label: "chronicle.amqp.test")
                logger.logLevel = .critical
                let transport = AMQPTransport(configuration: configuration, logger: logger)
                do {
                    try await transport.run()
                    Issue.record("connected with a wrong port or password")
                } catch let error as AMQPError {
                    #expect(error.code == code)
                    #expect(!error.description.contains("s3cret"), "\(error)")
                }
            }
        }

        @Test func consumingAMissingQueueThrows() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology(queues: []))
                try await Broker.withTransport(configuration) { transport in
                    do {
                        _ = try await transport.consume(queue: "missing", prefetch: 1)
                        Issue.record("consuming a missing queue succeeded")
                    } catch let error as AMQPError {
                        #expect(error.code == .consumeFailed)
                    }
                }
            }
        }
    }
}
