import Testing

@testable import ChronicleAMQP

/// Publisher-confirm bookkeeping, without a broker.
@Suite struct ConfirmTrackerTests {
    @Test func aMultipleAckSettlesEverythingUpToItsTagInOrder() {
        var tracker = ConfirmTracker<String>()
        for name in ["a", "b", "c", "d"] { tracker.sent(name) }
        #expect(tracker.settle(upTo: 3, multiple: true) == ["a", "b", "c"])
        #expect(tracker.count == 1)
        #expect(tracker.settle(upTo: 3, multiple: true) == [], "a repeated ack settles nothing twice")
        #expect(tracker.settle(upTo: 4, multiple: false) == ["d"])
        #expect(tracker.isEmpty)
    }

    @Test func singleAcksMayComeOutOfOrder() {
        var tracker = ConfirmTracker<String>()
        for name in ["a", "b", "c"] { tracker.sent(name) }
        #expect(tracker.settle(upTo: 2, multiple: false) == ["b"])
        #expect(tracker.settle(upTo: 3, multiple: true) == ["a", "c"])
        #expect(tracker.settle(upTo: 9, multiple: true) == [], "a tag never sent settles nothing")
    }

    @Test func aReturnMarksTheOldestMatchingMessage() {
        var tracker = ConfirmTracker<(id: String, returned: Bool)>()
        tracker.sent(("x", false))
        tracker.sent(("y", false))
        tracker.sent(("y", false))
        tracker.updateOldest(where: { $0.id == "y" && !$0.returned }, with: { $0.returned = true })
        let settled = tracker.settle(upTo: 3, multiple: true)
        #expect(settled.map(\.returned) == [false, true, false])
    }

    @Test func aResetHandsBackTheUnconfirmedAndNumbersFromOneAgain() {
        var tracker = ConfirmTracker<String>()
        for name in ["a", "b", "c"] { tracker.sent(name) }
        _ = tracker.settle(upTo: 2, multiple: false)
        #expect(tracker.reset() == ["a", "c"])
        #expect(tracker.isEmpty)
        #expect(tracker.sent("d") == 1)
    }
}
