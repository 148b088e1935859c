import Chronicle
import ChronicleAMQP
import Foundation
import Synchronization
import Testing

extension BrokerTests {
    /// Broker restarts and dropped connections. Serialized, and apart from the other suites' timing-sensitive
    /// tests only by running one at a time: they stop the broker or close every connection of their vhost.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct RecoveryTests {
        @Test func delayedMessagesSurviveABrokerRestart() async throws {
            try await Broker.withVirtualHost { vhost in
                var topology = Topology.chronicle
                topology.addQueue("delayed")
                let configuration = try Broker.configuration(vhost: vhost, topology: topology)
                try await Broker.withTransport(configuration) { transport in
                    let collector = Collector(try await transport.consume(queue: "delayed", prefetch: 1000))
                    let start = Date()
                    var generator = SystemRandomNumberGenerator()
                    let messages = (0..<1000).map { index in
                        message(
                            "r\(index)", to: "delayed",
                            deliverAt: start.addingTimeInterval(Double.random(in: 3...12, using: &generator)))
                    }
                    try await transport.publish(messages)
                    try await Broker.script("broker.sh", "restart")
                    print("restart: broker restarted; \(collector.messages.count) delayed messages came before")
                    let due = Dictionary(uniqueKeysWithValues: messages.map { ($0.id, $0.deliverAt!) })
                    var seen = Set<String>()
                    var acked = 0
                    let deadline = ContinuousClock.now + .seconds(60)
                    while seen.count < 1000 && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(100))
                        let arrivals = collector.arrivals
                        for arrival in arrivals[acked...] {
                            let id = arrival.message.messageID ?? ""
                            seen.insert(id)
                            let early = try #require(due[id]).timeIntervalSince(arrival.at)
                            #expect(early <= 0, "\(id) came \(early) s early")
                        }
                        try await transport.acknowledge(arrivals[acked...].map(\.message))
                        acked = arrivals.count
                    }
                    #expect(seen.count == 1000, "\(1000 - seen.count) delayed messages were lost in the restart")
                    #expect(transport.connections >= 2, "the transport never reconnected")
                }
            }
        }

        @Test func closedConnectionsDuringAPublishLoopLoseNothing() async throws {
            try await Broker.withVirtualHost { vhost in
                var topology = Topology.chronicle
                topology.delays = nil
                topology.addQueue("loop")
                let configuration = try Broker.configuration(vhost: vhost, topology: topology)
                try await Broker.withTransport(configuration) { transport in
                    let collector = Collector(try await transport.consume(queue: "loop", prefetch: 200))
                    let closed = Counter()
                    let published = Counter()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // Every publish returns only when confirmed, across the reconnects. Publishing goes on
                            // until the connection was dropped twice.
                            var next = 0
                            while closed.value < 2 || next < 2_000 {
                                try await transport.publish((next..<next + 50).map { message("c\($0)", to: "loop") })
                                next += 50
                                published.value = next
                                try await Task.sleep(for: .milliseconds(5))
                            }
                        }
                        group.addTask {
                            for _ in 0..<2 {
                                try await Task.sleep(for: .milliseconds(300))
                                try await Broker.script(
                                    "broker.sh", "ctl", "close_all_connections", "-p", vhost, "test: connection dropped"
                                )
                                closed.value += 1
                            }
                        }
                        // Ack what arrives, as a processor would; acks of a dropped connection are skipped.
                        group.addTask {
                            var acked = 0
                            let deadline = ContinuousClock.now + .seconds(60)
                            while closed.value < 2
                                || Set(collector.messages.compactMap(\.messageID)).count
                                    < published.value
                            {
                                guard ContinuousClock.now < deadline else {
                                    throw TestFailure("not every message came within 60 s")
                                }
                                try await Task.sleep(for: .milliseconds(20))
                                let messages = collector.messages
                                try await transport.acknowledge(Array(messages[acked...]))
                                acked = messages.count
                            }
                        }
                        try await group.waitForAll()
                    }
                    let total = published.value
                    let ids = collector.messages.compactMap(\.messageID)
                    #expect(Set(ids) == Set((0..<total).map { "c\($0)" }))
                    #expect(transport.connections >= 3, "the connection was not dropped twice")
                    print(
                        "close_all_connections: \(ids.count - total) duplicates, \(transport.connections) connections")
                }
            }
        }
    }
}

/// An integer shared between the tasks of a test.
final class Counter: Sendable {
    private let state = Mutex(0)
    var value: Int {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
