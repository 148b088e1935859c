import ArgumentParser
import Chronicle
import Foundation

/// Opens the store for a read command; placeholder until the SQLite store lands.
func withStore<T>(_ options: StoreOptions, _ body: (any EventStore) async throws -> T) async throws -> T {
    throw ValidationError("the SQLite store is not built yet")
}
