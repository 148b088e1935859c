import Foundation
import Testing

import struct Chronicle.InboundMessage
import struct Chronicle.OutgoingMessage

/// Hostile input (issue 6): thousands of bad messages — random bytes, truncated JSON, wrong field types, bodies
/// over the size limit, missing AMQP properties, replies for unknown trips, replies with forged command ids and
/// attempt numbers — among valid trips, through the real processor. Each bad message must come out of
/// `chronicle.dead-letter` exactly once with a reason; the processor stays up; the valid trips end, and
/// `chronicle verify` is clean. 2,000 bad messages by default, 10,000 with `CHRONICLE_CHAOS=full`.
@Suite("Fuzz: hostile input is dead-lettered with a reason, the processor stays up, valid trips end", .serialized)
struct FuzzTests {
    enum Kind: String, CaseIterable {
        case randomBytes = "random bytes"
        case truncatedJSON = "truncated JSON"
        case wrongTypes = "wrong field types"
        case oversized = "body over 1 MiB"
        case missingProperties = "missing AMQP properties"
        case unknownTrip = "reply for an unknown trip"
        case forgedCommandId = "reply with a forged command id"
        case forgedAttempt = "reply with a forged attempt or step"
    }

    /// One bad message; `marker` finds it again among the dead letters (its message id, else in its body).
    struct Bad {
        var kind: Kind
        var marker: String
        var message: OutgoingMessage
    }

    @Test("bad messages among valid trips", .timeLimit(.minutes(20)))
    func hostileInput() async throws {
        let full = ProcessInfo.processInfo.environment["CHRONICLE_CHAOS"] == "full"
        let badCount = full ? 10_000 : 2_000
        let validCount = full ? 200 : 50
        let seed =
            ProcessInfo.processInfo.environment["CHRONICLE_CHAOS_SEED"].flatMap(UInt64.init)
            ?? UInt64.random(in: 1...UInt64.max >> 1)
        var random = SplitMix64(seed: seed)
        print("fuzz: \(badCount) bad messages among \(validCount) trips; seed \(seed)")

        let sandbox = try Sandbox()
        let processor = try sandbox.start(["run"], output: "run.out")
        let services = try sandbox.start(
            ["services", "--failure-rate", "0.3", "--latency", "5ms", "--jitter", "5ms"], output: "services.out")
        try await EndToEndTests.waitForQueues(
            sandbox, ["chronicle.orchestrator", "chronicle.hotel", "chronicle.flight"])

        // A few trips first, so that forged replies have real trips (running or ended) to aim at.
        let valid = (1...validCount).map { String(format: "fuzz-trip-%04d", $0) }
        let early = Array(valid.prefix(10))
        try await sandbox.publish(early.map(Self.start))
        for _ in 0..<100 {
            if try sandbox.trips().keys.filter(early.contains).count == early.count { break }
            try await Task.sleep(for: .milliseconds(100))
        }

        var bad = (0..<badCount).map { index in
            Self.bad(index, targets: early, random: &random)
        }
        // Missing properties entirely (no type, message id, correlation id, timestamp): amqp-publish sets none.
        let bare = (0..<max(10, badCount / 100)).map { index in
            let marker = "fuzzmark-bare-\(index)"
            return (marker, #"{"commandId":"\#(marker)/1/1","tripId":"\#(marker)","reservationId":"H-1"}"#)
        }
        var messages = bad.map(\.message) + valid.dropFirst(early.count).map(Self.start)
        messages.shuffle(using: &random)
        let started = ContinuousClock.now
        try await sandbox.publish(messages)
        try await sandbox.amqpPublishPersistently(
            exchange: "chronicle.events", routingKey: "hotel.reserved", lines: bare.map(\.1))
        bad += bare.map {
            Bad(kind: .missingProperties, marker: $0.0, message: Self.direct(type: "", id: "", body: ""))
        }

        // Wait for the processor to take everything and the trips to end.
        var states: [String: String] = [:]
        for _ in 0..<600 {
            let depth = try sandbox.queues()["chronicle.dead-letter"].map { $0.ready + $0.unacknowledged } ?? 0
            states = try sandbox.trips()
            let ended = valid.allSatisfy { states[$0] != nil && states[$0] != "running" }
            if ended && depth >= bad.count { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let elapsed = ContinuousClock.now - started
        let deadLetters = try await sandbox.takeDeadLetters()
        let processorUp = processor.isRunning

        // Match each dead letter to the bad message it is.
        let markers = Dictionary(bad.map { ($0.marker, $0.kind) }, uniquingKeysWith: { first, _ in first })
        var seen: [String: Int] = [:]
        var unknown: [InboundMessage] = []
        var withoutReason = 0
        var reasons: [Kind: String] = [:]
        for letter in deadLetters {
            let reason = letter.headers["x-chronicle-dead-letter-reason"] ?? ""
            if reason.isEmpty { withoutReason += 1 }
            let marker =
                letter.messageID.flatMap { markers[$0] == nil ? nil : $0 }
                ?? Self.marker(in: letter.body, among: markers)
            guard let marker else {
                unknown.append(letter)
                continue
            }
            seen[marker, default: 0] += 1
            if let kind = markers[marker], reasons[kind] == nil { reasons[kind] = reason }
        }
        let missing = bad.filter { seen[$0.marker] == nil }
        let twice = seen.values.count { $0 > 1 }
        let ended = valid.count { states[$0] == "completed" || states[$0] == "failed" }
        let (verifyStatus, verify) = try sandbox.chronicle("verify")
        let servicesUp = services.isRunning
        #expect(await sandbox.stop(processor) == 0)
        _ = await sandbox.stop(services)

        var rows: [(String, String, Bool)] = []
        for kind in Kind.allCases {
            let sent = bad.count { $0.kind == kind }
            let lettered = bad.count { $0.kind == kind && seen[$0.marker] != nil }
            rows.append(
                (
                    kind.rawValue, "\(lettered)/\(sent) dead-lettered, e.g. \"\(reasons[kind]?.prefix(60) ?? "-")\"",
                    lettered == sent
                ))
        }
        rows += [
            ("bad messages dead-lettered", "\(bad.count - missing.count)/\(bad.count)", missing.isEmpty),
            ("dead-lettered twice", "\(twice)", twice == 0),
            ("dead letters without a reason", "\(withoutReason)", withoutReason == 0),
            ("dead letters of valid messages", "\(unknown.count)", unknown.isEmpty),
            ("valid trips ended", "\(ended)/\(valid.count)", ended == valid.count),
            ("chronicle verify", verifyStatus == 0 ? "clean" : "exit \(verifyStatus)", verifyStatus == 0),
            ("processor and services up", processorUp && servicesUp ? "yes" : "no", processorUp && servicesUp),
        ]
        print(
            "fuzz: seed \(seed); \(bad.count) bad messages and \(valid.count) trips in \(elapsed.formatted(.units(allowed: [.seconds])))"
        )
        print(ChaosTests.table(rows))

        #expect(missing.isEmpty, "not dead-lettered: \(missing.prefix(10).map { "\($0.kind.rawValue) \($0.marker)" })")
        #expect(twice == 0)
        #expect(withoutReason == 0)
        #expect(
            unknown.isEmpty,
            "dead letters that are no bad message: \(unknown.prefix(5).map { "\($0.type ?? "-") \($0.headers["x-chronicle-dead-letter-reason"] ?? "")" })"
        )
        #expect(ended == valid.count)
        #expect(verifyStatus == 0, "\(verify)")
        #expect(processorUp, "the processor died; see \(sandbox.folder.path)")
        #expect(servicesUp)
    }

    static func start(_ trip: String) -> OutgoingMessage {
        OutgoingMessage(
            id: "start-\(trip)", exchange: "chronicle.commands", routingKey: "trip.start", type: "StartTrip",
            correlationID: trip, timestamp: Date(), body: Data(startTrip(trip).utf8))
    }

    /// Straight onto the processor's queue, as any client could.
    static func direct(
        type: String, id: String, correlation: String? = nil, headers: [String: String] = [:], body: String
    )
        -> OutgoingMessage
    {
        direct(type: type, id: id, correlation: correlation, headers: headers, data: Data(body.utf8))
    }

    static func direct(
        type: String, id: String, correlation: String? = nil, headers: [String: String] = [:], data: Data
    )
        -> OutgoingMessage
    {
        OutgoingMessage(
            id: id, exchange: "", routingKey: "chronicle.orchestrator", type: type, correlationID: correlation,
            timestamp: Date(), headers: headers, body: data)
    }

    static func marker(in body: Data, among markers: [String: Kind]) -> String? {
        let text = String(decoding: body.prefix(4_096), as: UTF8.self)
        guard let range = text.range(of: #"fuzzmark-[a-z]+-[a-z0-9]+"#, options: .regularExpression) else { return nil }
        let marker = String(text[range])
        return markers[marker] == nil ? nil : marker
    }

    /// The `index`th bad message: the kinds in turn, one in 200 oversized.
    static func bad(_ index: Int, targets: [String], random: inout SplitMix64) -> Bad {
        let id = "fuzz-\(index)"
        let kinds: [Kind] = [
            .randomBytes, .truncatedJSON, .wrongTypes, .missingProperties, .unknownTrip, .forgedCommandId,
            .forgedAttempt,
        ]
        let kind = index % 200 == 199 ? .oversized : kinds[index % kinds.count]
        let trip = targets.randomElement(using: &random)!
        switch kind {
        case .randomBytes:
            let bytes = (0..<Int.random(in: 0...400, using: &random)).map { _ in
                UInt8.random(in: 0...255, using: &random)
            }
            let type = ["StartTrip", "HotelReserved", "FlightReservationFailed", "TimerFired", "\(bytes.count)"]
                .randomElement(using: &random)!
            return Bad(kind: kind, marker: id, message: direct(type: type, id: id, data: Data(bytes)))
        case .truncatedJSON:
            let whole = startTrip("fuzzmark-cut-\(index)")
            let cut = String(whole.prefix(Int.random(in: 1..<whole.count, using: &random)))
            var message = start("x")
            message.id = id
            message.correlationID = nil
            message.body = Data(cut.utf8)
            return Bad(kind: kind, marker: id, message: message)
        case .wrongTypes:
            let name = "fuzz-bad-\(index)"
            let bodies = [
                #"{"tripId":"\#(name)","customerId":"c","hotel":{"city":"X","checkIn":"2027-01-01","nights":"three"},"flight":{"from":"LHR","to":"LIS","date":"2027-01-02"}}"#,
                #"{"tripId":\#(index),"customerId":"c","hotel":{"city":"X","checkIn":"2027-01-01","nights":2},"flight":{"from":"LHR","to":"LIS","date":"2027-01-02"}}"#,
                #"{"tripId":"\#(name)","customerId":"c","hotel":[],"flight":{"from":"LHR","to":"LIS","date":"2027-01-02"}}"#,
                #"{"tripId":"\#(name)","customerId":"c","hotel":{"city":"X","checkIn":"2027-01-01","nights":2},"flight":null}"#,
                #"{"tripId":"\#(name)","customerId":null,"hotel":{"city":"X","checkIn":"2027-13-01","nights":2},"flight":{"from":"LHR","to":"LIS","date":"2027-01-02"}}"#,
                #"{"tripId":"\#(name)","customerId":"c","hotel":{"city":"X","checkIn":"2027-01-01","nights":-4},"flight":{"from":"LHR","to":"LIS","date":"2027-01-02"}}"#,
                #"["\#(name)"]"#,
                #""\#(name)""#,
            ]
            var message = start("x")
            message.id = id
            message.correlationID = nil
            message.body = Data(bodies.randomElement(using: &random)!.utf8)
            return Bad(kind: kind, marker: id, message: message)
        case .oversized:
            let pad = String(repeating: "x", count: (1 << 20) + Int.random(in: 1...4_096, using: &random))
            var message = start("x")
            message.id = id
            message.body = Data(#"{"tripId":"fuzz-big-\#(index)","pad":"\#(pad)"}"#.utf8)
            return Bad(kind: kind, marker: id, message: message)
        case .missingProperties:
            let marker = "fuzzmark-bare-p\(index)"
            let variants: [OutgoingMessage] = [
                // No type, and a routing key that names nothing.
                direct(type: "", id: "", body: #"{"commandId":"\#(trip)/4/1","note":"\#(marker)"}"#),
                // A timer with no message id.
                direct(type: "TimerFired", id: "", correlation: trip, body: #"{"note":"\#(marker)"}"#),
                // A timer with no timer header.
                direct(type: "TimerFired", id: id, correlation: trip, body: #"{"note":"\#(marker)"}"#),
                // A timer with no correlation id.
                direct(
                    type: "TimerFired", id: id, headers: ["x-chronicle-timer": "sleep/3"],
                    body: #"{"note":"\#(marker)"}"#),
            ]
            let message = variants.randomElement(using: &random)!
            return Bad(kind: kind, marker: message.id.isEmpty ? "fuzzmark-bare-p\(index)" : id, message: message)
        case .unknownTrip:
            let ghost = "fuzz-ghost-\(index)"
            let type = ["HotelReserved", "FlightReserved", "HotelCancelled"].randomElement(using: &random)!
            return Bad(
                kind: kind, marker: id,
                message: direct(
                    type: type, id: id, correlation: ghost,
                    body: #"{"commandId":"\#(ghost)/4/1","tripId":"\#(ghost)","reservationId":"H-1"}"#))
        case .forgedCommandId:
            let commandIds = [
                "", "nonsense", "\(trip)", "\(trip)/4", "\(trip)/four/1", "\(trip)/4/-1", "/4/1", "\(trip)/4/1/9",
                String(repeating: "a/", count: 500),
            ]
            let commandId = commandIds.randomElement(using: &random)!
            let variants = [
                #"{"commandId":"\#(commandId)","tripId":"\#(trip)","reservationId":"H-1"}"#,
                #"{"commandId":42,"tripId":"\#(trip)"}"#,
                #"{"tripId":"\#(trip)","reservationId":"H-1"}"#,
            ]
            return Bad(
                kind: kind, marker: id,
                message: direct(type: "HotelReserved", id: id, body: variants.randomElement(using: &random)!))
        case .forgedAttempt:
            // A real trip, a step or attempt its code never sent; or its real command id but another trip's
            // correlation id; or a failure reply without its error.
            let forged = [
                "\(trip)/\(Int.random(in: 1...8, using: &random))/\(Int.random(in: 4...99, using: &random))",
                "\(trip)/\(Int.random(in: 100...999, using: &random))/1",
            ].randomElement(using: &random)!
            let variants: [OutgoingMessage] = [
                direct(
                    type: ["HotelReserved", "FlightReserved"].randomElement(using: &random)!, id: id, correlation: trip,
                    body: #"{"commandId":"\#(forged)","tripId":"\#(trip)","reservationId":"H-forged"}"#),
                direct(
                    type: "FlightReservationFailed", id: id, correlation: trip,
                    body: #"{"commandId":"\#(forged)","tripId":"\#(trip)","error":{"type":"X","message":"forged"}}"#),
                direct(
                    type: "HotelReserved", id: id, correlation: "someone-else",
                    body: #"{"commandId":"\#(trip)/4/1","tripId":"\#(trip)","reservationId":"H-1"}"#),
                direct(
                    type: "HotelReservationFailed", id: id, correlation: trip,
                    body: #"{"commandId":"\#(trip)/4/1","tripId":"\#(trip)"}"#),
            ]
            return Bad(kind: kind, marker: id, message: variants.randomElement(using: &random)!)
        }
    }
}
