import Foundation
import Logging

/// libFuzzer's callback: one input through the trip processor (see ``FuzzHarness`` and ``FuzzInput``).
///
/// Always returns 0: an input the processor refuses is dead-lettered, which is not a finding; a finding stops
/// the process.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    FuzzHarness.shared.run(Data(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
    /// Without `-DFUZZING` (a plain `swift build`), libFuzzer's `main` is absent and this one replays inputs
    /// through the same harness: each file given (a folder: each file in it), or standard input when none is.
    /// It prints what each input did; a finding stops it as it stops the fuzzer.
    @main
    enum Replayer {
        static let usage = """
            usage: chronicle-fuzz [--verbose] [FILE | FOLDER]...
              Replays fuzz inputs (a crash file, a corpus) through the trip processor; reads standard input when \
            no file is given. --verbose logs the processor's work to standard error.
            """

        static func main() {
            var arguments = Array(CommandLine.arguments.dropFirst())
            if arguments.contains(where: { $0 == "-h" || $0 == "--help" }) {
                print(usage)
                return
            }
            let verbose = arguments.contains("--verbose")
            arguments.removeAll { $0 == "--verbose" }

            let harness: FuzzHarness
            if verbose {
                var logger = Logger(label: "chronicle.fuzz", factory: { StreamLogHandler.standardError(label: $0) })
                logger.logLevel = .trace
                do {
                    harness = try FuzzHarness(logger: logger)
                } catch {
                    fail("seeding the trips failed: \(error)")
                }
                let table = harness.timers.enumerated().map { "\($0.offset + 2) \($0.element)" }
                print("timers by byte 3: \(table.joined(separator: ", "))")
            } else {
                harness = .shared
            }

            var count = 0
            for (name, bytes) in inputs(arguments) {
                print("\(name): \(harness.run(bytes))")
                count += 1
            }
            print("replayed \(count) input\(count == 1 ? "" : "s"): no finding")
        }

        /// The inputs named by `paths`, in order, a folder's files sorted by name; standard input if none.
        static func inputs(_ paths: [String]) -> [(name: String, bytes: Data)] {
            if paths.isEmpty { return [("<stdin>", FileHandle.standardInput.readDataToEndOfFile())] }
            let files = FileManager.default
            var found: [(String, Data)] = []
            for path in paths {
                var isFolder: ObjCBool = false
                guard files.fileExists(atPath: path, isDirectory: &isFolder) else {
                    fail("\(path) does not exist; give a fuzz input file or a corpus folder")
                }
                let names =
                    isFolder.boolValue
                    ? ((try? files.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
                        .map { "\(path)/\($0)" } : [path]
                for name in names {
                    guard let bytes = files.contents(atPath: name) else { fail("cannot read \(name)") }
                    found.append((name, bytes))
                }
            }
            return found
        }

        static func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("chronicle-fuzz: \(message)\n".utf8))
            exit(2)
        }
    }
#endif
