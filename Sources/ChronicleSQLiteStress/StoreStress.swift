// chronicle-store-stress: commits batches to a store in a loop until it is killed.
//
// The crash-safety test (Tests/ChronicleSQLiteTests/CrashSafetyTests.swift) runs it and kills it with SIGKILL at
// random moments. Each run works on the instances of its generation G (an argument), so that histories stay
// short and a run starts quickly however long the test has been going; batches are numbered b = 1, 2, 3… within
// a generation, from the store itself, so a run given the same G goes on where the killed one stopped. Every row
// of a batch carries the batch's number and size, so that the test can tell a whole batch from a part of one
// without knowing how this program chose it:
// - the instance `gG-counter` gets one event per batch (`timerFired(step: b)`): its version is the number of
//   committed batches;
// - 1 to 6 of the instances `gG-stress-0` … `gG-stress-11` get 1 to 4 events each,
//   `callCompleted(step: b, attempt: sequence, reply: {"batch": b, "events": E, "messages": M})`;
// - M outbox rows `G-b-<i>` with headers `generation`, `batch` and `messages`; the inbox id `G-b`; the timer
//   `t-b` of `gG-counter`.
//
// It prints `committed` once its first batch is committed.
//
// Usage: chronicle-store-stress <store path> <full|normal> <generation>
import Chronicle
import ChronicleSQLite
import Foundation
import Logging

@main
struct StoreStress {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 4, let synchronous = SQLiteEventStore.Synchronous(rawValue: arguments[2]),
            let generation = Int(arguments[3])
        else {
            FileHandle.standardError.write(
                Data("usage: chronicle-store-stress <store path> <full|normal> <generation>\n".utf8)
            )
            exit(64)
        }
        let logger = Logger(label: "chronicle.store-stress", factory: { _ in SwiftLogNoOpLogHandler() })
        let store = try SQLiteEventStore(
            configuration: .init(path: arguments[1], synchronous: synchronous),
            logger: logger
        )

        let counter = InstanceID("g\(generation)-counter")
        let pool = (0..<12).map { InstanceID("g\(generation)-stress-\($0)") }
        var versions: [InstanceID: Int] = [:]
        for id in pool + [counter] {
            versions[id] = try await store.load(id)?.version ?? 0
        }
        var generator = SystemRandomNumberGenerator()
        // The test waits for this line before it picks its moment to kill, so that a slow start does not
        // make it kill a run that never committed.
        var announced = false
        while true {
            let batch = versions[counter, default: 0] + 1
            let now = Date()
            let chosen = pool.shuffled(using: &generator).prefix(Int.random(in: 1...6, using: &generator))
            let eventCounts = chosen.map { _ in Int.random(in: 1...4, using: &generator) }
            let messages = Int.random(in: 0...5, using: &generator)
            let manifest = Payload(
                json: #"{"batch":\#(batch),"events":\#(eventCounts.reduce(0, +)),"messages":\#(messages)}"#)

            var appends = [
                InstanceAppend(
                    instanceID: counter,
                    orchestration: "Counter",
                    expectedVersion: batch - 1,
                    events: [HistoryEvent(.timerFired(step: batch), at: now)],
                    status: .running,
                    nextWakeUp: nil,
                    at: now
                )
            ]
            for (id, count) in zip(chosen, eventCounts) {
                let version = versions[id, default: 0]
                appends.append(
                    InstanceAppend(
                        instanceID: id,
                        orchestration: "Stress",
                        expectedVersion: version,
                        events: (1...count).map {
                            HistoryEvent(.callCompleted(step: batch, attempt: version + $0, reply: manifest), at: now)
                        },
                        status: .running,
                        nextWakeUp: nil,
                        at: now
                    )
                )
            }
            let outbox = (0..<messages).map { index in
                OutgoingMessage(
                    id: "\(generation)-\(batch)-\(index)",
                    exchange: "chronicle.commands",
                    routingKey: "stress",
                    type: "Stress",
                    correlationID: counter.rawValue,
                    timestamp: now,
                    headers: ["generation": "\(generation)", "batch": "\(batch)", "messages": "\(messages)"],
                    body: Data(manifest.json.utf8)
                )
            }
            try await store.commit(
                CommitBatch(
                    appends: appends,
                    outbox: outbox,
                    inbox: ["\(generation)-\(batch)"],
                    timers: [.schedule(TimerRecord(instanceID: counter, timerID: "t-\(batch)", dueAt: now))]
                )
            )
            versions[counter] = batch
            for (id, count) in zip(chosen, eventCounts) {
                versions[id, default: 0] += count
            }
            if !announced {
                FileHandle.standardOutput.write(Data("committed\n".utf8))
                announced = true
            }
        }
    }
}
