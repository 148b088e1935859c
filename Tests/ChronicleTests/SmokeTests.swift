import Foundation
import Testing

@testable import Chronicle

struct Ping: Command {
    typealias Reply = Pong
    static let name = "Ping"
    static let routingKey = "ping.send"
    static let replyType = "Pong"
    static let failureType = "PingFailed"
    var n: Int
}

struct Pong: Codable, Sendable { var n: Int }

struct PingTwice: Orchestration {
    static let name = "PingTwice"
    func run(_ input: Int, context: OrchestrationContext) async throws -> Int {
        _ = try await context.newUUID()
        try await context.sleep(for: .seconds(1))
        async let a = context.call(Ping(n: input))
        async let b = context.call(Ping(n: input + 1))
        let (x, y) = try await (a, b)
        return x.n + y.n
    }
}

@Test func smoke() throws {
    let t0 = Date(timeIntervalSince1970: 1_000)
    let instance = OrchestrationInstance(PingTwice(), id: "i1")
    var a = instance.apply(.orchestrationStarted(name: "PingTwice", input: try Payload(encoding: 5)), now: t0)
    #expect(a.timers.count == 1)
    a = instance.apply(.timerFired(step: 2), now: t0 + 1)
    #expect(a.commands.map(\.command.idempotencyKey) == ["i1/3/1", "i1/4/1"])
    a = instance.apply(.callCompleted(step: 4, attempt: 1, reply: try Payload(encoding: Pong(n: 10))), now: t0 + 2)
    #expect(a.status == .running)
    a = instance.apply(.callCompleted(step: 3, attempt: 1, reply: try Payload(encoding: Pong(n: 20))), now: t0 + 3)
    #expect(a.status == .completed)
    #expect(a.output == (try Payload(encoding: 30)))
}
