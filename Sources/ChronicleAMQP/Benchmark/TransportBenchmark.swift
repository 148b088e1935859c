import Chronicle
import Foundation
import Logging

/// `chronicle bench transport`: confirmed publishes and consume+ack per second through ``AMQPTransport``,
/// beside the same loops written directly on librabbitmq, in the same run, at several depths of pipelining.
///
/// Every message is persistent and mandatory, with the properties Chronicle sets (type, message id,
/// correlation id, content type, timestamp, two headers) and a 200-byte JSON body, to one classic durable
/// queue. "In flight" is, for publishing, how many messages await their confirm (the transport: that many
/// concurrent `publish` calls of one message each); for consuming, the prefetch (the transport: acking each
/// batch as it comes).
public enum TransportBenchmark {
    public struct Options: Sendable {
        /// Messages per loop.
        public var messages: Int = 20_000
        /// The depths of pipelining to measure.
        public var inFlight: [Int] = [1, 10, 100, 1_000]
        /// Messages per loop at depth 1, where each message waits for its own confirm.
        public var messagesAtDepthOne: Int = 2_000
        /// The queue the benchmark declares, fills, drains and deletes.
        public var queue: String = "chronicle.bench.transport"

        public init() {}
    }

    public struct Measurement: Sendable, Hashable {
        public var inFlight: Int
        public var messages: Int
        public var rawPublish: Double
        public var transportPublish: Double
        public var rawConsume: Double
        public var transportConsume: Double
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var endpoint: String
        public var measurements: [Measurement]

        public var description: String {
            func rate(_ value: Double) -> String { String(format: "%9.0f", value) }
            func share(_ part: Double, _ whole: Double) -> String { String(format: "%5.0f %%", part / whole * 100) }
            var lines = [
                "transport benchmark against \(endpoint): messages per second, persistent, confirmed",
                "in flight  messages | publish raw  ChronicleAMQP  share | consume+ack raw  ChronicleAMQP  share",
            ]
            for m in measurements {
                lines.append(
                    String(format: "%9d %9d |", m.inFlight, m.messages) + " \(rate(m.rawPublish))      "
                        + "\(rate(m.transportPublish)) \(share(m.transportPublish, m.rawPublish)) |     "
                        + "\(rate(m.rawConsume))      \(rate(m.transportConsume)) \(share(m.transportConsume, m.rawConsume))"
                )
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Runs every loop against `endpoint` (plain `amqp://`); the queue is deleted afterwards.
    public static func run(endpoint: AMQPEndpoint, options: Options = Options(), logger: Logger) async throws -> Report
    {
        let queue = options.queue
        let template = WireMessage(
            OutgoingMessage(
                id: "template", exchange: "", routingKey: queue, type: "ReserveHotel", correlationID: "trip-bench",
                timestamp: Date(), headers: ["attempt": "1", "x-call-id": "call-1"],
                body: Data(
                    ("{\"tripId\":\"trip-bench\",\"padding\":\"" + String(repeating: "x", count: 160) + "\"}").utf8)))
        _ = try await RawAMQPLoops.onThread(endpoint) { state in try RawAMQPLoops.prepare(state, queue: queue) }

        var configuration = AMQPTransport.Configuration(
            endpoint: endpoint, topology: Topology(queues: [Topology.Queue(queue, kind: .classic)]))
        configuration.publishWindow = max(options.inFlight.max() ?? 1, 1)
        let transport = AMQPTransport(configuration: configuration, logger: logger)
        var measurements: [Measurement] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await transport.run() }
            for depth in options.inFlight {
                let count = depth == 1 ? options.messagesAtDepthOne : options.messages
                logger.info("measuring", metadata: ["bench.in_flight": "\(depth)", "bench.messages": "\(count)"])
                let rawPublish = try await RawAMQPLoops.onThread(endpoint) { state in
                    try RawAMQPLoops.publish(state, queue: queue, message: template, count: count, inFlight: depth)
                }
                let rawConsume = try await RawAMQPLoops.onThread(endpoint) { state in
                    try RawAMQPLoops.consume(state, queue: queue, count: count, inFlight: depth)
                }
                let transportPublish = try await publish(
                    transport, template: template, count: count, inFlight: depth)
                let transportConsume = try await consume(transport, queue: queue, count: count, inFlight: depth)
                measurements.append(
                    Measurement(
                        inFlight: depth, messages: count, rawPublish: Double(count) / rawPublish,
                        transportPublish: Double(count) / transportPublish, rawConsume: Double(count) / rawConsume,
                        transportConsume: Double(count) / transportConsume))
            }
            transport.shutdown()
            try await group.waitForAll()
        }
        _ = try await RawAMQPLoops.onThread(endpoint) { state in try RawAMQPLoops.delete(state, queue: queue) }
        return Report(endpoint: "\(endpoint)", measurements: measurements)
    }

    /// `inFlight` tasks each publishing one message at a time until `count` are confirmed.
    private static func publish(
        _ transport: AMQPTransport,
        template: WireMessage,
        count: Int,
        inFlight: Int
    ) async throws -> Double {
        let clock = ContinuousClock()
        let elapsed = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<inFlight {
                    group.addTask {
                        var index = worker
                        while index < count {
                            var message = template
                            message.messageID = "chronicle-\(index)"
                            try await transport.publish(wire: [message])
                            index += inFlight
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        return seconds(elapsed)
    }

    /// Consumes `count` messages with prefetch `inFlight`, acking each batch as it comes.
    private static func consume(
        _ transport: AMQPTransport,
        queue: String,
        count: Int,
        inFlight: Int
    ) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        var received = 0
        let stream = try await transport.consume(queue: queue, prefetch: inFlight)
        for try await batch in stream {
            try await transport.acknowledge(batch)
            received += batch.count
            if received >= count { break }
        }
        let elapsed = clock.now - start
        guard received >= count else {
            throw AMQPError(.consumeFailed, "the benchmark's consumer stopped after \(received) of \(count) messages")
        }
        return seconds(elapsed)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
