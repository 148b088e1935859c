import Chronicle
import Foundation

/// What a store file is, learnt from the file system and its 100-byte SQLite header before SQLite opens it.
///
/// Opening a pool writes to the file (GRDB switches it to WAL and touches the log), so everything that makes a
/// store refuse a file is decided here, by reading only: a file that is not SQLite, a truncated file, a file of
/// a newer Chronicle or of another application, a read-only file. A refused file is left byte for byte as it
/// was. The checks after opening (``StoreSchema/claim(_:path:)``) cover what the header cannot tell.
struct StoreFile {
    /// The store's path as configured, for messages.
    let path: String

    /// The file is absent or empty: opening it creates a new store.
    var isNew: Bool
    /// The header was checked; `false` when a non-empty write-ahead log may hold a newer header.
    var headerChecked: Bool

    /// Reads the file's header and refuses files a store must not open.
    ///
    /// - Throws: ``EventStoreError`` with ``EventStoreError/Code/unreadableFile``,
    ///   ``EventStoreError/Code/newerSchema``, ``EventStoreError/Code/readOnly`` or ``EventStoreError/Code/io``,
    ///   whose message names the file and says what to do.
    static func inspect(path: String, knownSchemaVersion: Int, applicationID: Int32) throws -> StoreFile {
        let fileManager = FileManager.default
        let folder =
            (path as NSString).deletingLastPathComponent.isEmpty
            ? "." : (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EventStoreError(
                .io,
                "The folder \(folder) of the Chronicle store \(path) does not exist. Create it, or give another path."
            )
        }
        guard isWritable(folder) else {
            throw EventStoreError(
                .readOnly,
                """
                The folder \(folder) of the Chronicle store \(path) is not writable, and SQLite must create \
                \(path)-wal and \(path)-shm beside the store. Make the folder writable, or move the store.
                """
            )
        }
        guard fileManager.fileExists(atPath: path) else {
            return StoreFile(path: path, isNew: true, headerChecked: true)
        }
        let size = try fileSize(path)
        guard isWritable(path) else {
            throw EventStoreError(
                .readOnly,
                """
                The Chronicle store \(path) is read-only; a store must be writable even to be read (SQLite \
                recovers and checkpoints it). Make it writable (chmod u+w), or open a writable copy. Chronicle \
                has not changed the file.
                """
            )
        }
        if size == 0 {
            return StoreFile(path: path, isNew: true, headerChecked: true)
        }
        let header = try readHeader(path)
        guard header.count == 100, header.starts(with: sqliteMagic) else {
            throw EventStoreError(
                .unreadableFile,
                """
                \(path) is not a Chronicle store: it is not an SQLite database (\(size) bytes, without the \
                SQLite header). Check the path; if it is the store, restore it from a backup. Chronicle has not \
                changed the file.
                """
            )
        }
        let rawPageSize = Int(header.bigEndianUInt16(at: 16))
        let pageSize = rawPageSize == 1 ? 65_536 : rawPageSize
        guard pageSize >= 512, pageSize <= 65_536, pageSize & (pageSize - 1) == 0,
            header[18] <= 2, header[19] <= 2
        else {
            throw EventStoreError(
                .unreadableFile,
                """
                \(path) is corrupt: its SQLite header is damaged (page size \(rawPageSize), format \(header[18]) \
                and \(header[19])). Restore it from a backup. Chronicle has not changed the file.
                """
            )
        }

        // With a non-empty write-ahead log, the header in the main file may be older than the database: the log
        // holds the newer pages until a checkpoint, and a checkpoint cut short by a crash leaves the file
        // shorter than its header says. SQLite recovers that; the checks after opening take over.
        let walPath = path + "-wal"
        if fileManager.fileExists(atPath: walPath), try fileSize(walPath) > 0 {
            return StoreFile(path: path, isNew: false, headerChecked: false)
        }

        let changeCounter = header.bigEndianUInt32(at: 24)
        let pageCount = Int(header.bigEndianUInt32(at: 28))
        let pageCountIsValid = pageCount > 0 && changeCounter == header.bigEndianUInt32(at: 92)
        if size % pageSize != 0 || (pageCountIsValid && size < pageCount * pageSize) {
            let expected = pageCountIsValid ? "\(pageCount * pageSize) bytes (\(pageCount) pages)" : "whole pages"
            throw EventStoreError(
                .unreadableFile,
                """
                \(path) is truncated: its header says \(expected) of \(pageSize) bytes, but the file has \(size) \
                bytes. Restore it from a backup, or move it aside to start an empty store. Chronicle has not \
                changed the file.
                """
            )
        }

        // A database without tables uses page 1 only (the schema's root); every table adds a root page. Pages on
        // the free list are unused (a table created and dropped leaves one there).
        let freePages = Int(header.bigEndianUInt32(at: 36))
        let pagesInUse = (pageCountIsValid ? pageCount : size / pageSize) - freePages
        let fileApplicationID = Int32(bitPattern: header.bigEndianUInt32(at: 68))
        if fileApplicationID != applicationID && (fileApplicationID != 0 || pagesInUse > 1) {
            throw notAStore(path, applicationID: fileApplicationID)
        }
        let userVersion = Int(Int32(bitPattern: header.bigEndianUInt32(at: 60)))
        if userVersion > knownSchemaVersion {
            throw newerSchema(path, version: userVersion, known: knownSchemaVersion)
        }
        return StoreFile(path: path, isNew: fileApplicationID == 0, headerChecked: true)
    }

    static func notAStore(_ path: String, applicationID: Int32) -> EventStoreError {
        let whose =
            applicationID == 0
            ? "it holds tables, but no Chronicle schema"
            : "its application id is 0x\(String(UInt32(bitPattern: applicationID), radix: 16))"
        return EventStoreError(
            .unreadableFile,
            """
            \(path) is an SQLite database of another application, not a Chronicle store (\(whose)). Give the \
            store a path of its own. Chronicle has not changed the file.
            """
        )
    }

    static func newerSchema(_ path: String, version: Int, known: Int) -> EventStoreError {
        EventStoreError(
            .newerSchema,
            """
            \(path) was written by a newer Chronicle: its store schema is version \(version), and this build \
            knows versions up to \(known). Run the newer Chronicle on it, or give this one another file. \
            Chronicle has not changed the file.
            """
        )
    }

    private static let sqliteMagic = Array("SQLite format 3\0".utf8)

    /// Writable means: the permission bits let someone write it, and this process may. Root may write anything,
    /// but a store whose mode allows no writes at all was made read-only on purpose, so it is refused too.
    private static func isWritable(_ path: String) -> Bool {
        guard FileManager.default.isWritableFile(atPath: path) else { return false }
        let permissions = (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int
        return (permissions ?? 0o200) & 0o222 != 0
    }

    private static func fileSize(_ path: String) throws -> Int {
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return (attributes[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw EventStoreError(.io, "Cannot read the attributes of \(path): \(error.localizedDescription)")
        }
    }

    private static func readHeader(_ path: String) throws -> [UInt8] {
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            return Array(try handle.read(upToCount: 100) ?? Data())
        } catch {
            throw EventStoreError(
                .io,
                "Cannot read the Chronicle store \(path): \(error.localizedDescription). Check its permissions."
            )
        }
    }
}

extension [UInt8] {
    fileprivate func bigEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    fileprivate func bigEndianUInt32(at offset: Int) -> UInt32 {
        self[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
