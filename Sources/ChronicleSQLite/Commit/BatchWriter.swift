import Chronicle
internal import GRDB

/// Writes one ``EncodedBatch`` inside the caller's write transaction.
///
/// Every statement is cached on the writer connection, looked up once per batch, and takes bound parameters
/// only (see ``BoundStatement``). Throwing leaves the transaction to be rolled back: a version conflict writes
/// nothing of the batch.
struct BatchWriter {
    let db: Database
    let path: String

    func write(_ batch: EncodedBatch) throws {
        if !batch.appends.isEmpty {
            let insertEvent = try BoundStatement(
                db,
                sql: """
                    INSERT INTO events (instance, sequence, type, format, payload, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """
            )
            let instances = try InstanceRows(db)
            for append in batch.appends {
                try writeInstance(append, instances)
                for event in append.events {
                    try insertEvent.run(
                        append.instance, event.sequence, event.type, HistoryEvent.formatVersion, event.payload,
                        event.recordedAt)
                }
            }
        }
        if !batch.outbox.isEmpty {
            let insertMessage = try BoundStatement(
                db,
                sql: """
                    INSERT INTO outbox
                        (id, exchange, routing_key, type, correlation_id, timestamp, headers, body, deliver_at,
                        mandatory)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO NOTHING
                    """
            )
            for message in batch.outbox {
                try insertMessage.run(
                    message.id, message.exchange, message.routingKey, message.type, message.correlationID,
                    message.timestamp, message.headers, message.body, message.deliverAt, message.mandatory)
            }
        }
        if !batch.inbox.isEmpty {
            let insertApplied = try BoundStatement(
                db,
                sql: "INSERT INTO inbox (message_id, applied_at) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING"
            )
            for messageID in batch.inbox {
                try insertApplied.run(messageID, batch.appliedAt)
            }
        }
        if !batch.timers.isEmpty {
            let timers = try TimerRows(db)
            for change in batch.timers {
                try timers.write(change)
            }
        }
        if !batch.outboxRemovals.isEmpty {
            let delete = try BoundStatement(db, sql: "DELETE FROM outbox WHERE id = ?")
            for id in batch.outboxRemovals { try delete.run(id) }
        }
    }

    /// The statements that move an instance's row to its new version.
    private struct InstanceRows {
        let insert: BoundStatement
        let update: BoundStatement

        init(_ db: Database) throws {
            insert = try BoundStatement(
                db,
                sql: """
                    INSERT INTO instances (id, orchestration, status, version, created_at, updated_at, next_wake_up)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
                    ON CONFLICT (id) DO UPDATE SET
                        status = excluded.status, version = excluded.version,
                        updated_at = excluded.updated_at, next_wake_up = excluded.next_wake_up
                    WHERE instances.version = 0
                    """
            )
            update = try BoundStatement(
                db,
                sql: """
                    UPDATE instances SET status = ?, version = ?, updated_at = ?, next_wake_up = ?
                    WHERE id = ? AND version = ?
                    """
            )
        }
    }

    /// Moves the instance's row from the expected version to the new one, or fails with a version conflict.
    ///
    /// The version check is the row update itself (`WHERE version = ?`), so no separate read is needed.
    private func writeInstance(_ append: EncodedBatch.Append, _ rows: InstanceRows) throws {
        if append.expectedVersion == 0 {
            try rows.insert.run(
                append.instance, append.orchestration, append.status, append.newVersion, append.at,
                append.nextWakeUp)
        } else {
            try rows.update.run(
                append.status, append.newVersion, append.at, append.nextWakeUp, append.instance,
                append.expectedVersion)
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

    /// The statements that schedule timers and change their state.
    private struct TimerRows {
        let schedule: BoundStatement
        let setState: BoundStatement

        init(_ db: Database) throws {
            // Scheduling an existing timer re-arms it.
            schedule = try BoundStatement(
                db,
                sql: """
                    INSERT INTO timers (instance, timer_id, due_at, state) VALUES (?, ?, ?, ?)
                    ON CONFLICT (instance, timer_id) DO UPDATE SET due_at = excluded.due_at, state = excluded.state
                    """
            )
            // A change to a timer the store does not hold (already purged, say) changes nothing.
            setState = try BoundStatement(db, sql: "UPDATE timers SET state = ? WHERE instance = ? AND timer_id = ?")
        }

        func write(_ change: TimerChange) throws {
            switch change {
            case .schedule(let timer):
                try schedule.run(
                    timer.instanceID.rawValue, timer.timerID, timer.dueAt.storeTime, timer.state.rawValue)
            case .fired(let instance, let timerID):
                try setState.run(TimerState.fired.rawValue, instance.rawValue, timerID)
            case .cancelled(let instance, let timerID):
                try setState.run(TimerState.cancelled.rawValue, instance.rawValue, timerID)
            }
        }
    }
}
