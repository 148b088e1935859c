import Testing

@testable import Chronicle

@Suite("Doorbell")
struct DoorbellTests {
    @Test("a ring wakes the waiter long before its limit", .timeLimit(.minutes(1)))
    func ringWakes() async throws {
        let bell = Doorbell()
        let clock = ContinuousClock()
        let started = clock.now
        async let waited: Void = bell.wait(upTo: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        bell.ring()
        await waited
        #expect(clock.now - started < .seconds(20))
    }

    @Test("a ring while nobody waits is kept for the next wait, once", .timeLimit(.minutes(1)))
    func ringIsKept() async {
        let bell = Doorbell()
        bell.ring()
        let clock = ContinuousClock()
        var started = clock.now
        await bell.wait(upTo: .seconds(30))
        #expect(clock.now - started < .seconds(20))
        // Used up: the next wait lasts its limit.
        started = clock.now
        await bell.wait(upTo: .milliseconds(200))
        #expect(clock.now - started >= .milliseconds(200))
    }

    @Test("a wait ends at its limit, or when its task is cancelled", .timeLimit(.minutes(1)))
    func limitAndCancellation() async {
        let bell = Doorbell()
        let clock = ContinuousClock()
        var started = clock.now
        await bell.wait(upTo: .milliseconds(100))
        #expect(clock.now - started >= .milliseconds(100))

        started = clock.now
        let waiting = Task { await bell.wait(upTo: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await waiting.value
        #expect(clock.now - started < .seconds(20))
    }
}
