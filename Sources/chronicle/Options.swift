import ArgumentParser
import Foundation

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
