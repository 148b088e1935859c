import Chronicle
internal import GRDB

/// Writes one ``EncodedBatch`` inside the caller's write transaction.
///
/// Every statement is cached on the writer connection and takes bound parameters only. Throwing leaves the
/// transaction to be rolled back: a version conflict writes nothing of the batch.
struct BatchWriter {
    let db: Database
    let path: String

    func write(_ batch: EncodedBatch) throws {
        let insertEvent = try db.cachedStatement(
            sql: """
                INSERT INTO events (instance, sequence, type, format, payload, recorded_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """
        )
        for append in batch.appends {
            try writeInstance(append)
            for event in append.events {
                try insertEvent.execute(arguments: [
                    append.instance, event.sequence, event.type, HistoryEvent.formatVersion, event.payload,
                    event.recordedAt,
                ])
            }
        }
        if !batch.outbox.isEmpty {
            let insertMessage = try db.cachedStatement(
                sql: """
                    INSERT INTO outbox
                        (id, exchange, routing_key, type, correlation_id, timestamp, headers, body, deliver_at,
                        mandatory)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO NOTHING
                    """
            )
            for message in batch.outbox {
                try insertMessage.execute(arguments: [
                    message.id, message.exchange, message.routingKey, message.type, message.correlationID,
                    message.timestamp, message.headers, message.body, message.deliverAt, message.mandatory,
                ])
            }
        }
        if !batch.inbox.isEmpty {
            let insertApplied = try db.cachedStatement(
                sql: "INSERT INTO inbox (message_id, applied_at) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING"
            )
            for messageID in batch.inbox {
                try insertApplied.execute(arguments: [messageID, batch.appliedAt])
            }
        }
        for change in batch.timers {
            try writeTimer(change)
        }
        if !batch.outboxRemovals.isEmpty {
            let delete = try db.cachedStatement(sql: "DELETE FROM outbox WHERE id = ?")
            for id in batch.outboxRemovals { try delete.execute(arguments: [id]) }
        }
    }

    /// Moves the instance's row from the expected version to the new one, or fails with a version conflict.
    ///
    /// The version check is the row update itself (`WHERE version = ?`), so no separate read is needed.
    private func writeInstance(_ append: EncodedBatch.Append) throws {
        if append.expectedVersion == 0 {
            try db.cachedStatement(
                sql: """
                    INSERT INTO instances (id, orchestration, status, version, created_at, updated_at, next_wake_up)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
                    ON CONFLICT (id) DO UPDATE SET
                        status = excluded.status, version = excluded.version,
                        updated_at = excluded.updated_at, next_wake_up = excluded.next_wake_up
                    WHERE instances.version = 0
                    """
            ).execute(arguments: [
                append.instance, append.orchestration, append.status, append.newVersion, append.at,
                append.nextWakeUp,
            ])
        } else {
            try db.cachedStatement(
                sql: """
                    UPDATE instances SET status = ?, version = ?, updated_at = ?, next_wake_up = ?
                    WHERE id = ? AND version = ?
                    """
            ).execute(arguments: [
                append.status, append.newVersion, append.at, append.nextWakeUp, append.instance,
                append.expectedVersion,
            ])
        }
        guard db.changesCount == 1 else {
            let actual = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT version FROM instances WHERE id = ?"),
                arguments: [append.instance]
            )
            let found = actual.map { "holds \($0) events" } ?? "does not exist"
            throw EventStoreError(
                .versionConflict,
                """
                Instance \(append.instance) \(found) in \(path), but the batch expected \(append.expectedVersion): \
                another writer appended first. Nothing of the batch was written; reload the instance and run it \
                again.
                """
            )
        }
    }

    private func writeTimer(_ change: TimerChange) throws {
        switch change {
        case .schedule(let timer):
            // Scheduling an existing timer re-arms it.
            try db.cachedStatement(
                sql: """
                    INSERT INTO timers (instance, timer_id, due_at, state) VALUES (?, ?, ?, ?)
                    ON CONFLICT (instance, timer_id) DO UPDATE SET due_at = excluded.due_at, state = excluded.state
                    """
            ).execute(arguments: [
                timer.instanceID.rawValue, timer.timerID, timer.dueAt.storeTime, timer.state.rawValue,
            ])
        case .fired(let instance, let timerID):
            try setTimerState(.fired, instance: instance, timerID: timerID)
        case .cancelled(let instance, let timerID):
            try setTimerState(.cancelled, instance: instance, timerID: timerID)
        }
    }

    /// A change to a timer the store does not hold (already purged, say) changes nothing.
    private func setTimerState(_ state: TimerState, instance: InstanceID, timerID: String) throws {
        try db.cachedStatement(sql: "UPDATE timers SET state = ? WHERE instance = ? AND timer_id = ?")
            .execute(arguments: [state.rawValue, instance.rawValue, timerID])
    }
}
