import Foundation
import Testing

@testable import Chronicle

@Suite("Delivery batches")
struct DeliveryBatchesTests {
    static func message(_ id: Int) -> InboundMessage {
        InboundMessage(messageID: "\(id)", type: "T", correlationID: nil, body: Data(), exchange: "", routingKey: "q")
    }

    @Test("small deliveries that arrived meanwhile come out as one batch, in order; the end is reported")
    func coalesces() async throws {
        let (stream, continuation) = AsyncThrowingStream<[InboundMessage], any Error>.makeStream()
        for id in 0..<10 { continuation.yield([Self.message(id)]) }
        let batches = DeliveryBatches()
        async let pumping: Void = batches.pump(stream)
        // Wait until the pump has read all ten.
        var first: [InboundMessage] = []
        while first.count < 10 {
            first += try await batches.next() ?? []
        }
        #expect(first.map(\.messageID) == (0..<10).map { "\($0)" })
        continuation.yield([Self.message(10), Self.message(11)])
        continuation.yield([Self.message(12)])
        continuation.finish()
        await pumping
        #expect(try await batches.next(limit: 2)?.map(\.messageID) == ["10", "11"])
        #expect(try await batches.next()?.map(\.messageID) == ["12"])
        #expect(try await batches.next() == nil)
    }

    @Test("a failed stream's error comes after its last messages")
    func failure() async throws {
        struct Broken: Error {}
        let (stream, continuation) = AsyncThrowingStream<[InboundMessage], any Error>.makeStream()
        continuation.yield([Self.message(1)])
        continuation.finish(throwing: Broken())
        let batches = DeliveryBatches()
        await batches.pump(stream)
        #expect(try await batches.next()?.count == 1)
        await #expect(throws: Broken.self) { try await batches.next() }
    }

    @Test(
        "an interruption wakes a waiting next() and comes before messages still buffered",
        .timeLimit(.minutes(1)))
    func interruption() async throws {
        struct Stop: Error {}
        let (stream, continuation) = AsyncThrowingStream<[InboundMessage], any Error>.makeStream()
        let batches = DeliveryBatches()
        async let pumping: Void = batches.pump(stream)
        let waiting = Task { try await batches.next() }
        try await Task.sleep(for: .milliseconds(20))
        batches.interrupt(Stop())
        await #expect(throws: Stop.self) { try await waiting.value }
        continuation.yield([Self.message(1)])
        continuation.finish()
        await pumping
        await #expect(throws: Stop.self) { try await batches.next() }
    }
}
