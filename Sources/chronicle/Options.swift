import ArgumentParser
import Foundation
import Logging

/// Where the event store is: `--store`, else `CHRONICLE_STORE`, else `./chronicle.sqlite`.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("store"),
        help: ArgumentHelp("The event store file.", discussion: "Default: $CHRONICLE_STORE, else ./chronicle.sqlite.")
    )
    var explicitPath: String?

    var path: String {
        explicitPath ?? ProcessInfo.processInfo.environment["CHRONICLE_STORE"] ?? "./chronicle.sqlite"
    }
}

/// Where the fake services keep their journals: `--ledger-dir`, else `CHRONICLE_LEDGER_DIR`, else `.`.
struct LedgerOptions: ParsableArguments {
    @Option(
        name: .customLong("ledger-dir"),
        help: ArgumentHelp(
            "The folder of the services' journals (chronicle-hotel.sqlite, chronicle-flight.sqlite).",
            discussion: "Default: $CHRONICLE_LEDGER_DIR, else the current folder."
        )
    )
    var explicitDirectory: String?

    var directory: String {
        explicitDirectory ?? ProcessInfo.processInfo.environment["CHRONICLE_LEDGER_DIR"] ?? "."
    }

    func path(for service: String) -> String {
        URL(fileURLWithPath: directory).appending(path: "chronicle-\(service).sqlite").path
    }
}

/// Formats a time relative to `origin` as `+12.345s`.
func offset(_ date: Date, from origin: Date) -> String {
    String(format: "%+9.3fs", date.timeIntervalSince(origin))
}

/// Pads `text` to `width` columns.
func column(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
}

/// The broker: `--amqp-url`, else `CHRONICLE_AMQP_URL`, else the local broker's guest account.
struct BrokerOptions: ParsableArguments {
    @Option(
        name: .customLong("amqp-url"),
        help: ArgumentHelp(
            "The broker, as amqp://user:pass@host:port/vhost or amqps://… (TLS).",
            discussion: "Default: $CHRONICLE_AMQP_URL, else amqp://guest:guest@localhost:5672/%2f."
        )
    )
    var explicitURL: String?

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp(
            "For amqps://: the CA certificates (PEM) to verify the broker with.",
            discussion: "Default: $CHRONICLE_AMQP_CA_FILE.")
    )
    var explicitCAFile: String?

    var url: String {
        explicitURL ?? ProcessInfo.processInfo.environment["CHRONICLE_AMQP_URL"]
            ?? "amqp://guest:guest@localhost:5672/%2f"
    }

    var caFile: String? {
        explicitCAFile ?? ProcessInfo.processInfo.environment["CHRONICLE_AMQP_CA_FILE"]
    }
}

/// How much to log: `--log-level`, else `CHRONICLE_LOG_LEVEL`, else info. Logs go to standard error.
struct LogOptions: ParsableArguments {
    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp(
            "trace, debug, info, notice, warning, error or critical.",
            discussion: "Default: $CHRONICLE_LOG_LEVEL, else info (warning for demo, whose output is the traffic)."
        )
    )
    var explicitLevel: String?

    func validate() throws {
        let environment = ProcessInfo.processInfo.environment["CHRONICLE_LOG_LEVEL"]
        guard
            let (source, text) = explicitLevel.map({ ("--log-level", $0) })
                ?? environment.map({ ("CHRONICLE_LOG_LEVEL", $0) }),
            Logger.Level(rawValue: text) == nil
        else { return }
        let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
        throw ValidationError("\(source) \(text) is not a log level; use one of \(levels).")
    }

    var level: Logger.Level { level(default: .info) }

    /// The chosen level, or `fallback` when neither the flag nor the environment chose one.
    func level(default fallback: Logger.Level) -> Logger.Level {
        (explicitLevel ?? ProcessInfo.processInfo.environment["CHRONICLE_LOG_LEVEL"]).flatMap {
            Logger.Level(rawValue: $0)
        } ?? fallback
    }

    /// A logger writing to standard error at the chosen level.
    func logger(_ label: String, default fallback: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level(default: fallback)
        return logger
    }
}

/// A duration flag: `250ms`, `2s`, `1.5s`, `3m`, `1h`.
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600)]
        for (suffix, scale) in units where argument.hasSuffix(suffix) {
            guard let value = Double(argument.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
            duration = .milliseconds(Int64((value * scale * 1000).rounded()))
            return
        }
        return nil
    }

    var description: String { "\(duration)" }
    static var defaultCompletionKind: CompletionKind { .default }
}
