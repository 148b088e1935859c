import Foundation
import Testing

@testable import Chronicle

@Suite("Timers held in the processor's memory")
struct LocalTimersTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func wakeUp(_ instance: String, _ timer: String, in seconds: Double) -> OutgoingMessage {
        let id = InstanceID(instance)
        return TimerMessage.wakeUp(
            id: TimerMessage.wakeUpID(instance: id, timer: timer), instance: id, timer: timer,
            queue: "chronicle.orchestrator", at: start, due: start.addingTimeInterval(seconds))
    }

    @Test("due wake-ups come out in due order, none early; cancelled and fired ones never come out")
    func dueOrder() {
        let timers = LocalTimers()
        let delays = [0.5, 0.1, 3, 0.3, 2, 1, 0.2]
        timers.hold(delays.enumerated().map { Self.wakeUp("i\($0.offset)", "t", in: $0.element) })
        timers.apply([
            .cancelled(InstanceID("i4"), timerID: "t"), .fired(InstanceID("i5"), timerID: "t"),
            .schedule(TimerRecord(instanceID: "i0", timerID: "t", dueAt: Self.start)),
        ])
        #expect(timers.count == 5)
        #expect(timers.takeDue(Self.start.addingTimeInterval(0.05)).isEmpty)
        let first = timers.takeDue(Self.start.addingTimeInterval(0.35))
        #expect(first.map(\.correlationID) == ["i1", "i6", "i3"])
        let rest = timers.takeDue(Self.start.addingTimeInterval(10))
        #expect(rest.map(\.correlationID) == ["i0", "i2"])
        #expect(timers.count == 0)
        #expect(timers.takeDue(Self.start.addingTimeInterval(100)).isEmpty)
    }

    @Test("a timer held again for another time comes out once, at the new time; other messages are not held")
    func heldAgain() {
        let timers = LocalTimers()
        timers.hold([Self.wakeUp("i", "t", in: 1)])
        timers.hold([Self.wakeUp("i", "t", in: 2)])
        var command = Self.wakeUp("i", "c", in: 1)
        command.type = "ReserveHotel"
        timers.hold([command])
        #expect(timers.takeDue(Self.start.addingTimeInterval(1.5)).isEmpty)
        #expect(timers.takeDue(Self.start.addingTimeInterval(2)).count == 1)
        #expect(timers.count == 0)
    }
}
