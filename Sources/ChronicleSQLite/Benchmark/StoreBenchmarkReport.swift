import Foundation

extension StoreBenchmark {
    /// The figures of one run, printable as a table.
    public struct Report: Sendable, CustomStringConvertible {
        public var options: Options
        public var directory: String
        /// The `libsqlite3` version every engine used.
        public var sqliteVersion: String
        public var measurements: [Measurement]

        /// The targets, as fractions of the raw ceiling of the same workload and mode.
        public static let targets: [Workload: Double] = [.oneEventCommits: 0.80, .batchedCommits: 0.50]

        public func measurement(
            _ engine: Engine,
            _ workload: Workload,
            _ mode: SQLiteEventStore.Synchronous
        ) -> Measurement? {
            measurements.first { $0.engine == engine && $0.workload == workload && $0.synchronous == mode }
        }

        /// `engine`'s appends per second as a fraction of the raw C API's, for the same workload and mode.
        public func fractionOfRaw(
            _ engine: Engine,
            _ workload: Workload,
            _ mode: SQLiteEventStore.Synchronous
        ) -> Double? {
            guard let measured = measurement(engine, workload, mode),
                let raw = measurement(.rawSQLite, workload, mode)
            else { return nil }
            return measured.appendsPerSecond / raw.appendsPerSecond
        }

        public var description: String {
            var lines = [
                "Chronicle store benchmark: SQLite \(sqliteVersion), WAL, files in \(directory)",
                """
                appends per second, median of \(options.repetitions); one-event commits: \(options.oneEventCommits) \
                commits of 1 event; batched commits: \(options.batchedCommits) commits of \(options.instancesPerBatch) \
                instances, 1 event each
                """,
                "",
                row(
                    "sync",
                    "workload",
                    Engine.allCases.map(\.rawValue) + ["GRDB/raw", "store/raw", "target"]
                ),
            ]
            for mode in options.modes {
                for workload in Workload.allCases {
                    let rates = Engine.allCases.map { engine in
                        measurement(engine, workload, mode).map { grouped(Int($0.appendsPerSecond)) } ?? "-"
                    }
                    let target = Self.targets[workload] ?? 0
                    let storeFraction = fractionOfRaw(.store, workload, mode)
                    let verdict = storeFraction.map { $0 >= target ? "met" : "MISSED" } ?? "-"
                    lines.append(
                        row(
                            mode.description,
                            workload.rawValue,
                            rates + [
                                percent(fractionOfRaw(.grdb, workload, mode)), percent(storeFraction),
                                ">= \(percent(target)) \(verdict)",
                            ]
                        )
                    )
                }
            }
            lines.append("")
            lines.append(
                """
                raw C API: one prepared INSERT of an event row, on a thread of its own. GRDB: that INSERT through a \
                synchronous DatabasePool write, on such a thread (GRDB's own cost). GRDB async: through the async \
                write the store uses (adds the hop from a task to GRDB's writer queue and back). SQLiteEventStore: \
                commit(_:), with JSON encoding, the version check and the instance row.
                """
            )
            return lines.joined(separator: "\n")
        }

        private func row(_ mode: String, _ workload: String, _ cells: [String]) -> String {
            mode.padding(toLength: 8, withPad: " ", startingAt: 0)
                + workload.padding(toLength: 19, withPad: " ", startingAt: 0)
                + cells.map { String(repeating: " ", count: max(1, 14 - $0.count)) + $0 }.joined()
        }

        private func percent(_ fraction: Double?) -> String {
            fraction.map { "\(Int(($0 * 100).rounded())) %" } ?? "-"
        }

        private func grouped(_ value: Int) -> String {
            let digits = Array(String(value))
            var text = ""
            for (index, digit) in digits.enumerated() {
                if index > 0 && (digits.count - index).isMultiple(of: 3) { text.append(",") }
                text.append(digit)
            }
            return text
        }
    }
}
