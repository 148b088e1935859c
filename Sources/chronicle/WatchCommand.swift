import ArgumentParser
import Chronicle
import ChronicleAMQP
import Foundation
import ServiceLifecycle
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

    @Option(parsing: .unconditional, help: "Stop after this many messages (default: run until interrupted).")
    var count: Int?

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LogOptions

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1 (got \(count)).") }
    }

    func run() async throws {
        let printer = TrafficPrinter(
            json: json,
            color: !json && isatty(STDOUT_FILENO) == 1,
            trip: trip,
            limit: count ?? .max
        )
        var topology = Topology.chronicle
        let tap = topology.addExclusiveQueue(prefix: "chronicle.watch", bindings: Topology.tapBindings(topology.delays))
        let logger = logging.logger("chronicle.watch")
        let transport = AMQPTransport(
            configuration: try .init(url: broker.url, caFile: broker.caFile, topology: topology),
            logger: logging.logger("chronicle.amqp")
        )
        // SIGINT or SIGTERM ends the watch cleanly, as --count does.
        try await runServices(
            transport, [TapService(transport: transport, queue: tap, printer: printer)], logger: logger)
    }
}

/// Prints what a tap queue receives until the watch is shut down or has printed enough.
struct TapService: Service {
    let transport: AMQPTransport
    let queue: String
    let printer: TrafficPrinter

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var printed = 0
            for try await batch in try await transport.consume(queue: queue, prefetch: 500) {
                try await transport.acknowledge(batch)
                for message in batch where printer.shows(message) {
                    printer.print(message)
                    printed += 1
                    if printed >= printer.limit { return }
                }
            }
        }
    }
}

struct TrafficPrinter: Sendable {
    var json: Bool
    var color: Bool
    var trip: String?
    var limit: Int

    func shows(_ message: InboundMessage) -> Bool {
        trip == nil || TrafficLine.tripID(message) == trip
    }

    func print(_ message: InboundMessage) {
        Swift.print(json ? TrafficLine.json(message) : TrafficLine.text(message, color: color))
        flushStandardOutput()
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
        var exchange = printable(message.exchange)
        var routingKey = printable(message.routingKey)
        if exchange.isEmpty {
            // Only the delay levels bring the tap messages for the default exchange: a copy as the message
            // enters them, and one as it leaves them for its queue (with the broker's x-first-death headers).
            let due = message.headers["x-first-death-reason"] != nil
            exchange = "chronicle.delay"
            routingKey = (due ? "due → " : "delayed → ") + routingKey
        }
        var line = [
            column(time, 14), paint(column(exchange, 20), exchange, color), column(routingKey, 30),
            column(printable(message.type ?? "-"), 25), column(printable(tripID(message) ?? "-"), 38),
        ].joined()
        if let reason = message.headers[ChronicleHeader.deadLetterReason] {
            line += paint("dead-lettered: \(printable(reason))", "dead", color) + " "
        }
        return line + printable(String(decoding: message.body.prefix(120), as: UTF8.self))
    }

    /// `text` safe for a terminal: anyone who can publish chooses these bytes, and an escape sequence in them
    /// could clear or retitle the screen. Line breaks and tabs become spaces; other control characters (and
    /// DEL) are shown as `\u{1B}`.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var shown = ""
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\r" || scalar == "\t" {
                shown += " "
            } else if isControl(scalar) {
                shown += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        return shown
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }

    /// The trip a message is about: its correlation id, else the `tripId` of its body (clients such as
    /// amqp-publish cannot set the correlation id).
    static func tripID(_ message: InboundMessage) -> String? {
        if let id = message.correlationID, !id.isEmpty { return id }
        let body = try? JSONSerialization.jsonObject(with: message.body) as? [String: Any]
        return body?["tripId"] as? String
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
        object["tripId"] = tripID(message)
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
