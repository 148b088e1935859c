import Foundation
import Testing

/// There is no Docker engine here: these tests hold docker-compose.yml to what README.md and contracts/ promise
/// of it, parsed as Docker Compose parses it (YAML, anchors and merge keys included).
@Suite("docker-compose.yml runs RabbitMQ, the processor and both services")
struct ComposeTests {
    static let root = ContractTests.root

    /// The compose file as JSON-like values, through PyYAML (the test fails, not skips, when it is missing).
    static func compose() throws -> [String: Any] {
        let script = """
            import json, sys, yaml
            json.dump(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), sys.stdout)
            """
        let (status, output) = try ContractTests.python(["-c", script, root.appending(path: "docker-compose.yml").path])
        try #require(
            status == 0,
            """
            docker-compose.yml does not parse, or python3 cannot import yaml (`make test` installs PyYAML through \
            scripts/install-deps.sh): \(output)
            """
        )
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
    }

    static func services() throws -> [String: [String: Any]] {
        try #require(try compose()["services"] as? [String: [String: Any]], "docker-compose.yml has no services")
    }

    /// `environment` as a map, whether the file writes it as a map or as a list of `NAME=value`.
    static func environment(_ service: [String: Any]) -> [String: String] {
        if let map = service["environment"] as? [String: Any] { return map.mapValues { "\($0)" } }
        let list = service["environment"] as? [String] ?? []
        return Dictionary(
            list.map { entry in
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            },
            uniquingKeysWith: { $1 })
    }

    @Test("RabbitMQ with the management UI, on 5672 and 15672, with a user that works beyond loopback")
    func rabbitmq() throws {
        let rabbitmq = try #require(try Self.services()["rabbitmq"], "no rabbitmq service")
        let image = try #require(rabbitmq["image"] as? String)
        #expect(image.hasPrefix("rabbitmq:") && image.hasSuffix("-management"), "image \(image)")
        let ports = (rabbitmq["ports"] as? [Any] ?? []).map { "\($0)" }
        #expect(ports.contains { $0.hasSuffix(":5672") }, "ports \(ports)")
        #expect(ports.contains { $0.hasSuffix(":15672") }, "ports \(ports)")
        let environment = Self.environment(rabbitmq)
        #expect(environment["RABBITMQ_DEFAULT_USER"] == "chronicle")
        #expect(environment["RABBITMQ_DEFAULT_PASS"] == "chronicle")
        #expect(rabbitmq["healthcheck"] != nil, "the Chronicle services wait for a healthy broker")
    }

    @Test(
        "each Chronicle service runs its command, reaches the broker through CHRONICLE_AMQP_URL, waits for it",
        arguments: [
            ("processor", ["run"]),
            ("hotel", ["services", "--only", "hotel"]),
            ("flight", ["services", "--only", "flight"]),
        ]
    )
    func chronicleService(name: String, command: [String]) throws {
        let service = try #require(try Self.services()[name], "no \(name) service")
        let given =
            service["command"] as? [String] ?? (service["command"] as? String)?.split(separator: " ").map(String.init)
        #expect(given == command)
        let url = try #require(Self.environment(service)["CHRONICLE_AMQP_URL"], "\(name) has no CHRONICLE_AMQP_URL")
        #expect(url.hasPrefix("amqp://chronicle:chronicle@rabbitmq:5672/"), "\(url)")
        #expect(Self.environment(service)["CHRONICLE_STORE"]?.hasPrefix("/data/") == true)
        let dependsOn = service["depends_on"] as? [String: [String: Any]]
        #expect(dependsOn?["rabbitmq"]?["condition"] as? String == "service_healthy")
        #expect(service["build"] != nil, "\(name) is built from the Dockerfile")
    }

    @Test("the image is built from the Dockerfile, on Debian bookworm with librabbitmq and SQLite")
    func dockerfile() throws {
        let dockerfile = try String(contentsOf: Self.root.appending(path: "Dockerfile"), encoding: .utf8)
        for needed in [
            "librabbitmq-dev", "librabbitmq4", "libsqlite3-0", "debian:bookworm-slim", "--product chronicle",
        ] {
            #expect(dockerfile.contains(needed), "Dockerfile lacks \(needed)")
        }
        let ignored = try String(contentsOf: Self.root.appending(path: ".dockerignore"), encoding: .utf8)
        #expect(ignored.split(separator: "\n").contains(".build*"))
    }
}
