import Chronicle
import ChronicleAMQP
import Foundation
import Logging
import TestSupport
import Testing

extension BrokerTests {
    /// amqps:// against a TLS listener opened on the running broker for the test (with `rabbitmqctl eval`) and
    /// closed after it, with a CA and a certificate for `localhost` made here by openssl.
    @Suite(.serialized, .timeLimit(.minutes(2)))
    struct TLSTests {
        static let port = 56_710

        /// Makes the CA, the broker's certificate (signed by it, for DNS name `localhost`) and an unrelated CA,
        /// opens the listener, runs `body` with the folder, then closes the listener.
        static func withTLSListener(_ body: (URL) async throws -> Void) async throws {
            let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("chronicle-tls-\(UUID())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            func openssl(_ arguments: String...) throws {
                try Spawn.output("/usr/bin/openssl", arguments)
            }
            let path = { (name: String) in folder.appendingPathComponent(name).path }
            try openssl(
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"),
                "-days", "1", "-subj", "/CN=Chronicle test CA")
            try openssl(
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("other-ca.key"), "-out",
                path("other-ca.pem"), "-days", "1", "-subj", "/CN=Some other CA")
            try openssl(
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"),
                "-subj",
                "/CN=localhost")
            try "subjectAltName=DNS:localhost\n".write(toFile: path("ext.cnf"), atomically: true, encoding: .utf8)
            try openssl(
                "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("server.pem"), "-days", "1", "-extfile", path("ext.cnf"))
            // The broker runs as its own user: it must read the folder and files.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
            for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path(file))
            }
            try Spawn.brokerCtl(
                "eval",
                "rabbit_networking:start_ssl_listener(\(port), [{cacertfile,\"\(path("ca.pem"))\"},"
                    + "{certfile,\"\(path("server.pem"))\"},{keyfile,\"\(path("server.key"))\"}], 1).")
            defer { _ = try? Spawn.brokerCtl("eval", "rabbit_networking:stop_tcp_listener(\(port)).") }
            try await body(folder)
        }

        static func configuration(vhost: String, host: String, caFile: String) throws -> AMQPTransport.Configuration {
            var topology = Topology.chronicle
            topology.delays = nil
            topology.addQueue("secure")
            var configuration = try Broker.configuration(vhost: vhost, topology: topology)
            configuration.endpoint.host = host
            configuration.endpoint.port = port
            configuration.endpoint.tls = AMQPEndpoint.TLS(caFile: caFile)
            return configuration
        }

        @Test func amqpsWorksWithTheRightCAAndIsRefusedOtherwise() async throws {
            try await Self.withTLSListener { folder in
                try await Broker.withVirtualHost { vhost in
                    let good = try Self.configuration(
                        vhost: vhost, host: "localhost", caFile: folder.appendingPathComponent("ca.pem").path)
                    try await Broker.withTransport(good) { transport in
                        let collector = Collector(try await transport.consume(queue: "secure", prefetch: 10))
                        try await transport.publish([message("tls-1", to: "secure")])
                        let received = try await collector.wait(for: 1, timeout: .seconds(5))
                        #expect(received.first?.messageID == "tls-1")
                    }

                    let wrongCA = try Self.configuration(
                        vhost: vhost, host: "localhost", caFile: folder.appendingPathComponent("other-ca.pem").path)
                    let refusal = await Self.firstConnectError(wrongCA)
                    #expect(refusal?.code == .tlsFailed, "\(String(describing: refusal))")
                    #expect(refusal?.description.contains("guest:") == false)

                    // The certificate names localhost, not 127.0.0.1: host verification is on by default.
                    let wrongName = try Self.configuration(
                        vhost: vhost, host: "127.0.0.1", caFile: folder.appendingPathComponent("ca.pem").path)
                    let mismatch = await Self.firstConnectError(wrongName)
                    #expect(mismatch?.code == .tlsFailed, "\(String(describing: mismatch))")
                }
            }
        }

        /// What `run()` throws when the first connection fails.
        static func firstConnectError(_ configuration: AMQPTransport.Configuration) async -> AMQPError? {
            var logger = Logger(label: "chronicle.amqp.test")
            logger.logLevel = .critical
            let transport = AMQPTransport(configuration: configuration, logger: logger)
            do {
                try await transport.run()
                return nil
            } catch {
                return error as? AMQPError
            }
        }
    }
}
