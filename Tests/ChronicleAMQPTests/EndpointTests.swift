import ChronicleAMQP
import Logging
import Testing

@Suite struct EndpointTests {
    @Test func parsesURLsAndNeverPrintsThePassword() throws {
        let endpoint = try AMQPEndpoint(url: "amqps://app:s3cr%40t@broker.example:5999/%2Fprod")
        #expect(endpoint.host == "broker.example")
        #expect(endpoint.port == 5999)
        #expect(endpoint.user == "app")
        #expect(endpoint.password == "s3cr@t")
        #expect(endpoint.virtualHost == "/prod")
        #expect(endpoint.tls?.verifyPeer == true)
        #expect(endpoint.tls?.verifyHostname == true)
        #expect(!endpoint.description.contains("s3cr"))
    }

    @Test func defaults() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://localhost")
        #expect(endpoint.port == 5672)
        #expect(endpoint.virtualHost == "/")
        #expect(endpoint.user == "guest")
        #expect(endpoint.tls == nil)
        #expect(try AMQPEndpoint(url: "amqps://h/").port == 5671)
    }

    @Test(arguments: [
        ("amqp://localhost", true), ("amqp://127.0.0.1:5673/", true), ("amqp://127.9.8.7/", true),
        ("amqp://[::1]/", true), ("amqp://rabbit.example/", false), ("amqp://guest:guest@10.0.0.5/", false),
        ("amqps://128.0.0.1/", false), ("amqp://127.0.0.1.example/", false), ("amqp://bob:pw@rabbit.example/", true),
    ])
    func guestIsForThisMachineOnly(_ url: String, _ allowed: Bool) throws {
        let endpoint = try AMQPEndpoint(url: url)
        if allowed {
            try endpoint.checkCredentials()
        } else {
            let error = try #require(throws: AMQPError.self) { try endpoint.checkCredentials() }
            #expect(error.code == .authenticationFailed)
            #expect(error.description.contains("guest account is for a broker on this machine only"))
        }
    }

    @Test func aTransportNeverSendsGuestToAnotherHost() async throws {
        // 192.0.2.1 (TEST-NET-1) is never routed: a connection attempt would hang until its timeout.
        var configuration = AMQPTransport.Configuration(
            endpoint: try AMQPEndpoint(url: "amqp://192.0.2.1/"), topology: Topology())
        configuration.initialConnectTimeout = .seconds(60)
        let transport = AMQPTransport(configuration: configuration, logger: Logger(label: "test"))
        let started = ContinuousClock.now
        let error = try await #require(throws: AMQPError.self) { try await transport.run() }
        #expect(error.code == .authenticationFailed)
        #expect(ContinuousClock.now - started < .seconds(5), "it tried to connect first")
    }

    @Test(arguments: ["http://h/", "amqp://", "not a url at all :://"])
    func rejectsWhatIsNotAnAMQPURL(_ url: String) {
        #expect(throws: AMQPError.self) { try AMQPEndpoint(url: url) }
    }

    @Test func errorsAboutAURLDoNotRepeatIt() {
        do {
            _ = try AMQPEndpoint(url: "http://user:hunter2@h/")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}
