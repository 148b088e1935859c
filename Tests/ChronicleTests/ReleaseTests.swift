import Foundation
import Testing

@testable import Chronicle

/// A reference that does not keep its object alive.
final class WeakBox: @unchecked Sendable {
    // @unchecked: `object` is only touched under `lock`.
    private let lock = NSLock()
    private weak var object: AnyObject?
    var value: AnyObject? { lock.withLock { object } }
    func set(_ value: AnyObject) { lock.withLock { object = value } }
}

/// Waits a second (kept in the cache, not parked) holding an object, so that the object lives exactly as long as the suspended code.
struct Parked: Orchestration {
    static let name = "Parked"
    static let held = WeakBox()
    final class Token: Sendable {}
    struct Input: Codable, Sendable { var id: String }

    func run(_ input: Input, context: OrchestrationContext) async throws -> Int {
        let token = Token()
        Self.held.set(token)
        try await context.sleep(for: .seconds(1))
        return withExtendedLifetime(token) { 1 }
    }
}

@Suite("Memory")
struct ReleaseTests {
    @Test("a batch processor let go of releases the suspended code of the instances it kept in memory")
    func droppedProcessorReleasesInstances() async throws {
        do {
            let processor = batchProcessor(running: Parked(), startType: "StartParked")
            let outcome = try await processor.process([startMessage("StartParked", id: "p1")])
            #expect(outcome.committed.count == 1)
            #expect(processor.cachedInstances == 1)
            #expect(Parked.held.value != nil, "the orchestration is not waiting")
        }
        #expect(Parked.held.value == nil, "the waiting code outlived its processor")
    }
}
