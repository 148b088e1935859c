import Foundation
import Testing

@testable import Chronicle

@Suite("An instance: steps, waits, replay")
struct OrchestrationInstanceTests {
    @Test("values drawn once come back unchanged on replay")
    func recordedValuesReplay() throws {
        let script = Script { context in
            let uuid = try await context.newUUID()
            let time = try await context.now()
            var random = try await context.makeRandomNumberGenerator()
            try await context.sleep(for: .seconds(30))
            return "\(uuid) \(time.timeIntervalSince1970) \(random.next())"
        }
        let first = OrchestrationInstance(script, id: "v")
        let start = first.apply(try started(Script<String>.self, 0), now: t0)
        #expect(start.timers.map(\.fireAt) == [t0 + 30])
        let done = first.apply(.timerFired(step: 4), now: t0 + 30)
        let output = try #require(done.output)

        for _ in 0..<20 {
            let replay = OrchestrationInstance(script, id: "v", history: start.newEvents)
            // Replayed at another time, the recorded time and values win.
            let again = replay.apply(.timerFired(step: 4), now: t0 + 999)
            #expect(again.output == output)
        }
    }

    @Test("a call attempt's reply after it timed out is ignored; duplicates are ignored")
    func staleReplies() throws {
        let script = Script { context in
            try await context.call(
                Ping(n: 1), retry: RetryPolicy(initialInterval: .seconds(1), maximumAttempts: 2),
                startToCloseTimeout: .seconds(5))
        }
        let instance = OrchestrationInstance(script, id: "s")
        let first = instance.apply(try started(Script<Pong>.self, 0), now: t0)
        #expect(first.commands.map(\.command.idempotencyKey) == ["s/1/1"])
        #expect(first.timers.map(\.id) == [.callTimeout(step: 1, attempt: 1)])
        let timedOut = instance.apply(.callTimedOut(step: 1, attempt: 1), now: t0 + 5)
        #expect(timedOut.timers.map(\.id) == [.sleep(step: 2)])
        let late = instance.apply(.callCompleted(step: 1, attempt: 1, reply: try pong(7)), now: t0 + 5.5)
        #expect(late.disposition != .applied)
        #expect(late.newEvents.isEmpty)
        let retry = instance.apply(.timerFired(step: 2), now: t0 + 6)
        #expect(retry.commands.map(\.command.idempotencyKey) == ["s/1/2"])
        let done = instance.apply(.callCompleted(step: 1, attempt: 2, reply: try pong(8)), now: t0 + 7)
        #expect(done.cancelledTimers == [.callTimeout(step: 1, attempt: 2)])
        #expect(done.output == (try Payload(encoding: Pong(n: 8))))
        let duplicate = instance.apply(.callCompleted(step: 1, attempt: 2, reply: try pong(8)), now: t0 + 8)
        #expect(duplicate.disposition == .ignored(reason: "the instance is completed"))
    }

    @Test("code that throws fails the instance with the error's type and description")
    func throwing() throws {
        struct Refused: Error, CustomStringConvertible { var description: String { "refused by policy" } }
        let instance = OrchestrationInstance(Script<Int> { _ in throw Refused() }, id: "x")
        let activation = instance.apply(try started(Script<Int>.self, 0), now: t0)
        #expect(activation.status == .failed)
        #expect(activation.failure == Failure(type: "Refused", message: "refused by policy"))
    }

    @Test("code that loops without awaiting the context fails, and does not wedge the driver")
    func looping() throws {
        let script = Script<Int> { _ in
            while true { await Task.yield() }
        }
        let instance = OrchestrationInstance(script, id: "loop", jobBudget: 10_000)
        let activation = instance.apply(try started(Script<Int>.self, 0), now: t0)
        #expect(activation.status == .failed)
        #expect(activation.failure?.type == "NotSettling")
    }

    @Test("code that awaits something outside the context fails with advice")
    func hanging() throws {
        let script = Script<Int> { _ in
            try await Task.sleep(for: .seconds(3_600))
            return 1
        }
        let instance = OrchestrationInstance(script, id: "hang")
        let activation = instance.apply(try started(Script<Int>.self, 0), now: t0)
        #expect(activation.status == .failed)
        #expect(
            activation.failure?.message.contains("use context.sleep") == true
                || activation.failure?.message.contains("Use context.sleep") == true)
    }

    @Test("an instance unloaded while waiting is rebuilt from history with the same behaviour")
    func unloadAndRebuild() throws {
        let script = Script { context in
            let a = try await context.call(Ping(n: 1), retry: .none)
            try await context.sleep(for: .seconds(1))
            let b = try await context.call(Ping(n: a.n + 1), retry: .none)
            return a.n * 100 + b.n
        }
        let live = OrchestrationInstance(script, id: "u")
        var history = live.apply(try started(Script<Int>.self, 0), now: t0).newEvents
        history += live.apply(.callCompleted(step: 1, attempt: 1, reply: try pong(3)), now: t0 + 1).newEvents
        live.unload()

        let rebuilt = OrchestrationInstance(script, id: "u", history: history)
        let fired = rebuilt.apply(.timerFired(step: 2), now: t0 + 2)
        let sent = try #require(fired.commands.first)
        #expect(try sent.command.body.decode(Ping.self).n == 4)
        let done = rebuilt.apply(.callCompleted(step: 3, attempt: 1, reply: try pong(9)), now: t0 + 3)
        #expect(done.output == (try Payload(encoding: 309)))
    }

    @Test("abandoned async let children let the parent finish")
    func abandonedChildren() throws {
        let script = Script { context in
            async let _ = context.call(Ping(n: 1), retry: .none)
            _ = try await context.now()
            return 5
        }
        let instance = OrchestrationInstance(script, id: "a")
        let activation = instance.apply(try started(Script<Int>.self, 0), now: t0)
        #expect(activation.output == (try Payload(encoding: 5)))
    }
}
