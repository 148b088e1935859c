import Foundation
import Testing

@testable import Chronicle

@Suite("The instance cache")
struct InstanceCacheTests {
    @Test("an instance awaiting a reply stays; one parked on a long timer is unloaded; finished ones go")
    func parks() throws {
        let awaitingReply = OrchestrationInstance(Script { try await $0.call(Ping(n: 1), retry: .none) }, id: "reply")
        _ = awaitingReply.apply(try started(Script<Pong>.self, 0), now: t0)
        let parked = OrchestrationInstance(
            Script {
                try await $0.sleep(for: .seconds(3_600))
                return 0
            }, id: "parked")
        _ = parked.apply(try started(Script<Int>.self, 0), now: t0)
        let soon = OrchestrationInstance(
            Script {
                try await $0.sleep(for: .seconds(1))
                return 0
            }, id: "soon")
        _ = soon.apply(try started(Script<Int>.self, 0), now: t0)
        let finished = OrchestrationInstance(
            Script {
                _ = try await $0.now()
                return 0
            }, id: "done")
        _ = finished.apply(try started(Script<Int>.self, 0), now: t0)

        #expect(awaitingReply.expectedInputAt == t0)
        #expect(parked.expectedInputAt == t0 + 3_600)
        #expect(finished.expectedInputAt == nil)

        var cache = InstanceCache(capacity: 10)
        for instance in [awaitingReply, parked, soon, finished] {
            cache.put(instance.id, instance: instance, version: 1, now: t0)
        }
        #expect(cache.count == 2)
        #expect(cache.take("reply") != nil)
        #expect(cache.take("soon") != nil)
        #expect(cache.take("parked") == nil)
    }
}
