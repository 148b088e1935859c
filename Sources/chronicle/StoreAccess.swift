import ArgumentParser
import Chronicle
import ChronicleSQLite
import Foundation
import Logging

/// Opens the store for a command that reads it; a missing file is an error with advice, not a new file.
func withStore<T>(_ options: StoreOptions, _ body: (any EventStore) async throws -> T) async throws -> T {
    let path = options.path
    guard FileManager.default.fileExists(atPath: path) else {
        throw CommandFailure(
            "no event store at \(path). Pass --store PATH or set CHRONICLE_STORE to the file `chronicle run` uses."
        )
    }
    let store = try SQLiteEventStore(path: path, logger: Logger(label: "chronicle.store"))
    defer { try? store.close() }
    return try await body(store)
}

/// What stopped a command once it ran: printed as `Error: …`, exit status 1. (A `ValidationError` is for flags:
/// thrown from `run()`, it would print the usage of `chronicle` itself after the message.)
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
