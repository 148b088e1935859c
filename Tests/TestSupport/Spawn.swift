import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program to its end with posix_spawn and waitpid: the test suites' way to call rabbitmqctl, openssl,
/// scripts/broker.sh and the like.
///
/// Not Foundation's `Process`, for two reasons seen in these suites: it takes a child for running as long as
/// any descendant holds a descriptor it inherited (and the broker that scripts/broker.sh starts lives on), and
/// its exit monitoring now and then missed an exit, hanging the test.
///
/// The child starts with no signal blocked and every signal at its default disposition, and with none of our
/// descriptors but the three standard ones. A thread of Dispatch's pool, where tests run, blocks signals;
/// a child that inherits that mask — rabbitmqctl's Erlang VM, or the broker itself — never sees the SIGCHLD
/// or SIGTERM it waits for and hangs, and every such orphan keeps a name registered with epmd.
public enum Spawn {
    /// How a program ended.
    public enum Outcome: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
        /// Someone else reaped the child (waitpid said ECHILD): its outcome is unknown.
        case unknown

        public var succeeded: Bool { self == .exited(0) }
    }

    /// Runs `executable arguments…` with standard input from /dev/null, standard output to the file
    /// `output` and standard error to `errors` (both /dev/null unless given; the same path for both merges them).
    @discardableResult
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        output: String = "/dev/null",
        errors: String = "/dev/null"
    ) throws -> Outcome {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environmentLines = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in environmentLines ?? [] { free(pointer) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if errors == output {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap(Int32.init)
        for descriptor in open ?? [] where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var nothing = sigset_t()
        sigemptyset(&nothing)
        posix_spawnattr_setsigmask(&attributes, &nothing)
        var everything = sigset_t()
        sigfillset(&everything)
        sigdelset(&everything, SIGKILL)
        sigdelset(&everything, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &everything)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let spawned: Int32
        if let environmentLines {
            spawned = environmentLines.withUnsafeBufferPointer {
                posix_spawn(
                    &pid, executable, &actions, &attributes, argv, UnsafeMutablePointer(mutating: $0.baseAddress))
            }
        } else {
            spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        guard spawned == 0 else { throw SpawnError("cannot run \(executable): \(String(cString: strerror(spawned)))") }

        var status: Int32 = 0
        var waited: pid_t
        repeat { waited = waitpid(pid, &status, 0) } while waited == -1 && errno == EINTR
        guard waited == pid else { return .unknown }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// Runs `executable arguments…` and returns what it wrote to standard output and standard error.
    public static func capture(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        mergingErrors: Bool = true
    ) throws -> (outcome: Outcome, output: String) {
        let file = FileManager.default.temporaryDirectory.appending(path: "chronicle-spawn-\(UUID().uuidString)").path
        defer { unlink(file) }
        let outcome = try run(
            executable, arguments, environment: environment, output: file, errors: mergingErrors ? file : "/dev/null")
        return (outcome, (try? String(contentsOfFile: file, encoding: .utf8)) ?? "")
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Spawn {
    /// Runs `executable arguments…` to its end and returns what it wrote (standard output and error
    /// together); throws ``SpawnError`` with that text when it does not succeed.
    @discardableResult
    public static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let (outcome, text) = try capture(executable, arguments)
        guard outcome.succeeded else {
            throw SpawnError("\(executable) \(arguments.joined(separator: " ")) ended \(outcome): \(text)")
        }
        return text
    }

    /// The repository's `scripts/`.
    public static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appending(path: "scripts")

    /// rabbitmqctl against the local broker, through `scripts/broker.sh ctl` (which knows its node and bounds
    /// the call); throws with its output when it fails.
    @discardableResult
    public static func brokerCtl(_ arguments: String...) throws -> String {
        try output(scripts.appending(path: "broker.sh").path, ["ctl"] + arguments)
    }
}
