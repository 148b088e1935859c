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
            try await TripAudit.audit(
                store: store, hotel: (hotel ?? []).flatMap(\.effects), flight: (flight ?? []).flatMap(\.effects))
        }
        if !report.problems.isEmpty, hotel == nil, flight == nil {
            // Every trip that reached a service would show as a discrepancy: say what is wrong instead.
            throw CommandFailure(
                "no service ledger found (\(ledgers.path(for: "hotel")), \(ledgers.path(for: "flight")))). Pass "
                    + "--ledger-dir (or set CHRONICLE_LEDGER_DIR) to the folder where `chronicle services` ran.")
        }
        print(report.summary)
        if !report.problems.isEmpty {
            for problem in report.problems { print("  - \(problem)") }
            throw ExitCode.failure
        }
    }

    /// The service's journal, or nil when its file is not in the ledger folder.
    private func loadJournal(_ service: String) throws -> [JournalEntry]? {
        let path = ledgers.path(for: service)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try ServiceJournalFile(path: path).load()
    }

}
