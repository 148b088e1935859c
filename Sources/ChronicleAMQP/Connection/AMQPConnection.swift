import CRabbitMQ
import Chronicle
import Foundation

/// A message as it goes on the wire: an ``OutgoingMessage``, or a dead-lettered copy of an inbound one.
struct WireMessage: Sendable {
    var exchange: String
    var routingKey: String
    var messageID: String?
    var type: String?
    var correlationID: String?
    var contentType: String?
    var timestamp: Date?
    var headers: [String: String]
    var body: Data
    var deliverAt: Date?
    /// Whether reaching no queue is an error (a command) or not (a fact nobody subscribed to).
    var mandatory = true

    /// What AMQP cannot carry of this message sent to `exchange` with `routingKey`, or nil: librabbitmq refuses
    /// a short string over 255 bytes only when encoding the frame, as if the connection had failed.
    func unsendable(exchange: String, routingKey: String) -> String? {
        func tooLong(_ text: String?) -> Bool { (text?.utf8.count ?? 0) > 255 }
        // The common case, without building anything: every publish passes here.
        guard
            tooLong(exchange) || tooLong(routingKey) || tooLong(messageID) || tooLong(type) || tooLong(correlationID)
                || tooLong(contentType) || headers.keys.contains(where: tooLong)
        else { return nil }
        let named: [(String, String?)] =
            [
                ("exchange", exchange), ("routing key", routingKey), ("message_id", messageID), ("type", type),
                ("correlation_id", correlationID), ("content_type", contentType),
            ] + headers.keys.map { ("header name", $0) }
        guard let (name, value) = named.first(where: { tooLong($0.1) }) else { return nil }
        return "message \(messageID ?? "?"): its \(name) is \(value?.utf8.count ?? 0) bytes, over AMQP's limit of 255"
    }

    init(_ message: OutgoingMessage) {
        self.init(
            exchange: message.exchange,
            routingKey: message.routingKey,
            messageID: message.id,
            type: message.type,
            correlationID: message.correlationID,
            contentType: "application/json",
            timestamp: message.timestamp,
            headers: message.headers,
            body: message.body,
            deliverAt: message.deliverAt
        )
        self.mandatory = message.mandatory
    }

    init(
        exchange: String,
        routingKey: String,
        messageID: String?,
        type: String?,
        correlationID: String?,
        contentType: String?,
        timestamp: Date?,
        headers: [String: String],
        body: Data,
        deliverAt: Date?
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.messageID = messageID
        self.type = type
        self.correlationID = correlationID
        self.contentType = contentType
        self.timestamp = timestamp
        self.headers = headers
        self.body = body
        self.deliverAt = deliverAt
    }
}

/// A frame the connection's owner must act on.
enum IncomingFrame {
    case ack(tag: UInt64, multiple: Bool)
    case nack(tag: UInt64, multiple: Bool)
    /// A mandatory publish that matched no queue; its confirm follows.
    case returned(messageID: String?, replyCode: UInt16, replyText: String, exchange: String, routingKey: String)
    case deliver(channel: UInt16, delivery: Delivery)
    /// The broker cancelled a consumer (e.g. its queue was deleted).
    case cancel(channel: UInt16)
    case channelClosed(channel: UInt16, code: UInt16, text: String)
    case connectionClosed(code: UInt16, text: String)
    case other
}

/// A delivery's method fields and content, copied out of librabbitmq's buffers.
struct Delivery {
    var deliveryTag: UInt64
    var redelivered: Bool
    var exchange: String
    var routingKey: String
    var messageID: String?
    var type: String?
    var correlationID: String?
    var contentType: String?
    var timestamp: Date?
    var headers: [String: String]
    var body: Data
}

/// One librabbitmq connection: opened and logged in by `init`, destroyed (socket closed) by `deinit`.
///
/// Not thread-safe: only the ``ConnectionDriver``'s thread touches it. Every call either returns at once or
/// is bounded by the RPC timeout set at open.
final class AMQPConnection {
    private let state: amqp_connection_state_t
    private let arena = CArena()
    private let endpoint: AMQPEndpoint

    /// Opens the socket (TLS for `amqps`), logs in and sets the RPC timeout. Errors never hold the password.
    init(endpoint: AMQPEndpoint, heartbeatSeconds: Int, timeout: Duration) throws(AMQPError) {
        try endpoint.checkCredentials()
        guard let state = amqp_new_connection() else {
            throw AMQPError(.connectionFailed, "librabbitmq could not allocate a connection")
        }
        self.state = state
        self.endpoint = endpoint
        var timeoutValue = timeval(timeout)
        let socket: OpaquePointer?
        if let tls = endpoint.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError(.tlsFailed, "librabbitmq could not create a TLS socket") }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            if let caFile = tls.caFile {
                let status = amqp_ssl_socket_set_cacert(socket, caFile)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError(
                        .tlsFailed,
                        "the CA file '\(caFile)' cannot be read as PEM (\(Self.describe(status))); check the path"
                    )
                }
            }
            if let certificate = tls.certificateFile, let key = tls.keyFile {
                let status = amqp_ssl_socket_set_key(socket, certificate, key)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError(
                        .tlsFailed, "the client certificate or key cannot be read (\(Self.describe(status)))")
                }
            }
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else { throw AMQPError(.connectionFailed, "librabbitmq could not create a socket") }
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeoutValue)
        guard status == AMQP_STATUS_OK.rawValue else {
            let code: AMQPError.Code = Self.isTLSStatus(status) ? .tlsFailed : .connectionFailed
            let advice =
                code == .tlsFailed
                ? "check that the broker's certificate is signed by the configured CA and names the host"
                : "check that the broker runs and listens there"
            throw AMQPError(code, "cannot connect to \(endpoint): \(Self.describe(status)); \(advice)")
        }
        amqp_set_rpc_timeout(state, &timeoutValue)
        amqp_set_handshake_timeout(state, &timeoutValue)
        let reply = chronicle_amqp_login_plain(
            state, endpoint.virtualHost, 0, 131_072, Int32(heartbeatSeconds), endpoint.user, endpoint.password)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            let detail = Self.describe(reply)
            if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION, Self.isTLSStatus(reply.library_error) {
                throw AMQPError(.tlsFailed, "TLS with \(endpoint) failed: \(detail)")
            }
            // RabbitMQ closes the socket on a failed PLAIN login; a server exception names the vhost refusal.
            throw AMQPError(
                .authenticationFailed,
                "\(endpoint) refused the login (\(detail)); check the user, password and that the user may use "
                    + "virtual host '\(endpoint.virtualHost)'"
            )
        }
    }

    deinit {
        amqp_destroy_connection(state)
    }

    /// The socket, for poll(2).
    var socketDescriptor: Int32 { amqp_get_sockfd(state) }

    /// Whether the socket holds written frames back (TCP_CORK) for ``flushWrites()`` to send together.
    ///
    /// librabbitmq writes each frame with its own `send` (a publish is three), and each message went out as a
    /// segment of its own: the broker woke, read and parsed once per message, and on loopback the sender paid
    /// for the broker's receive too. Held back from the first publish or acknowledgement of a round of the
    /// connection's thread until the round's end, a batch's publishes and acknowledgements leave in as few
    /// segments as they fit. `chronicle bench trips --rate 900`, three pairs alternated with the build before:
    /// p99 30–51 ms against 58–143.
    private var corked = false

    private func cork() {
        guard !corked else { return }
        corked = chronicle_set_cork(socketDescriptor, 1) == 0
    }

    /// Sends what was written since the first publish or acknowledgement held back; the connection's thread calls
    /// it at the end of every round that writes, and ``close()`` does.
    func flushWrites() {
        guard corked else { return }
        corked = false
        _ = chronicle_set_cork(socketDescriptor, 0)
    }

    /// Whether librabbitmq holds bytes or frames it has read but not yet handed out.
    var hasBufferedInput: Bool { amqp_data_in_buffer(state) != 0 || amqp_frames_enqueued(state) != 0 }

    /// Closes politely (bounded by the RPC timeout); the socket is closed by `deinit` anyway.
    func close() {
        flushWrites()
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
    }

    // MARK: Channels and topology

    func openChannel(_ channel: UInt16) throws(AMQPError) {
        _ = amqp_channel_open(state, channel)
        try check(channel: channel, .connectionLost, "opening channel \(channel)")
    }

    func closeChannel(_ channel: UInt16) {
        _ = amqp_channel_close(state, channel, Int32(AMQP_REPLY_SUCCESS))
    }

    func selectConfirms(_ channel: UInt16) throws(AMQPError) {
        _ = amqp_confirm_select(state, channel)
        try check(channel: channel, .connectionLost, "turning on publisher confirms")
    }

    func setPrefetch(_ channel: UInt16, _ prefetch: Int) throws(AMQPError) {
        _ = amqp_basic_qos(state, channel, 0, UInt16(clamping: prefetch), 0)
        try check(channel: channel, .consumeFailed, "setting the prefetch to \(prefetch)")
    }

    func consume(_ channel: UInt16, queue: String, consumerTag: String, exclusive: Bool = false) throws(AMQPError) {
        defer { arena.reset() }
        _ = amqp_basic_consume(
            state, channel, arena.bytes(queue), arena.bytes(consumerTag), 0, 0, exclusive ? 1 : 0, amqp_empty_table)
        try check(
            channel: channel, .consumeFailed,
            exclusive ? "consuming queue '\(queue)' as its only consumer" : "consuming queue '\(queue)'")
    }

    func cancel(_ channel: UInt16, consumerTag: String) throws(AMQPError) {
        defer { arena.reset() }
        _ = amqp_basic_cancel(state, channel, arena.bytes(consumerTag))
        try check(channel: channel, .connectionLost, "cancelling consumer '\(consumerTag)'")
    }

    /// Declares everything in `topology` on `channel`. A refusal closes the channel: the caller reopens it.
    func declare(_ topology: Topology, on channel: UInt16) throws(AMQPError) {
        let (exchanges, queues, bindings) = topology.expanded
        defer { arena.reset() }
        for exchange in exchanges {
            _ = amqp_exchange_declare(
                state, channel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue), 0, 1, 0, 0,
                arena.table(exchange.arguments))
            try check(channel: channel, .topologyFailed, "declaring exchange '\(exchange.name)'")
        }
        for queue in queues {
            let exclusive: amqp_boolean_t = queue.exclusive ? 1 : 0
            _ = amqp_queue_declare(
                state, channel, arena.bytes(queue.name), 0, 1 - exclusive, exclusive, exclusive,
                arena.table(queue.declaredArguments))
            try check(channel: channel, .topologyFailed, "declaring queue '\(queue.name)'")
        }
        for binding in bindings {
            switch binding.destination {
            case .queue(let queue):
                _ = amqp_queue_bind(
                    state, channel, arena.bytes(queue), arena.bytes(binding.exchange), arena.bytes(binding.routingKey),
                    amqp_empty_table)
                try check(
                    channel: channel, .topologyFailed,
                    "binding queue '\(queue)' to '\(binding.exchange)' with '\(binding.routingKey)'")
            case .exchange(let destination):
                _ = amqp_exchange_bind(
                    state, channel, arena.bytes(destination), arena.bytes(binding.exchange),
                    arena.bytes(binding.routingKey), amqp_empty_table)
                try check(
                    channel: channel, .topologyFailed,
                    "binding exchange '\(destination)' to '\(binding.exchange)' with '\(binding.routingKey)'")
            }
            arena.reset()
        }
    }

    // MARK: Publishing and acknowledging

    /// Writes a persistent basic.publish, mandatory unless the message says otherwise. Its confirm arrives later
    /// as an ``IncomingFrame``.
    func publish(_ message: WireMessage, exchange: String, routingKey: String, channel: UInt16) throws(AMQPError) {
        defer { arena.reset() }
        cork()
        var properties = amqp_basic_properties_t()
        properties._flags = chronicle_amqp_flag_delivery_mode
        properties.delivery_mode = 2
        if let contentType = message.contentType {
            properties._flags |= chronicle_amqp_flag_content_type
            properties.content_type = arena.bytes(contentType)
        }
        if let messageID = message.messageID {
            properties._flags |= chronicle_amqp_flag_message_id
            properties.message_id = arena.bytes(messageID)
        }
        if let type = message.type {
            properties._flags |= chronicle_amqp_flag_type
            properties.type = arena.bytes(type)
        }
        if let correlationID = message.correlationID {
            properties._flags |= chronicle_amqp_flag_correlation_id
            properties.correlation_id = arena.bytes(correlationID)
        }
        if let timestamp = message.timestamp {
            properties._flags |= chronicle_amqp_flag_timestamp
            properties.timestamp = UInt64(max(0, timestamp.timeIntervalSince1970.rounded(.down)))
        }
        if !message.headers.isEmpty {
            properties._flags |= chronicle_amqp_flag_headers
            properties.headers = arena.table(message.headers)
        }
        let status = amqp_basic_publish(
            state, channel, arena.bytes(exchange), arena.bytes(routingKey), message.mandatory ? 1 : 0, 0, &properties,
            arena.bytes(message.body))
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "publishing to \(endpoint) failed: \(Self.describe(status))")
        }
    }

    func ack(_ channel: UInt16, tag: UInt64, multiple: Bool) throws(AMQPError) {
        cork()
        let status = amqp_basic_ack(state, channel, tag, multiple ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "acknowledging on \(endpoint) failed: \(Self.describe(status))")
        }
    }

    /// Answers the broker's channel.close; the channel can then be opened again.
    func confirmChannelClose(_ channel: UInt16) {
        var closeOK = amqp_channel_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, channel, chronicle_amqp_channel_close_ok, &closeOK)
    }

    /// Answers the broker's connection.close.
    func confirmConnectionClose() {
        var closeOK = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, 0, chronicle_amqp_connection_close_ok, &closeOK)
    }

    // MARK: Reading

    /// The next frame already received, or `nil` when none is waiting. Sends a heartbeat when one is due.
    func nextFrame() throws(AMQPError) -> IncomingFrame? {
        var frame = amqp_frame_t()
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &zero)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "the connection to \(endpoint) broke: \(Self.describe(status))")
        }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD), let decoded = frame.payload.method.decoded else {
            return .other
        }
        switch frame.payload.method.id {
        case chronicle_amqp_basic_ack:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .ack(tag: ack.delivery_tag, multiple: ack.multiple != 0)
        case chronicle_amqp_basic_nack:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nack(tag: nack.delivery_tag, multiple: nack.multiple != 0)
        case chronicle_amqp_basic_return:
            let method = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let code = method.reply_code
            let text = method.reply_text.string
            let exchange = method.exchange.string
            let routingKey = method.routing_key.string
            let content = try readContent(channel: frame.channel)
            return .returned(
                messageID: content.messageID, replyCode: code, replyText: text, exchange: exchange,
                routingKey: routingKey)
        case chronicle_amqp_basic_deliver:
            let method = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let tag = method.delivery_tag
            let redelivered = method.redelivered != 0
            let exchange = method.exchange.string
            let routingKey = method.routing_key.string
            var delivery = try readContent(channel: frame.channel)
            delivery.deliveryTag = tag
            delivery.redelivered = redelivered
            delivery.exchange = exchange
            delivery.routingKey = routingKey
            return .deliver(channel: frame.channel, delivery: delivery)
        case chronicle_amqp_basic_cancel:
            return .cancel(channel: frame.channel)
        case chronicle_amqp_channel_close:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            return .channelClosed(channel: frame.channel, code: close.reply_code, text: close.reply_text.string)
        case chronicle_amqp_connection_close:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return .connectionClosed(code: close.reply_code, text: close.reply_text.string)
        default:
            return .other
        }
    }

    /// Frees what librabbitmq allocated for frames already handed out.
    func releaseBuffers() {
        amqp_maybe_release_buffers(state)
    }

    private func readContent(channel: UInt16) throws(AMQPError) -> Delivery {
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw AMQPError(.connectionLost, "reading a message from \(endpoint) failed: \(Self.describe(reply))")
        }
        defer { amqp_destroy_message(&message) }
        let properties = message.properties
        let flags = properties._flags
        func text(_ flag: amqp_flags_t, _ bytes: amqp_bytes_t) -> String? {
            flags & flag != 0 ? bytes.string : nil
        }
        return Delivery(
            deliveryTag: 0,
            redelivered: false,
            exchange: "",
            routingKey: "",
            messageID: text(chronicle_amqp_flag_message_id, properties.message_id),
            type: text(chronicle_amqp_flag_type, properties.type),
            correlationID: text(chronicle_amqp_flag_correlation_id, properties.correlation_id),
            contentType: text(chronicle_amqp_flag_content_type, properties.content_type),
            timestamp: flags & chronicle_amqp_flag_timestamp != 0
                ? Date(timeIntervalSince1970: TimeInterval(properties.timestamp)) : nil,
            headers: flags & chronicle_amqp_flag_headers != 0 ? properties.headers.stringValues : [:],
            body: message.body.data
        )
    }

    // MARK: Errors

    /// Throws when the last RPC on `channel` failed; a channel.close is answered so the channel can reopen.
    private func check(channel: UInt16, _ code: AMQPError.Code, _ what: String) throws(AMQPError) {
        let reply = amqp_get_rpc_reply(state)
        guard reply.reply_type != AMQP_RESPONSE_NORMAL else { return }
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION {
            if reply.reply.id == chronicle_amqp_channel_close {
                confirmChannelClose(channel)
            } else if reply.reply.id == chronicle_amqp_connection_close {
                confirmConnectionClose()
            }
        }
        throw AMQPError(code, "\(what) on \(endpoint) failed: \(Self.describe(reply))")
    }

    static func describe(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }

    static func describe(_ reply: amqp_rpc_reply_t) -> String {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL: return "ok"
        case AMQP_RESPONSE_NONE: return "no reply"
        case AMQP_RESPONSE_LIBRARY_EXCEPTION: return describe(reply.library_error)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            guard let decoded = reply.reply.decoded else { return "the broker refused" }
            if reply.reply.id == chronicle_amqp_channel_close {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return "the broker closed the channel: \(close.reply_code) \(close.reply_text.string)"
            }
            if reply.reply.id == chronicle_amqp_connection_close {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return "the broker closed the connection: \(close.reply_code) \(close.reply_text.string)"
            }
            return "the broker refused"
        default: return "unknown reply"
        }
    }

    static func isTLSStatus(_ status: Int32) -> Bool {
        [
            AMQP_STATUS_SSL_ERROR.rawValue, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue,
            AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue, AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue,
        ].contains(status)
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
