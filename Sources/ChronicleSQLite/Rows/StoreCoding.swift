import Foundation

/// How values become columns.
///
/// Event payloads and outbox headers are JSON with sorted keys. Dates inside payloads keep Foundation's
/// default encoding (seconds since 2001 as a JSON number), which round-trips exactly; the ISO 8601 text of
/// `Payload.encoder` keeps milliseconds only, and a time recorded for replay must come back unchanged.
enum StoreCoding {
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func makeDecoder() -> JSONDecoder {
        JSONDecoder()
    }
}

extension Date {
    /// The column value of a time: seconds since 2001-01-01 UTC, exactly as `Date` holds it.
    var storeTime: Double { timeIntervalSinceReferenceDate }

    init(storeTime: Double) {
        self.init(timeIntervalSinceReferenceDate: storeTime)
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
