import Foundation

/// Where the broker is and how to reach it, parsed from an `amqp://` or `amqps://` URL.
///
/// `amqp://user:password@host:port/vhost`: user and password default to `guest`, the port to 5672 (5671
/// for `amqps`), the virtual host to `/`. Percent-encoding is decoded (`/%2F` is the vhost `/`).
/// ``description`` leaves the password out, so an endpoint can be logged.
public struct AMQPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var virtualHost: String
    public var user: String
    /// Never printed.
    public var password: String
    /// TLS, for `amqps://`.
    public var tls: TLS?

    /// TLS settings: the broker's certificate is verified against `caFile` (or the system's CAs when `nil`),
    /// and its name against the host, unless turned off.
    public struct TLS: Sendable, Hashable {
        /// PEM file of the CA(s) that sign the broker's certificate.
        public var caFile: String?
        /// Verify the certificate chain. Turn off only for a throwaway test broker.
        public var verifyPeer: Bool = true
        /// Verify that the certificate names the host.
        public var verifyHostname: Bool = true
        /// A client certificate and its key (PEM), for brokers that require one.
        public var certificateFile: String?
        public var keyFile: String?

        public init(caFile: String? = nil, verifyPeer: Bool = true, verifyHostname: Bool = true) {
            self.caFile = caFile
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    public init(
        host: String = "localhost",
        port: Int = 5672,
        virtualHost: String = "/",
        user: String = "guest",
        password: String = "guest",
        tls: TLS? = nil
    ) {
        self.host = host
        self.port = port
        self.virtualHost = virtualHost
        self.user = user
        self.password = password
        self.tls = tls
    }

    /// Parses an AMQP URL. Throws ``AMQPError/Code/invalidURL`` with a message that does not repeat the URL
    /// (it may hold a password).
    public init(url: String, caFile: String? = nil) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw AMQPError(.invalidURL, "the AMQP URL is malformed; expected amqp://user:password@host:port/vhost")
        }
        let secure: Bool
        switch scheme {
        case "amqp": secure = false
        case "amqps": secure = true
        default:
            throw AMQPError(.invalidURL, "the AMQP URL has scheme '\(scheme)'; use amqp:// or amqps://")
        }
        guard let host = components.host, !host.isEmpty else {
            throw AMQPError(.invalidURL, "the AMQP URL names no host")
        }
        self.host = host
        self.port = components.port ?? (secure ? 5671 : 5672)
        self.user = components.user ?? "guest"
        self.password = components.password ?? "guest"
        let path = components.path  // percent-decoded
        self.virtualHost = path.isEmpty || path == "/" ? "/" : String(path.dropFirst())
        self.tls = secure ? TLS(caFile: caFile) : nil
    }

    /// Whether the host is this machine: `localhost`, an address in 127.0.0.0/8, or `::1`.
    public var isLoopback: Bool {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if name == "localhost" || name == "localhost." || name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Throws when the credentials must not be sent: RabbitMQ's `guest` account works from this machine only,
    /// so Chronicle never sends it to another host (where it would travel, perhaps in the clear, for nothing).
    public func checkCredentials() throws(AMQPError) {
        if user == "guest" && !isLoopback {
            throw AMQPError(
                .authenticationFailed,
                "the guest account is for a broker on this machine only, and \(host) is not; "
                    + "put a user of that broker in the URL: amqp://USER:PASSWORD@\(host):\(port)/")
        }
    }

    public var description: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let vhost = virtualHost == "/" ? "%2F" : virtualHost
        return "\(scheme)://\(user)@\(host):\(port)/\(vhost)"
    }
}
