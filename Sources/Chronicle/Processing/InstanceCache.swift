import Foundation

/// Keeps the most recently used instances in memory, so that a reply to a hot instance needs no replay.
///
/// Bounded: when full, the least recently used instance is unloaded (its suspended code released) and
/// rebuilt from history when it is next needed. Finished instances are not kept, nor instances that wait
/// only for a timer further away than ``parkAfter``: a waiting saga costs no memory.
struct InstanceCache: Sendable {
    struct Entry: Sendable {
        var instance: OrchestrationInstance
        /// The number of stored events the instance reflects.
        var version: Int
        var lastUse: UInt64
    }

    let capacity: Int
    /// Instances expecting no input sooner than this are unloaded rather than kept.
    let parkAfter: Duration
    private var entries: [InstanceID: Entry] = [:]
    private var clock: UInt64 = 0

    init(capacity: Int, parkAfter: Duration = .seconds(30)) {
        self.capacity = max(capacity, 0)
        self.parkAfter = parkAfter
    }

    var count: Int { entries.count }

    mutating func take(_ id: InstanceID) -> Entry? { entries.removeValue(forKey: id) }

    func contains(_ id: InstanceID) -> Bool { entries[id] != nil }

    /// Keeps `instance` (unless it is finished or the cache holds nothing), evicting the least recently used
    /// ones beyond capacity.
    mutating func put(_ id: InstanceID, instance: OrchestrationInstance, version: Int, now: Date) {
        let expected = instance.expectedInputAt
        guard instance.status == .running, capacity > 0, let expected,
            expected.timeIntervalSince(now) < Double(parkAfter.components.seconds)
        else {
            instance.unload()
            return
        }
        clock += 1
        entries[id] = Entry(instance: instance, version: version, lastUse: clock)
        if entries.count > capacity {
            // Evict the oldest tenth at once, so eviction is not paid on every put.
            let excess = entries.count - capacity + capacity / 10
            for (victim, entry) in entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }).prefix(excess) {
                entry.instance.unload()
                entries.removeValue(forKey: victim)
            }
        }
    }

    mutating func evict(_ id: InstanceID) {
        entries.removeValue(forKey: id)?.instance.unload()
    }

    mutating func removeAll() {
        for entry in entries.values { entry.instance.unload() }
        entries.removeAll()
    }
}
