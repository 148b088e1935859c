import Chronicle
import Foundation

/// A ``CommitBatch`` turned into column values.
///
/// Encoding happens before the write transaction, on the caller's task, so that the writer connection (one per
/// store) is held only for the SQL.
struct EncodedBatch: Sendable {
    struct Event: Sendable {
        var sequence: Int
        var type: String
        var payload: String
        var recordedAt: Double
    }

    struct Append: Sendable {
        var instance: String
        var orchestration: String
        var status: String
        var expectedVersion: Int
        var at: Double
        var nextWakeUp: Double?
        var events: [Event]

        var newVersion: Int { expectedVersion + events.count }
    }

    struct Message: Sendable {
        var id: String
        var exchange: String
        var routingKey: String
        var type: String
        var correlationID: String?
        var timestamp: Double
        var headers: String
        var body: Data
        var deliverAt: Double?
        var mandatory: Bool
    }

    var appends: [Append]
    var outbox: [Message]
    var inbox: [String]
    /// The inbox's `applied_at` for this batch: the latest time of its appends, on the processor's clock like
    /// the instances' `updated_at` that purging compares with; the wall clock when the batch has no appends.
    var appliedAt: Double
    var timers: [TimerChange]
    var outboxRemovals: [String]

    var instanceCount: Int { appends.count }

    init(_ batch: CommitBatch) throws {
        appends = try batch.appends.map { append in
            var sequence = append.expectedVersion
            let events = try append.events.map { event in
                sequence += 1
                return Event(
                    sequence: sequence,
                    type: event.kind.name,
                    // JSONText refuses what JSONEncoder refuses too (a time that is not finite): its error says why.
                    payload: try EventJSON.encode(event.kind)
                        ?? String(decoding: StoreCoding.makeEncoder().encode(event.kind), as: UTF8.self),
                    recordedAt: event.timestamp.storeTime
                )
            }
            return Append(
                instance: append.instanceID.rawValue,
                orchestration: append.orchestration,
                status: append.status.rawValue,
                expectedVersion: append.expectedVersion,
                at: append.at.storeTime,
                nextWakeUp: append.nextWakeUp?.storeTime,
                events: events
            )
        }
        outbox = batch.outbox.map { message in
            Message(
                id: message.id,
                exchange: message.exchange,
                routingKey: message.routingKey,
                type: message.type,
                correlationID: message.correlationID,
                timestamp: message.timestamp.storeTime,
                headers: JSONText.object(message.headers),
                body: message.body,
                deliverAt: message.deliverAt?.storeTime,
                mandatory: message.mandatory
            )
        }
        inbox = batch.inbox
        appliedAt = batch.appends.map(\.at).max()?.storeTime ?? Date().storeTime
        timers = batch.timers
        outboxRemovals = batch.outboxRemovals
    }
}
