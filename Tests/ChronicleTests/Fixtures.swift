import Chronicle
import ChronicleTesting
import Foundation
import Logging

struct Ping: Command {
    typealias Reply = Pong
    static let name = "Ping"
    static let routingKey = "ping.send"
    static let replyType = "Pong"
    static let failureType: String? = "PingFailed"
    var n: Int
}

struct Pong: Codable, Sendable, Equatable { var n: Int }

let t0 = Date(timeIntervalSince1970: 1_000_000)

func started<O: Orchestration>(_ type: O.Type, _ input: O.Input) throws -> HistoryEvent.Kind {
    .orchestrationStarted(name: O.name, input: try Payload(encoding: input))
}

func pong(_ n: Int) throws -> Payload { try Payload(encoding: Pong(n: n)) }

/// An orchestration written as a closure, for small tests.
struct Script<Output: Codable & Sendable>: Orchestration {
    static var name: String { "Script" }
    let body: @Sendable (OrchestrationContext) async throws -> Output
    init(_ body: @escaping @Sendable (OrchestrationContext) async throws -> Output) { self.body = body }
    func run(_ input: Int, context: OrchestrationContext) async throws -> Output { try await body(context) }
}

/// An orchestration written as a closure whose input names its instance (`{"id": …}`), for the batch processor of
/// ``batchProcessor(running:startType:store:)``.
struct KeyedScript: Orchestration {
    static var name: String { "KeyedScript" }
    struct Input: Codable, Sendable { var id: String }
    let body: @Sendable (OrchestrationContext) async throws -> Int
    init(_ body: @escaping @Sendable (OrchestrationContext) async throws -> Int) { self.body = body }
    func run(_ input: Input, context: OrchestrationContext) async throws -> Int { try await body(context) }
}

/// A batch processor over `store` running only `orchestration`, whose instances a `startType` message starts,
/// naming the instance in its `id` field.
func batchProcessor(
    running orchestration: some Orchestration, startType: String, store: any EventStore = InMemoryEventStore()
) -> BatchProcessor {
    var registry = OrchestrationRegistry()
    registry.register(orchestration, startMessageType: startType, instanceIDField: "id")
    return BatchProcessor(registry: registry, store: store, logger: Logger(label: "test"))
}

/// The `startType` message that starts instance `id` (see ``batchProcessor(running:startType:store:)``).
func startMessage(_ startType: String, id: String) -> InboundMessage {
    InboundMessage(
        messageID: "start-\(id)", type: startType, correlationID: nil, body: Data(#"{"id":"\#(id)"}"#.utf8),
        exchange: "", routingKey: "")
}
