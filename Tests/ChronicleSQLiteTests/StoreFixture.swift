import Chronicle
import ChronicleSQLite
import Foundation
import Logging

/// A fresh folder per test, removed when the test ends, and stores opened in it.
struct StoreFixture: ~Copyable {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("chronicle-sqlite-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit {
        // Undo the permission changes of the read-only tests so that the folder can go.
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        try? FileManager.default.removeItem(at: folder)
    }

    var storePath: String { folder.appendingPathComponent("store.sqlite").path }

    func open(
        path: String? = nil,
        synchronous: SQLiteEventStore.Synchronous = .full,
        maximumSize: Int? = nil
    ) throws -> SQLiteEventStore {
        try SQLiteEventStore(
            configuration: .init(path: path ?? storePath, synchronous: synchronous, maximumSize: maximumSize),
            logger: .quiet
        )
    }
}

extension Logger {
    static let quiet = Logger(label: "chronicle.sqlite.tests", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// Times with sub-millisecond parts, so that a lossy encoding would show.
let baseTime = Date(timeIntervalSinceReferenceDate: 817_000_000.123_456_7)

func time(_ seconds: Double) -> Date { baseTime.addingTimeInterval(seconds) }

func event(_ kind: HistoryEvent.Kind, at seconds: Double = 0) -> HistoryEvent {
    HistoryEvent(kind, at: time(seconds))
}

func append(
    _ id: InstanceID,
    expecting version: Int,
    _ events: [HistoryEvent],
    status: InstanceStatus = .running,
    nextWakeUp: Date? = nil,
    at seconds: Double = 0
) -> InstanceAppend {
    InstanceAppend(
        instanceID: id,
        orchestration: "BookTrip",
        expectedVersion: version,
        events: events,
        status: status,
        nextWakeUp: nextWakeUp,
        at: time(seconds)
    )
}

func message(_ id: String, body: String = #"{"hotel":"Ritz"}"#, at seconds: Double = 0) -> OutgoingMessage {
    OutgoingMessage(
        id: id,
        exchange: "chronicle.commands",
        routingKey: "hotel.reserve",
        type: "ReserveHotel",
        correlationID: "trip-1",
        timestamp: time(seconds),
        headers: ["chronicle-attempt": "1", "chronicle-step": "4"],
        body: Data(body.utf8),
        deliverAt: nil
    )
}

/// The bytes of a file, and the names in its folder, to show that a refused file was not touched.
struct FileSnapshot: Equatable {
    var bytes: Data
    var folderEntries: [String]

    init(_ path: String) throws {
        bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        folderEntries = try FileManager.default
            .contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent).sorted()
    }
}
