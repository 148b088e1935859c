import Foundation

/// What the processor knows of the orchestrations it runs and the messages it accepts: which message starts
/// which orchestration, which message types are replies, and how each outcome is announced.
public struct OrchestrationRegistry: Sendable {
    /// A message the processor publishes when an instance ends (or a start is refused).
    public struct Announcement: Sendable {
        public var type: String
        public var routingKey: String
        public var body: Payload

        public init(type: String, routingKey: String, body: Payload) {
            self.type = type
            self.routingKey = routingKey
            self.body = body
        }

        public init(type: String, routingKey: String, encoding body: some Encodable) throws {
            self.init(type: type, routingKey: routingKey, body: try Payload(encoding: body))
        }
    }

    struct Starter: Sendable {
        var orchestration: String
        /// The JSON field of the start message that holds the instance id.
        var instanceIDField: String
        /// Decodes and validates a start message's body: the instance id and the orchestration's input.
        var decode: @Sendable (Data) throws -> (InstanceID, Payload)
    }

    struct Entry: Sendable {
        var makeInstance: @Sendable (InstanceID, [HistoryEvent]) -> OrchestrationInstance
        /// The announcement of an ended instance: its output (and the value the code returned, when at hand),
        /// or why it failed.
        var announce: @Sendable (InstanceID, Result<Payload, Failure>, (any Sendable)?) -> Announcement?
    }

    enum ReplyKind: Sendable {
        case success
        case failure
    }

    private(set) var starters: [String: Starter] = [:]
    private(set) var entries: [String: Entry] = [:]
    private(set) var replies: [String: ReplyKind] = [:]
    private(set) var startTypesByRoutingKey: [String: String] = [:]

    public init() {}

    /// Registers an orchestration.
    ///
    /// - Parameters:
    ///   - orchestration: the code.
    ///   - startMessageType: the AMQP `type` of the message that starts an instance, e.g. `StartTrip`. Its body
    ///     is the orchestration's input.
    ///   - startRoutingKey: the routing key starts are published with, e.g. `trip.start`; a message with no
    ///     `type` property published with it is taken as a start (clients such as `amqp-publish` cannot set
    ///     the type).
    ///   - instanceIDField: the input's JSON field that names the instance, e.g. `tripId`.
    ///   - validate: checks an input beyond decoding; a start it throws for is dead-lettered with the error.
    ///   - announce: the message to publish when an instance ends with an output, or fails (including a start
    ///     that was refused, if its body named the instance).
    public mutating func register<O: Orchestration>(
        _ orchestration: O,
        startMessageType: String,
        startRoutingKey: String? = nil,
        instanceIDField: String,
        validate: @escaping @Sendable (O.Input) throws -> Void = { _ in },
        announce: @escaping @Sendable (InstanceID, Result<O.Output, Failure>) -> Announcement? = { _, _ in nil }
    ) {
        if let startRoutingKey { startTypesByRoutingKey[startRoutingKey] = startMessageType }
        // One parse gives the input and the instance id.
        let decoder = Payload.decoder
        decoder.userInfo[StartBody<O.Input>.instanceIDField] = instanceIDField
        starters[startMessageType] = Starter(
            orchestration: O.name,
            instanceIDField: instanceIDField,
            decode: { body in
                let start: StartBody<O.Input>
                do {
                    start = try Payload.decode(StartBody<O.Input>.self, from: body, with: decoder)
                } catch let error as DecodingError {
                    throw InvalidMessage(reason: "the body does not decode as \(startMessageType): \(error.summary)")
                }
                let input = start.input
                try validate(input)
                guard let id = start.instanceID, !id.isEmpty else {
                    throw InvalidMessage(reason: "the body has no \(instanceIDField)")
                }
                return (InstanceID(id), try Payload(encoding: input))
            }
        )
        entries[O.name] = Entry(
            makeInstance: { id, history in OrchestrationInstance(orchestration, id: id, history: history) },
            announce: { id, outcome, returned in
                switch outcome {
                case .success(let payload):
                    // The value itself when the code just returned it; decoding its payload again cost as much as
                    // a fortieth of the processor's time.
                    if let output = returned as? O.Output { return announce(id, .success(output)) }
                    guard let output = try? payload.decode(O.Output.self) else { return nil }
                    return announce(id, .success(output))
                case .failure(let failure):
                    return announce(id, .failure(failure))
                }
            }
        )
    }

    /// Registers a command, so that its replies are recognised.
    public mutating func register<C: Command>(command: C.Type) {
        replies[C.replyType] = .success
        if let failureType = C.failureType { replies[failureType] = .failure }
    }

    /// The message types the processor accepts, for documentation and checks.
    public var acceptedMessageTypes: [String] {
        (Array(starters.keys) + Array(replies.keys) + [TimerMessage.type]).sorted()
    }
}

/// A start message's body: the orchestration's input, and the string field that names the instance (the
/// decoder's `userInfo` says which).
private struct StartBody<Input: Decodable>: Decodable {
    static var instanceIDField: CodingUserInfoKey { CodingUserInfoKey(rawValue: "chronicle.instanceIDField")! }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var input: Input
    var instanceID: String?

    init(from decoder: any Decoder) throws {
        input = try Input(from: decoder)
        let field = decoder.userInfo[Self.instanceIDField] as? String ?? ""
        instanceID = try? decoder.container(keyedBy: Key.self).decodeIfPresent(
            String.self, forKey: Key(stringValue: field))
    }
}

/// A message the processor cannot use; it is dead-lettered with ``reason``.
public struct InvalidMessage: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension DecodingError {
    /// A one-line account of what did not decode, with the JSON path.
    var summary: String {
        func path(_ context: Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : keys.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent == "the body" ? "" : parent + ".")\(key.stringValue) is missing"
        case .typeMismatch(let type, let context): return "\(path(context)) is not \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) is null, expected \(type)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "not JSON" : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(self)"
        }
    }
}

/// The message a durable timer sends itself through the broker's delay mechanism.
public enum TimerMessage {
    public static let type = "TimerFired"
    /// The header naming the timer (a ``DurableTimerID``).
    public static let timerHeader = "x-chronicle-timer"

    struct Body: Codable {
        var instanceId: String
        var timerId: String
    }

    /// The message id (and outbox row) of the wake-up of `timer` of `instance`.
    static func wakeUpID(instance: InstanceID, timer: String) -> String { "\(instance)/\(timer)" }

    /// The wake-up of `timer` of `instance`: a message to the processor's `queue`, due at `due`.
    static func wakeUp(
        id: String, instance: InstanceID, timer: String, queue: String, at now: Date, due: Date
    ) -> OutgoingMessage {
        OutgoingMessage(
            id: id,
            exchange: "",
            routingKey: queue,
            type: type,
            correlationID: instance.rawValue,
            timestamp: now,
            headers: [timerHeader: timer],
            body: (try? Payload(encoding: Body(instanceId: instance.rawValue, timerId: timer)).data) ?? Data(),
            deliverAt: due
        )
    }
}
