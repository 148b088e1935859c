import ArgumentParser
import ChronicleAMQP
import Foundation
import Logging

/// `chronicle bench transport`: confirmed publishes and consume+ack per second through ChronicleAMQP, beside
/// the same loops on the raw librabbitmq C API in the same run.
struct BenchTransport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "Messages per second through ChronicleAMQP beside raw librabbitmq, in the same run.",
        discussion: """
            Publishes persistent, mandatory, confirmed messages (the properties and headers Chronicle sets, a \
            200-byte JSON body) to one classic durable queue, then consumes and acks them, at each depth of \
            --in-flight: for publishing, how many messages await their confirm (ChronicleAMQP: that many \
            concurrent publish calls of one message each); for consuming, the prefetch (acking each batch). \
            Each figure is beside the same loop written directly on the librabbitmq C API. Target: \
            ChronicleAMQP at 80 % or more of raw. Use a broker of your own or a vhost nobody else uses, and a \
            release build: swift run -c release chronicle bench transport.
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LogOptions

    @Option(help: "Messages per loop (at depth 1: --messages-at-depth-one).")
    var messages = 20_000

    @Option(help: "Messages per loop at depth 1, where each message waits for its own confirm.")
    var messagesAtDepthOne = 2_000

    @Option(help: "Depths of pipelining to measure, comma-separated.")
    var inFlight = "1,10,100,1000"

    @Option(help: "The queue to declare, fill, drain and delete.")
    var queue = "chronicle.bench.transport"

    func validate() throws {
        guard messages >= 1, messagesAtDepthOne >= 1 else {
            throw ValidationError("--messages and --messages-at-depth-one must be at least 1.")
        }
        guard let depths = depths, !depths.isEmpty, depths.allSatisfy({ (1...65_535).contains($0) }) else {
            throw ValidationError("--in-flight must list depths between 1 and 65535, e.g. 1,10,100,1000.")
        }
    }

    private var depths: [Int]? {
        let values = inFlight.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return values.contains(nil) ? nil : values.compactMap { $0 }
    }

    func run() async throws {
        var options = TransportBenchmark.Options()
        options.messages = messages
        options.messagesAtDepthOne = messagesAtDepthOne
        options.inFlight = depths ?? options.inFlight
        options.queue = queue
        let endpoint = try AMQPEndpoint(url: broker.url, caFile: broker.caFile)
        let report = try await TransportBenchmark.run(
            endpoint: endpoint, options: options, logger: logging.logger("chronicle.bench"))
        print(report)
    }
}
