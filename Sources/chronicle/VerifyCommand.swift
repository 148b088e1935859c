import ArgumentParser
import Chronicle
import Foundation
import TripBooking

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Hold the services' ledgers against the store: nothing lost, nothing doubled, nothing dangling.",
        discussion: """
            Every booked trip must hold exactly one hotel and one flight reservation; every compensated or \
            failed trip must hold none; no command may have taken effect twice. Exits non-zero and lists every \
            discrepancy otherwise. Trips still running are counted, not judged.
            """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var ledgers: LedgerOptions

    func run() async throws {
        let hotel = try loadJournal("hotel")
        let flight = try loadJournal("flight")
        let report = try await withStore(store) { store in
            try await TripAudit.audit(store: store, hotel: hotel.flatMap(\.effects), flight: flight.flatMap(\.effects))
        }
        let services = ["hotel", "flight"]
        if !report.problems.isEmpty,
            !services.contains(where: { FileManager.default.fileExists(atPath: ledgers.path(for: $0)) })
        {
            // Every trip that reached a service would show as a discrepancy: say what is wrong instead.
            throw NoLedgers(paths: services.map { ledgers.path(for: $0) })
        }
        print(report.summary)
        if !report.problems.isEmpty {
            for problem in report.problems { print("  - \(problem)") }
            throw ExitCode.failure
        }
    }

    private func loadJournal(_ service: String) throws -> [JournalEntry] {
        let path = ledgers.path(for: service)
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try ServiceJournalFile(path: path).load()
    }

}

/// `verify` found neither service's journal, while the store has trips that used them.
struct NoLedgers: Error, CustomStringConvertible {
    var paths: [String]
    var description: String {
        "no service ledger found (\(paths.joined(separator: ", "))). Pass --ledger-dir (or set CHRONICLE_LEDGER_DIR) "
            + "to the folder where `chronicle services` ran."
    }
}
