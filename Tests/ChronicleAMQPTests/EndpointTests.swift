import ChronicleAMQP
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
