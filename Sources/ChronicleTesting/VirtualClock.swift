import Foundation
import Synchronization

/// Time that moves only when told: for tests of orchestrations that wait seconds, hours or months.
public final class VirtualClock: Sendable {
    private let current: Mutex<Date>

    /// Starts at `start` (default 2026-01-01T00:00:00Z).
    public init(start: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        self.current = Mutex(start)
    }

    /// The current virtual time.
    public var now: Date { current.withLock { $0 } }

    /// Moves time forward by `duration`.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        current.withLock { $0 = $0.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18) }
    }

    /// Moves time forward to `date`; never backwards.
    public func advance(to date: Date) {
        current.withLock { $0 = max($0, date) }
    }

    /// A closure reading this clock, for ``Chronicle/Processor`` and ``Chronicle/BatchProcessor``.
    public var reading: @Sendable () -> Date { { [self] in self.now } }
}
