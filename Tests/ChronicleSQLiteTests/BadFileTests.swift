import Chronicle
import Foundation
import Testing

@testable import ChronicleSQLite

/// A file the store must not use is refused with an error that names it, and is left exactly as it was.
@Suite("Bad files")
struct BadFileTests {
    /// Writes a real store with some history to the fixture's path and closes it.
    func writeStore(_ fixture: borrowing StoreFixture, instances: Int = 200) async throws {
        let store = try fixture.open()
        let started = event(.orchestrationStarted(name: "BookTrip", input: Payload(json: #"{"tripId":"t"}"#)))
        try await store.commit(
            CommitBatch(appends: (0..<instances).map { append(InstanceID("trip-\($0)"), expecting: 0, [started]) })
        )
        try store.close()
        let log = try? FileManager.default.attributesOfItem(atPath: fixture.storePath + "-wal")[.size] as? Int
        #expect(log == nil || log == 0, "closing checkpoints the log into the file")
    }

    func patch(_ path: String, at offset: UInt64, bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: bytes)
        try handle.close()
    }

    /// Opens the store and returns the error, checking that the file and its folder did not change.
    func refusal(_ fixture: borrowing StoreFixture, path: String? = nil) throws -> EventStoreError {
        let path = path ?? fixture.storePath
        let before = try FileSnapshot(path)
        let error = try #require(throws: EventStoreError.self) { try fixture.open(path: path) }
        #expect(try FileSnapshot(path) == before, "the refused file and its folder are unchanged")
        #expect(error.message.contains(path), "the message names the file: \(error.message)")
        return error
    }

    @Test func aStoreOfANewerSchemaIsRefused() async throws {
        let fixture = try StoreFixture()
        try await writeStore(fixture)
        // A newer Chronicle's migration leaves a higher user_version (offset 60 of the header, big-endian).
        let newer = UInt32(SQLiteEventStore.schemaVersion + 1)
        try patch(fixture.storePath, at: 60, bytes: withUnsafeBytes(of: newer.bigEndian) { Array($0) })

        let error = try refusal(fixture)
        #expect(error.code == .newerSchema)
        #expect(error.message.contains("newer Chronicle"))
    }

    @Test func aNewerSchemaStillInTheLogIsRefused() async throws {
        let fixture = try StoreFixture()
        let newer = try fixture.open()
        try await newer.commit(CommitBatch(inbox: ["a"]))
        // A newer Chronicle, still running: its migration is in the write-ahead log, not yet in the file's header.
        try await newer.pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA user_version = \(SQLiteEventStore.schemaVersion + 1)")
        }

        let before = try Data(contentsOf: URL(fileURLWithPath: fixture.storePath))
        let error = try #require(throws: EventStoreError.self) { try fixture.open() }
        #expect(error.code == .newerSchema)
        #expect(error.message.contains(fixture.storePath))
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.storePath)) == before)
        try newer.close()
    }

    @Test(arguments: [0.5, 0.37])
    func aTruncatedStoreIsRefused(keeping fraction: Double) async throws {
        let fixture = try StoreFixture()
        try await writeStore(fixture)
        let size = try Data(contentsOf: URL(fileURLWithPath: fixture.storePath)).count
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: fixture.storePath))
        try handle.truncate(atOffset: UInt64(Double(size) * fraction))
        try handle.close()

        let error = try refusal(fixture)
        #expect(error.code == .unreadableFile)
        #expect(error.message.contains("truncated"))
    }

    @Test(arguments: [8_192, 4_099, 37])
    func randomBytesAreRefused(count: Int) throws {
        let fixture = try StoreFixture()
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try bytes.write(to: URL(fileURLWithPath: fixture.storePath))

        let error = try refusal(fixture)
        #expect(error.code == .unreadableFile)
        #expect(error.message.contains("not an SQLite database"))
    }

    @Test func anotherApplicationsDatabaseIsRefused() async throws {
        let fixture = try StoreFixture()
        try await writeStore(fixture)
        try patch(fixture.storePath, at: 68, bytes: [0x0F, 0x05, 0x51, 0x13])  // the application_id

        let error = try refusal(fixture)
        #expect(error.code == .unreadableFile)
        #expect(error.message.contains("another application"))
    }

    @Test func aReadOnlyStoreIsRefused() async throws {
        let fixture = try StoreFixture()
        try await writeStore(fixture)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: fixture.storePath)

        let error = try refusal(fixture)
        #expect(error.code == .readOnly)
    }

    @Test func aStoreInAReadOnlyFolderIsRefused() async throws {
        let fixture = try StoreFixture()
        try await writeStore(fixture)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: fixture.folder.path)

        let error = try refusal(fixture)
        #expect(error.code == .readOnly)
        #expect(error.message.contains("folder"))
    }

    @Test func aStoreInAMissingFolderIsRefused() throws {
        let fixture = try StoreFixture()
        let path = fixture.folder.appendingPathComponent("missing/store.sqlite").path
        let error = try #require(throws: EventStoreError.self) { try fixture.open(path: path) }
        #expect(error.message.contains(path))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func anEmptyFileBecomesANewStore() async throws {
        let fixture = try StoreFixture()
        #expect(FileManager.default.createFile(atPath: fixture.storePath, contents: Data()))
        let store = try fixture.open()
        try await store.commit(CommitBatch(inbox: ["a"]))
        #expect(try await store.appliedMessageIDs(among: ["a"]) == ["a"])
    }

    @Test func aGoodStoreOpensAgainAndAgain() async throws {
        let fixture = try StoreFixture()
        try await writeStore(fixture, instances: 3)
        for _ in 0..<3 {
            let store = try fixture.open()
            #expect(try await store.instances(status: nil, limit: 10).count == 3)
            try await store.checkIntegrity()
            try store.close()
        }
    }
}
