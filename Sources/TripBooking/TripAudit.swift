import Chronicle

/// Holds the services' ledgers against the trips' outcomes: what `chronicle verify` and the demo report.
public struct TripAudit: Sendable {
    public enum Outcome: String, Sendable {
        case booked, compensated, failed, running
    }

    public private(set) var counts: [Outcome: Int] = [:]
    public private(set) var problems: [String] = []

    /// - Parameters:
    ///   - instances: each trip's id, status and outcome.
    ///   - hotel: the hotel service's effects.
    ///   - flight: the flight service's effects.
    public init(
        instances: [(id: String, status: InstanceStatus, outcome: Outcome)],
        hotel: [FakeTravelService.LedgerEntry],
        flight: [FakeTravelService.LedgerEntry]
    ) {
        let known = Set(instances.map(\.id))
        for (kind, ledger) in [("hotel", hotel), ("flight", flight)] {
            var byCommand: [String: Int] = [:]
            for entry in ledger where entry.action == .reserved { byCommand[entry.commandId, default: 0] += 1 }
            for (command, count) in byCommand.sorted(by: { $0.key < $1.key }) where count > 1 {
                problems.append("\(kind): command \(command) took effect \(count) times")
            }
            for trip in Set(ledger.map(\.tripId)).subtracting(known).sorted() {
                problems.append("\(kind): reservations for trip \(trip), which the store does not know")
            }
        }
        let hotelByTrip = Dictionary(grouping: hotel, by: \.tripId)
        let flightByTrip = Dictionary(grouping: flight, by: \.tripId)
        for (id, _, outcome) in instances.sorted(by: { $0.id < $1.id }) {
            counts[outcome, default: 0] += 1
            guard outcome != .running else { continue }
            let hotels = Self.summary(hotelByTrip[id] ?? [])
            let flights = Self.summary(flightByTrip[id] ?? [])
            switch outcome {
            case .booked:
                if hotels.held != 1 || hotels.made != 1 {
                    problems.append(
                        "trip \(id) is booked but holds \(hotels.held) hotel reservation(s) of \(hotels.made) made")
                }
                if flights.held != 1 || flights.made != 1 {
                    problems.append(
                        "trip \(id) is booked but holds \(flights.held) flight reservation(s) of \(flights.made) made")
                }
            case .compensated, .failed:
                if hotels.held != 0 || flights.held != 0 {
                    problems.append(
                        "trip \(id) is \(outcome.rawValue) but still holds \(hotels.held) hotel and \(flights.held) flight reservation(s)"
                    )
                }
            case .running:
                break
            }
        }
    }

    /// Audits every trip in `store` against the services' ledgers.
    public static func audit(
        store: any EventStore,
        hotel: [FakeTravelService.LedgerEntry],
        flight: [FakeTravelService.LedgerEntry]
    ) async throws -> TripAudit {
        var instances: [(id: String, status: InstanceStatus, outcome: Outcome)] = []
        for record in try await store.instances(status: nil, limit: .max) {
            let events = record.status == .running ? [] : try await store.load(record.id)?.events ?? []
            instances.append(
                (record.id.rawValue, record.status, record.status == .running ? .running : outcome(of: events)))
        }
        return TripAudit(instances: instances, hotel: hotel, flight: flight)
    }

    /// How a BookTrip history ended.
    public static func outcome(of events: [HistoryEvent]) -> Outcome {
        for event in events.reversed() {
            switch event.kind {
            case .orchestrationCompleted(let output):
                switch try? output.decode(TripOutcome.self) {
                case .booked: return .booked
                case .compensated: return .compensated
                case .failed, nil: return .failed
                }
            case .orchestrationFailed: return .failed
            default: continue
            }
        }
        return .running
    }

    private static func summary(_ entries: [FakeTravelService.LedgerEntry]) -> (made: Int, held: Int) {
        let made = entries.count { $0.action == .reserved }
        return (made, made - entries.count { $0.action == .cancelled })
    }

    /// One line: the counts by outcome and the verdict.
    public var summary: String {
        let order: [Outcome] = [.booked, .compensated, .failed, .running]
        let parts = order.compactMap { outcome in counts[outcome].map { "\($0) \(outcome.rawValue)" } }
        let total = parts.isEmpty ? "no trips" : parts.joined(separator: ", ")
        return problems.isEmpty
            ? "verify: OK — \(total); every booked trip holds one room and one seat, no other trip holds any, nothing was done twice"
            : "verify: \(problems.count) discrepanc\(problems.count == 1 ? "y" : "ies") — \(total)"
    }
}
