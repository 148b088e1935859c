import Foundation
import TestSupport
import Testing

@testable import ChronicleAMQP

extension BrokerTests {
    /// `chronicle bench trips --floor`: a trip's six hops through minimal librabbitmq relays.
    @Suite(.timeLimit(.minutes(2)))
    struct LatencyFloorTests {
        /// A fresh folder for the processor relay's file, removed after `body`.
        static func withFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
            let folder = FileManager.default.temporaryDirectory.appending(path: "floor-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            return try await body(folder)
        }

        static func endpoint(_ vhost: String) throws -> AMQPEndpoint {
            var endpoint = try AMQPEndpoint(url: Broker.url)
            endpoint.virtualHost = vhost
            return endpoint
        }

        /// What is left in `vhost` of the floor's queues and exchange (named after `prefix`).
        static func leftovers(_ vhost: String, _ prefix: String) throws -> String {
            let queues = try Spawn.brokerCtl("list_queues", "-p", vhost, "name")
            let exchanges = try Spawn.brokerCtl("list_exchanges", "-p", vhost, "name")
            return (queues + exchanges).split(separator: "\n").filter { $0.contains(prefix) }.joined(separator: " ")
        }

        @Test("every trip ends, timed from when it was due, and the floor leaves nothing behind")
        func tripsEnd() async throws {
            try await Broker.withVirtualHost { vhost in
                try await Self.withFolder { folder in
                    let result = try await LatencyFloor.run(
                        endpoint: try Self.endpoint(vhost), rate: 500, trips: 250, folder: folder, prefix: "test.floor")
                    #expect(result.latencies.count == 250)
                    #expect(result.latencies.allSatisfy { $0 > 0 && $0 < 10 }, "\(result.latencies.max() ?? 0)")
                    // 250 trips due over half a second end in about that.
                    #expect(result.seconds > 0.45 && result.seconds < 10, "\(result.seconds)")
                    #expect(result.relayCPUSeconds > 0)
                    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
                    #expect(try Self.leftovers(vhost, "test.floor").isEmpty)
                }
            }
        }

        @Test("a relay that fails ends the floor at once, with its error, and the floor still cleans up")
        func relayFailure() async throws {
            try await Broker.withVirtualHost { vhost in
                try await Self.withFolder { folder in
                    let endpoint = try Self.endpoint(vhost)
                    // A message no trip sends, on the processor relay's queue, once the run is under way.
                    let rogue = Task {
                        try await Task.sleep(for: .milliseconds(500))
                        try await RawAMQPLoops.onThread(endpoint) { state in
                            try LatencyFloor.publish(
                                state, routingKey: "orchestrator.rogue", body: Array("0 0|".utf8),
                                exchange: "test.floor")
                        }
                    }
                    let began = ContinuousClock.now
                    do {
                        _ = try await LatencyFloor.run(
                            endpoint: endpoint, rate: 200, trips: 4_000, folder: folder, prefix: "test.floor")
                        Issue.record("the floor ended although a relay got a message it cannot relay")
                    } catch {
                        #expect("\(error)".contains("unexpected routing key orchestrator.rogue"), "\(error)")
                    }
                    try await rogue.value
                    // Its 4,000 trips were due over 20 s, and it would wait a minute more for them.
                    #expect(ContinuousClock.now - began < .seconds(10))
                    #expect(try Self.leftovers(vhost, "test.floor").isEmpty)
                }
            }
        }
    }
}
