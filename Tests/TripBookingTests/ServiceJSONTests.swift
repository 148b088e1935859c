import Chronicle
import Foundation
import Testing

@testable import TripBooking

/// The fake services write their replies and journal entries by hand; these hold the text to what
/// `JSONEncoder` gives for the same values.
@Suite("The services' hand-written JSON is JSONEncoder's, byte for byte")
struct ServiceJSONTests {
    static let awkward =
        "quote \" backslash \\ slash / tab \t nul \u{0} bell \u{7} del \u{7F} é 中 🚀 \u{2028} \r\n\u{8}\u{C}"

    static func encoded(_ value: some Encodable) throws -> Data { try Payload.sharedEncoder.encode(value) }

    @Test func replies() throws {
        for text in ["trip-1/2/1", Self.awkward, ""] {
            let confirmed = ReservationConfirmed(commandId: text, tripId: "t" + text, reservationId: "H-" + text)
            #expect(confirmed.json == (try Self.encoded(confirmed)))
            for reservation in [nil, text] {
                let cancelled = ReservationCancelled(commandId: text, tripId: text, reservationId: reservation)
                #expect(cancelled.json == (try Self.encoded(cancelled)))
            }
            let failed = ReservationFailed(
                commandId: text, tripId: text, error: Failure(type: "NoAvailability", message: text))
            #expect(failed.json == (try Self.encoded(failed)))
        }
    }

    static func entries() -> [JournalEntry] {
        let at = Date(timeIntervalSinceReferenceDate: 817_000_123.456_789)
        let reply = OutgoingMessage(
            id: "trip-1/2/1/reply", exchange: "chronicle.events", routingKey: "hotel.reserved",
            type: "HotelReserved", correlationID: "trip-1", timestamp: at,
            headers: ["b": "2", "B": "1", "a/b": Self.awkward, "é": "", "Z10": "x", "Z9": "y"],
            body: Data([0, 1, 2, 0xFF, 0xFE, 0x7B, 0x22]), deliverAt: at.addingTimeInterval(0.02))
        let effect = FakeTravelService.LedgerEntry(
            tripId: "trip-1", reservationId: "H-1", action: .reserved, commandId: "trip-1/2/1", at: at,
            bookingId: "C0FFEE00-0000-4000-8000-000000000001")
        var bare = reply
        bare.correlationID = nil
        bare.deliverAt = nil
        bare.headers = [:]
        bare.mandatory = false
        bare.timestamp = Date(timeIntervalSinceReferenceDate: 0)
        var cancelled = effect
        cancelled.action = .cancelled
        cancelled.bookingId = nil
        cancelled.at = Date(timeIntervalSinceReferenceDate: -1e-7)
        return [
            JournalEntry(
                commandId: "trip-1/2/1", tripId: "trip-1", commandType: "ReserveHotel", reply: reply,
                effects: [effect]),
            JournalEntry(
                commandId: Self.awkward, tripId: Self.awkward, commandType: "CancelHotel", reply: bare,
                effects: [effect, cancelled], closedBooking: Self.awkward),
            JournalEntry(commandId: "silent", tripId: "trip-2", commandType: "ReserveFlight", reply: nil, effects: []),
        ]
    }

    @Test func journalEntries() throws {
        for entry in Self.entries() {
            let expected = String(decoding: try ServiceJournalFile.encoder.encode(entry), as: UTF8.self)
            let written = try #require(entry.json)
            #expect(written == expected)
            #expect(try JSONDecoder().decode(JournalEntry.self, from: Data(written.utf8)) == entry)
        }
    }

    @Test("an entry with a time JSON cannot hold is refused, as JSONEncoder refuses it")
    func nonFiniteTime() async throws {
        var entry = Self.entries()[0]
        entry.effects[0].at = Date(timeIntervalSinceReferenceDate: .infinity)
        #expect(entry.json == nil)
        try await Self.withJournalPath { path in
            let journal = try ServiceJournalFile(path: path)
            await #expect(throws: EncodingError.self) { try await journal.append([entry]) }
            #expect(try journal.load().isEmpty)
        }
    }

    @Test("entries written before slashes went unescaped still load")
    func olderEntriesLoad() async throws {
        let entry = Self.entries()[0]
        let older = JSONEncoder()
        older.outputFormatting = .sortedKeys
        let text = String(decoding: try older.encode(entry), as: UTF8.self)
        #expect(text.contains(#"\/"#))
        try await Self.withJournalPath { path in
            try ServiceJournalFile(path: path).insert([(entry, text)])
            #expect(try ServiceJournalFile(path: path).load() == [entry])
        }
    }

    /// A journal's path in a new folder, removed with the journal's -wal and -shm files when `body` returns.
    static func withJournalPath(_ body: (String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await body(folder.appending(path: "hotel.sqlite").path)
    }
}
