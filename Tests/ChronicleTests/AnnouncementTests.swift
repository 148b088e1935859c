import ChronicleTesting
import Foundation
import Logging
import Synchronization
import Testing

@testable import Chronicle

/// An output that counts how often it is decoded.
struct CountedOutput: Codable, Sendable, Equatable {
    static let decodes = Atomic<Int>(0)
    var n: Int

    init(n: Int) { self.n = n }

    init(from decoder: any Decoder) throws {
        n = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .n)
        Self.decodes.add(1, ordering: .relaxed)
    }
}

/// Completes at once with `CountedOutput(n: 7)`.
struct CountedScript: Orchestration {
    static var name: String { "CountedScript" }
    struct Input: Codable, Sendable { var id: String }
    func run(_ input: Input, context: OrchestrationContext) async throws -> CountedOutput { CountedOutput(n: 7) }
}

@Suite("The announcement of an outcome")
struct AnnouncementTests {
    @Test("an instance that completes is announced from the value its code returned, not its payload decoded again")
    func fromTheReturnedValue() async throws {
        var registry = OrchestrationRegistry()
        registry.register(
            CountedScript(), startMessageType: "StartCounted", instanceIDField: "id",
            announce: { _, result in
                guard case .success(let output) = result else { return nil }
                return try? .init(type: "Counted", routingKey: "counted.done", encoding: output)
            })
        let processor = BatchProcessor(registry: registry, store: InMemoryEventStore(), logger: Logger(label: "test"))
        let before = CountedOutput.decodes.load(ordering: .relaxed)
        let outcome = try await processor.process([startMessage("StartCounted", id: "c-1")])
        #expect(CountedOutput.decodes.load(ordering: .relaxed) == before)
        let announced = try #require(outcome.publish.first { $0.type == "Counted" })
        #expect(announced.routingKey == "counted.done")
        #expect(try Payload(data: announced.body).decode(CountedOutput.self) == CountedOutput(n: 7))
    }
}
