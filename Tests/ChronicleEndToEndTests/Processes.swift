import Foundation
import Testing

/// Starts and stops the `chronicle` binary and other commands, in a virtual host and a folder of their own.
final class Sandbox: @unchecked Sendable {
    // @unchecked: `children` is only touched by the test's own task.
    let vhost = "chronicle-e2e-\(UUID().uuidString.prefix(8).lowercased())"
    let folder: URL
    let url: String
    private var children: [Process] = []

    static let node = ProcessInfo.processInfo.environment["RABBITMQ_NODENAME"] ?? "rabbit@localhost"

    init() throws {
        folder = FileManager.default.temporaryDirectory.appending(path: vhost)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let base = ProcessInfo.processInfo.environment["CHRONICLE_AMQP_URL"] ?? "amqp://guest:guest@localhost:5672/"
        let root = base.split(separator: "/", omittingEmptySubsequences: false).prefix(3).joined(separator: "/")
        url = "\(root)/\(vhost)"
        try Self.run("/usr/sbin/rabbitmqctl", ["-q", "-n", Self.node, "add_vhost", vhost])
        try Self.run(
            "/usr/sbin/rabbitmqctl", ["-q", "-n", Self.node, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"])
    }

    deinit {
        for child in children where child.isRunning { child.terminate() }
        _ = try? Self.run("/usr/sbin/rabbitmqctl", ["-q", "-n", Self.node, "delete_vhost", vhost])
        try? FileManager.default.removeItem(at: folder)
    }

    var store: String { folder.appending(path: "chronicle.sqlite").path }

    /// `chronicle` beside the test binary.
    static let chronicle: URL = {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        return folder.appending(path: "chronicle")
    }()

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CHRONICLE_AMQP_URL"] = url
        environment["CHRONICLE_STORE"] = store
        environment["CHRONICLE_LEDGER_DIR"] = folder.path
        return environment
    }

    /// Starts `chronicle arguments…` in the background; its standard output goes to `output` in the folder.
    @discardableResult
    func start(_ arguments: [String], output: String) throws -> Process {
        let process = Process()
        process.executableURL = Self.chronicle
        process.arguments = arguments
        process.environment = environment
        let path = folder.appending(path: output).path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let log = folder.appending(path: output + ".err").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        children.append(process)
        return process
    }

    /// Runs `chronicle arguments…` to its end; returns its exit status and standard output.
    func chronicle(_ arguments: String...) throws -> (status: Int32, output: String) {
        try Self.capture(Self.chronicle.path, arguments, environment: environment)
    }

    func read(_ output: String) -> String {
        (try? String(contentsOf: folder.appending(path: output), encoding: .utf8)) ?? ""
    }

    /// Publishes lines of JSON to `exchange` with `routingKey` through amqp-publish (Debian's amqp-tools), one
    /// message a line, with no type, message id or correlation id: a client Chronicle did not write.
    func amqpPublish(exchange: String, routingKey: String, lines: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/amqp-publish")
        process.arguments = ["--url", url, "-e", exchange, "-r", routingKey, "-p", "-C", "application/json", "-l"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "amqp-publish failed")
    }

    /// Stops a background process with SIGTERM and waits for it; returns its exit status.
    func stop(_ process: Process) async -> Int32 {
        process.terminate()
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? -1 : process.terminationStatus
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let (status, output) = try capture(executable, arguments, environment: nil)
        guard status == 0 else {
            throw E2EFailure("\(executable) \(arguments.joined(separator: " ")) failed: \(output)")
        }
        return output
    }

    static func capture(_ executable: String, _ arguments: [String], environment: [String: String]?) throws -> (
        Int32, String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

struct E2EFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A StartTrip body as a client would write it.
func startTrip(_ id: String, city: String = "Lisbon", nights: Int = 3) -> String {
    #"{"tripId":"\#(id)","customerId":"c-\#(id)","hotel":{"city":"\#(city)","checkIn":"2027-05-01","nights":\#(nights)},"flight":{"from":"LHR","to":"LIS","date":"2027-05-01"}}"#
}
