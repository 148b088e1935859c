/// The publishes of one channel in confirm mode that await their confirm, by sequence number.
///
/// The broker numbers the messages of a channel in confirm mode 1, 2, 3, … and confirms them by that number,
/// one at a time or everything up to a number (`multiple`), in any order. A value state machine: the
/// connection thread feeds it what it sent and what the broker answered; tested without a broker.
struct ConfirmTracker<Entry> {
    private var entries: [UInt64: Entry] = [:]
    /// Every number below this one is confirmed.
    private(set) var lowest: UInt64 = 1
    /// The number the next publish gets.
    private(set) var next: UInt64 = 1

    /// How many await their confirm.
    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// Records a publish just written; returns its number.
    @discardableResult
    mutating func sent(_ entry: Entry) -> UInt64 {
        defer { next += 1 }
        entries[next] = entry
        return next
    }

    /// The entries a basic.ack or basic.nack settles, in sequence order; numbers already settled are skipped.
    mutating func settle(upTo tag: UInt64, multiple: Bool) -> [Entry] {
        guard tag >= lowest, tag < next else { return [] }
        var settled: [Entry] = []
        for sequence in (multiple ? lowest : tag)...tag {
            if let entry = entries.removeValue(forKey: sequence) { settled.append(entry) }
        }
        while lowest < next && entries[lowest] == nil { lowest += 1 }
        return settled
    }

    /// Changes the oldest unconfirmed entry that `matches` (a basic.return names no number: the broker
    /// returns a message before confirming it, so the oldest match is the one).
    mutating func updateOldest(where matches: (Entry) -> Bool, with update: (inout Entry) -> Void) {
        guard let sequence = entries.keys.filter({ matches(entries[$0]!) }).min() else { return }
        update(&entries[sequence]!)
    }

    /// Everything unconfirmed, in sequence order, and a fresh start at 1 (the channel was closed or the
    /// connection lost; a new channel numbers from 1 again).
    mutating func reset() -> [Entry] {
        let unconfirmed = entries.keys.sorted().map { entries[$0]! }
        self = ConfirmTracker()
        return unconfirmed
    }
}
