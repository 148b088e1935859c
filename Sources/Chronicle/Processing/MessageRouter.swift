import Foundation

/// Step 1 of the processing loop: turns a delivered message into an input for one instance, or says why it
/// cannot be used.
struct MessageRouter: Sendable {
    let registry: OrchestrationRegistry
    let maximumMessageBytes: Int

    enum Routed: Sendable {
        case start(orchestration: String, instance: InstanceID, input: Payload)
        case input(instance: InstanceID, HistoryEvent.Kind)
    }

    /// A message that cannot be used: dead-lettered with `reason`; if it named an instance that can be told,
    /// `instance` is set so that a failure can be announced.
    struct Rejection: Error, Sendable {
        var reason: String
        var orchestration: String?
        var instance: InstanceID?
    }

    func route(_ message: InboundMessage) -> Result<Routed, Rejection> {
        if message.body.count > maximumMessageBytes {
            return .failure(
                Rejection(reason: "the body is \(message.body.count) bytes, over the limit of \(maximumMessageBytes)"))
        }
        // A start may come without `type` (amqp-publish cannot set it): its routing key says what it is. Without
        // a message id, a start is still applied once (a second start of the same instance starts nothing), and a
        // reply once (its command id and attempt are settled once); only timers need theirs.
        let knownType = message.type.flatMap { $0.isEmpty ? nil : $0 }
        guard let type = knownType ?? registry.startTypesByRoutingKey[message.routingKey] else {
            return .failure(
                Rejection(
                    reason: "the message has no type property and its routing key '\(message.routingKey)' names no "
                        + "message; set type to the message name, e.g. StartTrip"
                )
            )
        }
        if let starter = registry.starters[type] {
            do {
                let (instance, input) = try starter.decode(message.body)
                if let problem = Self.unusable(instance.rawValue, field: starter.instanceIDField) {
                    return .failure(Rejection(reason: problem))
                }
                if let correlation = message.correlationID, !correlation.isEmpty, correlation != instance.rawValue {
                    return .failure(
                        Rejection(
                            reason: "correlation_id \(correlation) differs from \(starter.instanceIDField) \(instance)")
                    )
                }
                return .success(.start(orchestration: starter.orchestration, instance: instance, input: input))
            } catch {
                let named = message.stringFields[starter.instanceIDField]
                return .failure(
                    Rejection(
                        reason: error is InvalidMessage ? "\(error)" : "invalid \(type): \(error)",
                        orchestration: starter.orchestration,
                        instance: named.flatMap {
                            Self.unusable($0, field: starter.instanceIDField) == nil ? InstanceID($0) : nil
                        }
                    )
                )
            }
        }
        if let kind = registry.replies[type] {
            return routeReply(message, type: type, kind: kind)
        }
        if type == TimerMessage.type {
            guard message.messageID?.isEmpty == false else {
                return .failure(Rejection(reason: "the TimerFired message has no message_id"))
            }
            guard let text = message.headers[TimerMessage.timerHeader], let timer = DurableTimerID(text) else {
                return .failure(
                    Rejection(reason: "the TimerFired message has no valid \(TimerMessage.timerHeader) header"))
            }
            guard let instance = message.correlationID, !instance.isEmpty else {
                return .failure(Rejection(reason: "the TimerFired message has no correlation_id"))
            }
            return .success(.input(instance: InstanceID(instance), timer.firedEvent))
        }
        return .failure(
            Rejection(
                reason:
                    "unknown message type \(type); accepted: \(registry.acceptedMessageTypes.joined(separator: ", "))"))
    }

    /// Why `id` cannot name an instance (blank, or too long for AMQP's short strings), or nil. A rejected start
    /// whose id is unusable is dead-lettered without an announced failure, which would carry the same id.
    static func unusable(_ id: String, field: String) -> String? {
        if id.allSatisfy(\.isWhitespace) { return "\(field) is blank" }
        let bytes = id.utf8.count
        if bytes > InstanceID.maximumUTF8Count {
            return "\(field) is \(bytes) bytes in UTF-8, over the limit of \(InstanceID.maximumUTF8Count) "
                + "(it travels in AMQP's correlation_id and message_id, which hold 255)"
        }
        return nil
    }

    private struct ReplyHeader: Decodable {
        var commandId: String
    }

    private struct FailureBody: Decodable {
        var error: Failure
    }

    private func routeReply(_ message: InboundMessage, type: String, kind: OrchestrationRegistry.ReplyKind) -> Result<
        Routed, Rejection
    > {
        let header: ReplyHeader
        do {
            header = try Payload.decode(ReplyHeader.self, from: message.body)
        } catch {
            return .failure(Rejection(reason: "the \(type) reply has no commandId: \(Self.summary(error))"))
        }
        guard let key = IdempotencyKey(header.commandId) else {
            return .failure(
                Rejection(
                    reason: "commandId \"\(header.commandId)\" is not a command id of the form INSTANCE/STEP/ATTEMPT"))
        }
        if let correlation = message.correlationID, !correlation.isEmpty, correlation != key.instanceID.rawValue {
            return .failure(
                Rejection(reason: "correlation_id \(correlation) differs from the instance of commandId \(key)"))
        }
        switch kind {
        case .success:
            return .success(
                .input(
                    instance: key.instanceID,
                    .callCompleted(step: key.step, attempt: key.attempt, reply: Payload(data: message.body))))
        case .failure:
            do {
                let body = try Payload.decode(FailureBody.self, from: message.body)
                return .success(
                    .input(
                        instance: key.instanceID, .callFailed(step: key.step, attempt: key.attempt, failure: body.error)
                    ))
            } catch {
                return .failure(
                    Rejection(reason: "the \(type) reply has no error {type, message}: \(Self.summary(error))"))
            }
        }
    }

    static func summary(_ error: any Error) -> String {
        (error as? DecodingError)?.summary ?? "\(error)"
    }
}
