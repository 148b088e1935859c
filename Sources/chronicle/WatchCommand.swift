import ArgumentParser
import Chronicle
import ChronicleAMQP
import Foundation
import TripBooking

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show live traffic: both exchanges, the delay levels and the dead-letter queue, one line a message.",
        discussion: """
            Reads through a server-named, exclusive tap queue bound to every exchange with #: it sees copies, \
            so it never takes a message from anyone. Each line: time, exchange, routing key, type, trip id, the \
            start of the body. Colour on a terminal; --json writes one JSON object a line for a pipe.
            """
    )

    @Option(help: "Show only the messages of this trip (their correlation id).")
    var trip: String?

    @Flag(help: "One JSON object a line: time, exchange, routingKey, type, messageId, tripId, headers, body.")
    var json = false

    @Option(help: "Stop after this many messages (default: run until interrupted).")
    var count: Int?

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LogOptions

    func run() async throws {
        let color = !json && isatty(STDOUT_FILENO) == 1
        let filter = trip
        let limit = count ?? .max
        let asJSON = json
        var topology = Topology.chronicle
        let tap = topology.addExclusiveQueue(prefix: "chronicle.watch", bindings: Topology.tapBindings(topology.delays))
        try await withTransport(broker: broker, topology: topology, logger: logging.logger("chronicle.amqp")) {
            transport in
            var seen = 0
            for try await batch in try await transport.consume(queue: tap, prefetch: 500) {
                try await transport.acknowledge(batch)
                for message in batch where filter == nil || message.correlationID == filter {
                    print(asJSON ? TrafficLine.json(message) : TrafficLine.text(message, color: color))
                    flushStandardOutput()
                    seen += 1
                    if seen >= limit { return }
                }
            }
        }
    }
}

extension Topology {
    /// What a tap binds to: every message on both exchanges, every dead-lettered message, every delayed message
    /// as it enters the delay levels (at the level of its highest bit only, not at each level it passes) and
    /// as it leaves them for its queue.
    static func tapBindings(_ delays: DelayLevels?) -> [(exchange: String, routingKey: String)] {
        var bindings = [(Topology.commands, "#"), (Topology.events, "#"), (Topology.deadLetter, "")]
        if let delays {
            for level in 0..<delays.levels {
                let higher = String(repeating: "0.", count: delays.levels - 1 - level)
                bindings.append((delays.name(level: level), higher + "1.#"))
            }
            bindings.append((delays.deliveryExchange, "#"))
        }
        return bindings
    }
}

/// How `chronicle watch` prints a message.
enum TrafficLine {
    static func text(_ message: InboundMessage, color: Bool) -> String {
        // AMQP timestamps are whole seconds: the time shown is when the tap saw the message.
        let time = Date().formatted(.iso8601.time(includingFractionalSeconds: true))
        var exchange = message.exchange
        var routingKey = message.routingKey
        if exchange.isEmpty {
            // Only the delay levels bring the tap messages for the default exchange: a copy as the message
            // enters them, and one as it leaves them for its queue (with the broker's x-first-death headers).
            let due = message.headers["x-first-death-reason"] != nil
            exchange = "chronicle.delay"
            routingKey = (due ? "due → " : "delayed → ") + routingKey
        }
        var line = [
            column(time, 14), paint(column(exchange, 20), exchange, color), column(routingKey, 30),
            column(message.type ?? "-", 25), column(message.correlationID ?? "-", 38),
        ].joined()
        if let reason = message.headers[ChronicleHeader.deadLetterReason] {
            line += paint("dead-lettered: \(reason)", "dead", color) + " "
        }
        let body = String(decoding: message.body.prefix(120), as: UTF8.self)
        return line + body.replacingOccurrences(of: "\n", with: " ")
    }

    static func json(_ message: InboundMessage) -> String {
        var object: [String: Any] = [
            "exchange": message.exchange,
            "routingKey": message.routingKey,
            "headers": message.headers,
        ]
        object["time"] = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        object["sentAt"] = message.timestamp.map { $0.formatted(.iso8601) }
        object["type"] = message.type
        object["messageId"] = message.messageID
        object["tripId"] = message.correlationID
        object["body"] =
            (try? JSONSerialization.jsonObject(with: message.body, options: [.fragmentsAllowed]))
            ?? String(decoding: message.body, as: UTF8.self)
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func paint(_ text: String, _ kind: String, _ color: Bool) -> String {
        guard color else { return text }
        let code =
            switch kind {
            case Topology.commands: "36"
            case Topology.events: "32"
            case Topology.deadLetter, "dead": "31"
            default: "33"
            }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }
}

/// Flushes standard output, so that a pipe sees each line as it is printed.
func flushStandardOutput() {
    fflush(nil)
}
