import Chronicle
import Foundation
import Testing

@testable import ChronicleAMQP

extension BrokerTests {
    /// Delayed delivery through the TTL levels, on a real broker.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct DelayTests {
        static func topology() -> Topology {
            var topology = Topology.chronicle
            topology.addQueue("delayed")
            return topology
        }

        @Test func randomDelaysArriveOnTimeAndInOrder() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology())
                try await Broker.withTransport(configuration) { transport in
                    let collector = Collector(try await transport.consume(queue: "delayed", prefetch: 500))
                    let start = Date().addingTimeInterval(0.2)
                    var generator = SystemRandomNumberGenerator()
                    let delays = (0..<200).map { _ in Double.random(in: 0...5, using: &generator) }
                    // Longest first: a short delay published later must not wait behind it.
                    let messages = delays.enumerated().sorted { $0.element > $1.element }.map { index, delay in
                        message("d\(index)", to: "delayed", deliverAt: start.addingTimeInterval(delay))
                    }
                    try await transport.publish(messages)
                    let arrivals = try await collector.wait(for: 200, timeout: .seconds(15)).count
                    #expect(arrivals == 200)
                    let due = Dictionary(uniqueKeysWithValues: messages.map { ($0.id, $0.deliverAt!) })
                    var lateness: [Double] = []
                    for arrival in collector.arrivals {
                        let dueAt = try #require(due[arrival.message.messageID ?? ""])
                        let late = arrival.at.timeIntervalSince(dueAt)
                        lateness.append(late)
                        #expect(late >= 0, "\(arrival.message.messageID!) came \(-late) s early")
                        #expect(late <= 0.25, "\(arrival.message.messageID!) came \(late) s late")
                        #expect(arrival.message.exchange == "")
                        #expect(arrival.message.routingKey == "delayed")
                    }
                    // Due order: each message travels its own path through the levels, so two due a few
                    // milliseconds apart may swap; none may overtake one due more than `tolerance` before it.
                    let tolerance = 0.05
                    let order = collector.arrivals.map { due[$0.message.messageID!]! }
                    var latestDue = order[0]
                    var worstInversion = 0.0
                    for dueAt in order {
                        worstInversion = max(worstInversion, latestDue.timeIntervalSince(dueAt))
                        latestDue = max(latestDue, dueAt)
                    }
                    #expect(
                        worstInversion <= tolerance,
                        "a message came \(Int(worstInversion * 1000)) ms of due time after one due later")
                    if ProcessInfo.processInfo.environment["CHRONICLE_TEST_DELAYS"] != nil {
                        for arrival in collector.arrivals {
                            let dueAt = due[arrival.message.messageID!]!
                            print(
                                "due +\(Int(dueAt.timeIntervalSince(start) * 1000)) late \(Int(arrival.at.timeIntervalSince(dueAt) * 1000))"
                            )
                        }
                    }
                    lateness.sort()
                    print(
                        "delays: lateness median \(Int(lateness[100] * 1000)) ms, "
                            + "p99 \(Int(lateness[197] * 1000)) ms, max \(Int(lateness[199] * 1000)) ms, "
                            + "worst order inversion \(Int(worstInversion * 1000)) ms")
                }
            }
        }

        @Test func aDelayedMessageForAnUndeclaredQueueIsDeadLetteredNotDropped() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology())
                try await Broker.withTransport(configuration) { transport in
                    let dead = Collector(try await transport.consume(queue: Topology.deadLetter, prefetch: 10))
                    try await transport.publish([
                        message("orphan", to: "nobody-declared-this", deliverAt: Date().addingTimeInterval(0.3))
                    ])
                    let copy = try #require(try await dead.wait(for: 1, timeout: .seconds(10)).first)
                    #expect(copy.messageID == "orphan")
                    #expect(copy.routingKey == "nobody-declared-this")
                }
            }
        }

        @Test func delaysMustTargetAQueueAndStayInRange() async throws {
            try await Broker.withVirtualHost { vhost in
                let configuration = try Broker.configuration(vhost: vhost, topology: Self.topology())
                try await Broker.withTransport(configuration) { transport in
                    let later = Date().addingTimeInterval(60)
                    await #expect(throws: AMQPError.self) {
                        try await transport.publish([
                            message("x", to: "trip.start", exchange: Topology.commands, deliverAt: later)
                        ])
                    }
                    await #expect(throws: AMQPError.self) {
                        try await transport.publish([
                            message("y", to: "delayed", deliverAt: Date().addingTimeInterval(3 * 365 * 86_400))
                        ])
                    }
                    // A year is in range.
                    try await transport.publish([
                        message("z", to: "delayed", deliverAt: Date().addingTimeInterval(366 * 86_400))
                    ])
                }
            }
        }
    }
}

/// The delay levels' arithmetic, without a broker.
@Suite struct DelayLevelsTests {
    @Test func levelsReachMoreThanAYear() {
        let levels = DelayLevels()
        #expect(levels.maximumMilliseconds >= 366 * 86_400 * 1000)
        #expect(levels.name(level: 0) == "chronicle.delay.00")
        #expect(levels.name(level: 35) == "chronicle.delay.35")
    }

    @Test func aDelayEntersAtItsHighestBitAndCarriesItsBitsAndQueue() {
        let levels = DelayLevels()
        let (exchange, key) = levels.route(milliseconds: 5, queue: "chronicle.orchestrator")
        #expect(exchange == "chronicle.delay.02")
        #expect(key == String(repeating: "0.", count: 33) + "1.0.1.chronicle.orchestrator")
        #expect(levels.destination(ofRoutingKey: key) == "chronicle.orchestrator")
        #expect(levels.destination(ofRoutingKey: "trip.start") == nil)
        let year = UInt64(366 * 86_400 * 1000)
        #expect(levels.route(milliseconds: year, queue: "q").exchange == "chronicle.delay.34")
    }

    @Test func everyQueueOfTheTopologyCanReceiveDelayedMessages() {
        var topology = Topology.chronicle
        topology.addQueue("chronicle.orchestrator", boundTo: Topology.commands, routingKeys: ["trip.start"])
        let expanded = topology.expanded
        #expect(expanded.queues.count == 2 + 36)
        let level3 = expanded.queues.first { $0.name == "chronicle.delay.03" }
        #expect(level3?.arguments["x-message-ttl"] == .int(8))
        #expect(level3?.arguments["x-dead-letter-exchange"] == .string("chronicle.delay.02"))
        #expect(level3?.arguments["x-dead-letter-strategy"] == .string("at-least-once"))
        #expect(
            expanded.bindings.contains {
                $0.exchange == "chronicle.delay.deliver" && $0.destination == .queue("chronicle.orchestrator")
            })
    }
}
