import Chronicle
import ChronicleTesting
import Foundation
import Testing
import TripBooking

/// Holds what the Swift code publishes to the wire contract in contracts/: every message body against its
/// JSON Schema, every routing against the AsyncAPI document, through scripts/check-contracts.py.
@Suite("Messages hold to the wire contract in contracts/")
struct ContractTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Chronicle's own plumbing, documented in asyncapi.yaml as internal, with no schema for clients.
    static let internalTypes: Set<String> = [TimerMessage.type]

    /// The message id of the invalid StartTrip the test itself publishes: input, not something Swift emits.
    static let invalidStartID = "contract-invalid-start"

    @Test("every message the Swift code emits validates against its schema, and every schema has a sample")
    func emittedMessagesHoldToTheSchemas() async throws {
        let samples = try await Self.writeSamples()
        defer { try? FileManager.default.removeItem(at: samples.directory.deletingLastPathComponent()) }

        let (status, output) = try Self.checkContracts(samples)
        #expect(status == 0, "scripts/check-contracts.py:\n\(output)")
    }

    /// Ways a sample can break the contract; each must make the check fail, or the check proves nothing.
    enum Breakage: String, CaseIterable, Sendable {
        case wrongFieldType
        case unknownType
        case typeWithoutSample
        case replyToNoCommand

        /// Breaks the samples in `directory`; returns what the check's output must say.
        func apply(to directory: URL) throws -> String {
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            switch self {
            case .wrongFieldType:
                let body = #"""
                    {"tripId":"bad-1","customerId":"c","hotel":{"city":"Lisbon","checkIn":"2027-05-01","nights":"three"},
                     "flight":{"from":"LHR","to":"LIS","date":"2027-05-01"}}
                    """#
                try Data(body.utf8).write(to: directory.appending(path: "StartTrip-bad.json"))
                return "StartTrip-bad.json: hotel/nights: 'three' is not of type 'integer'"
            case .unknownType:
                try Data("{}".utf8).write(to: directory.appending(path: "BookSpaceship-1.json"))
                return "message type BookSpaceship has no schema"
            case .typeWithoutSample:
                for file in files where file.hasPrefix("FlightCancelled") {
                    try FileManager.default.removeItem(at: directory.appending(path: file))
                }
                return "no sample of FlightCancelled"
            case .replyToNoCommand:
                let file = directory.appending(path: "HotelReserved-1.json")
                var body = try #require(
                    try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
                body["commandId"] = "booked-1/42/7"
                try JSONSerialization.data(withJSONObject: body).write(to: file)
                return "commandId 'booked-1/42/7' is the message_id of no command sample"
            }
        }
    }

    @Test("the check fails on a sample that breaks the contract", arguments: Breakage.allCases)
    func checkCanFail(_ breakage: Breakage) async throws {
        let samples = try await Self.writeSamples()
        defer { try? FileManager.default.removeItem(at: samples.directory.deletingLastPathComponent()) }
        let expected = try breakage.apply(to: samples.directory)

        let (status, output) = try Self.checkContracts(samples)
        #expect(status == 1, "scripts/check-contracts.py passed a broken sample set:\n\(output)")
        #expect(output.contains(expected), "expected \"\(expected)\" in:\n\(output)")
    }

    @Test("a message id names one message: the same id is never reused for a different message")
    func messageIDsAreUnique() async throws {
        let messages = try await Self.emittedMessages()
        for (id, same) in Dictionary(grouping: messages, by: \.id) {
            #expect(!id.isEmpty)
            #expect(Set(same.map(\.body)).count == 1, "message id \(id) is used for different bodies")
            #expect(Set(same.map(\.type)).count == 1, "message id \(id) is used for different types")
        }
    }

    // MARK: - Samples

    /// Every message the Swift code publishes, internal ones aside: a booked trip (started twice), a compensated
    /// trip, a trip whose hotel never answers yes, an invalid StartTrip, a trip whose seat booking is voided;
    /// and CancelFlight by reservation with its reply, which BookTrip never sends (its seat is the last step)
    /// but a service must still take.
    static func emittedMessages() async throws -> [OutgoingMessage] {
        var messages: [OutgoingMessage] = []

        let booked = TripWorld()
        let trip = TripBookingApp.sampleTrip("booked-1")
        try booked.start(trip)
        try booked.env.publish(TripBookingApp.startMessage(trip, messageID: "booked-1-again", at: booked.env.clock.now))
        try booked.env.publish(
            OutgoingMessage(
                id: invalidStartID,
                exchange: "chronicle.commands",
                routingKey: StartTrip.routingKey,
                type: StartTrip.messageType,
                correlationID: "invalid-1",
                timestamp: booked.env.clock.now,
                body: Data(
                    #"{"tripId":"invalid-1","customerId":"c","hotel":{"city":"Lisbon","checkIn":"2027-02-30","nights":3},"flight":{"from":"LHR","to":"LIS","date":"2027-05-01"}}"#
                        .utf8)
            ))
        try await booked.env.run()
        messages += booked.env.broker.log.map(\.message)

        let outcome = try #require(
            messages.first { $0.type == TripBooked.messageType && $0.correlationID == "booked-1" })
        let seat = try Payload.decoder.decode(TripBooked.self, from: outcome.body).flightReservationId
        let cancel = OutgoingMessage(
            id: "booked-1/99/1",
            exchange: "chronicle.commands",
            routingKey: CancelFlight.routingKey,
            type: CancelFlight.name,
            correlationID: "booked-1",
            timestamp: booked.env.clock.now,
            body: try Payload.encoder.encode(CancelFlight(tripId: "booked-1", reservationId: seat))
        )
        let delivered = InboundMessage(
            messageID: cancel.id,
            type: cancel.type,
            correlationID: cancel.correlationID,
            body: cancel.body,
            exchange: cancel.exchange,
            routingKey: cancel.routingKey
        )
        messages += [cancel, try #require(booked.flight.handle(delivered, now: booked.env.clock.now))]

        /// Everything a world with these services sends while `trips` run to their end.
        func traffic(
            hotel: FakeTravelService.Behaviour = .init(), flight: FakeTravelService.Behaviour = .init(),
            _ trips: [StartTrip]
        ) async throws -> [OutgoingMessage] {
            let world = TripWorld(hotel: hotel, flight: flight)
            for trip in trips { try world.start(trip) }
            try await world.env.run()
            return world.env.broker.log.map(\.message)
        }
        var never = FakeTravelService.Behaviour()
        never.failureRate = 1
        messages += try await traffic(flight: never, [TripBookingApp.sampleTrip("compensated-1")])
        messages += try await traffic(
            hotel: never,
            [TripBookingApp.sampleTrip("failed-1"), TripBookingApp.sampleTrip("atlantis-1", city: "Atlantis")])
        // A flight that never answers: BookTrip voids the seat booking (CancelFlight by bookingId), whose
        // reply names no reservation.
        var silent = FakeTravelService.Behaviour()
        silent.ignoreFirstAttempts = 3
        messages += try await traffic(flight: silent, [TripBookingApp.sampleTrip("voided-1")])
        #expect(messages.contains { $0.type == CancelFlight.name && $0.correlationID == "voided-1" })

        return messages.filter { !internalTypes.contains($0.type) && $0.id != invalidStartID }
    }

    struct Samples {
        var directory: URL
        var envelopes: URL
    }

    /// Writes each emitted body as `<type>-<n>.json`, and how each was published to `envelopes.json` beside
    /// the directory's samples.
    static func writeSamples() async throws -> Samples {
        let base = FileManager.default.temporaryDirectory.appending(path: "chronicle-contracts-\(UUID().uuidString)")
        let directory = base.appending(path: "samples")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var counts: [String: Int] = [:]
        var envelopes: [[String: String]] = []
        for message in try await emittedMessages() {
            let n = counts[message.type, default: 0] + 1
            counts[message.type] = n
            let name = "\(message.type)-\(n).json"
            try message.body.write(to: directory.appending(path: name))
            envelopes.append([
                "sample": name,
                "exchange": message.exchange,
                "routingKey": message.routingKey,
                "type": message.type,
                "messageId": message.id,
                "correlationId": message.correlationID ?? "",
            ])
        }
        let envelopesFile = base.appending(path: "envelopes.json")
        try JSONSerialization.data(withJSONObject: envelopes, options: [.prettyPrinted, .sortedKeys])
            .write(to: envelopesFile)
        return Samples(directory: directory, envelopes: envelopesFile)
    }

    // MARK: - Running the check

    /// Runs scripts/check-contracts.py on `samples`; fails the test (not skips it) when Python lacks its
    /// modules.
    static func checkContracts(_ samples: Samples) throws -> (status: Int32, output: String) {
        let (importStatus, importOutput) = try python(["-c", "import jsonschema, yaml"])
        try #require(
            importStatus == 0,
            """
            python3 cannot import jsonschema and yaml, which the contract check needs: `make test` installs them \
            (scripts/install-deps.sh), or run `pip install jsonschema pyyaml`. \(importOutput)
            """
        )
        return try python([
            root.appending(path: "scripts/check-contracts.py").path, samples.directory.path,
            "--envelopes", samples.envelopes.path,
        ])
    }

    static func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.currentDirectoryURL = root
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
