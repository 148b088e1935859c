import ArgumentParser
import Chronicle
import Foundation
import TripBooking

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Print one trip's event timeline, with the time of each event since the start."
    )

    @Argument(help: "The trip id (the instance id).")
    var trip: String

    @OptionGroup var store: StoreOptions

    @Flag(help: "Print the events as JSON, one a line.")
    var json = false

    func run() async throws {
        let events = try await withStore(store) { store in try await store.load(InstanceID(trip)) }
        guard let stored = events else {
            throw CommandFailure("no trip \(trip) in \(store.path); `chronicle list` shows the trips there.")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            encoder.dateEncodingStrategy = .iso8601
            for event in stored.events { print(String(decoding: try encoder.encode(event), as: UTF8.self)) }
            return
        }
        print("\(stored.record.orchestration) \(trip): \(stored.record.status.rawValue), \(stored.events.count) events")
        let origin = stored.events.first?.timestamp ?? Date()
        for event in stored.events {
            print(
                "\(offset(event.timestamp, from: origin))  \(column(event.kind.name, 24)) \(Self.detail(event.kind, origin: origin))"
            )
        }
    }

    static func detail(_ kind: HistoryEvent.Kind, origin: Date) -> String {
        switch kind {
        case .orchestrationStarted(let name, let input): "\(name) \(input.json.prefix(100))"
        case .uuidRecorded(let step, let uuid): "step \(step): \(uuid)"
        case .timeRecorded(let step, let time): "step \(step): \(time.formatted(.iso8601))"
        case .randomSeedRecorded(let step, let seed): "step \(step): seed \(seed)"
        case .timerScheduled(let step, let fireAt): "step \(step): fires at \(offset(fireAt, from: origin))"
        case .timerFired(let step): "step \(step)"
        case .callScheduled(let step, let attempt, let command, let timeoutAt):
            "step \(step) attempt \(attempt): \(command.type) → \(command.routingKey)"
                + (timeoutAt.map { ", times out at \(offset($0, from: origin))" } ?? "")
        case .callCompleted(let step, let attempt, let reply):
            "step \(step) attempt \(attempt): \(reply.json.prefix(100))"
        case .callFailed(let step, let attempt, let failure): "step \(step) attempt \(attempt): \(failure)"
        case .callTimedOut(let step, let attempt): "step \(step) attempt \(attempt)"
        case .orchestrationCompleted(let output): "\(output.json.prefix(160))"
        case .orchestrationFailed(let failure): "\(failure)"
        }
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List trips, most recently updated first."
    )

    @Option(
        help: ArgumentHelp(
            "Only trips with this status: running, completed or failed.",
            discussion: """
                As in Temporal, the status is the orchestration's, not the trip's outcome: a trip that could not be \
                booked (and compensated) completed, with a TripFailed result, which the OUTCOME column shows \
                (booked, compensated or failed); failed means the orchestration itself threw.
                """))
    var status: InstanceStatus?

    @Option(parsing: .unconditional, help: "At most this many.")
    var limit = 100

    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1 (got \(limit)).") }
    }

    func run() async throws {
        let (records, histories) = try await withStore(store) { store in
            let records = try await store.instances(status: status, limit: limit)
            // The outcome is in each ended trip's last events; a running trip has none yet.
            let ended = records.filter { $0.status != .running }.map(\.id)
            return (records, ended.isEmpty ? [:] : try await store.load(ended))
        }
        if records.isEmpty {
            print("no trips\(status.map { " with status \($0.rawValue)" } ?? "") in \(store.path)")
            return
        }
        print(
            column("TRIP", 40) + column("ORCHESTRATION", 14) + column("STATUS", 10) + column("UPDATED", 26)
                + column("NEXT WAKE-UP", 26) + "OUTCOME")
        for record in records {
            let outcome = histories[record.id].map { TripAudit.outcome(of: $0.events).rawValue } ?? "-"
            print(
                column(record.id.rawValue, 40) + column(record.orchestration, 14) + column(record.status.rawValue, 10)
                    + column(record.updatedAt.formatted(.iso8601), 26)
                    + column(record.nextWakeUp?.formatted(.iso8601) ?? "-", 26) + outcome
            )
        }
    }
}

extension InstanceStatus: ExpressibleByArgument {}

struct TimersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timers",
        abstract: "List pending durable timers (sleeps, back-off waits, call timeouts), soonest first."
    )

    @Option(parsing: .unconditional, help: "At most this many.")
    var limit = 100

    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1 (got \(limit)).") }
    }

    func run() async throws {
        let timers = try await withStore(store) { try await $0.timers(state: .pending, dueBefore: nil, limit: limit) }
        if timers.isEmpty {
            print("no pending timers in \(store.path)")
            return
        }
        let now = Date()
        print(column("TRIP", 40) + column("TIMER", 16) + "DUE")
        for timer in timers {
            print(
                column(timer.instanceID.rawValue, 40) + column(timer.timerID, 16)
                    + "\(timer.dueAt.formatted(.iso8601)) (in \(String(format: "%.3f", timer.dueAt.timeIntervalSince(now))) s)"
            )
        }
    }
}
