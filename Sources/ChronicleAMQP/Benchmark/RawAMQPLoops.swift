import CRabbitMQ
import Foundation

/// The benchmark's ceiling: the same publish and consume loops written directly on librabbitmq, with the
/// same messages (persistent, mandatory, the same properties), on a thread of their own.
enum RawAMQPLoops {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `body` with a fresh connection on a new thread, and returns what it returns.
    static func onThread<T: Sendable>(
        _ endpoint: AMQPEndpoint,
        _ body: @escaping @Sendable (amqp_connection_state_t) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                guard let state = amqp_new_connection() else {
                    continuation.resume(throwing: Failure(description: "amqp_new_connection failed"))
                    return
                }
                defer { amqp_destroy_connection(state) }
                do {
                    let socket = amqp_tcp_socket_new(state)
                    guard endpoint.tls == nil else { throw Failure(description: "the raw loops use amqp:// only") }
                    guard amqp_socket_open(socket, endpoint.host, Int32(endpoint.port)) == AMQP_STATUS_OK.rawValue
                    else { throw Failure(description: "cannot connect to \(endpoint)") }
                    let login = chronicle_amqp_login_plain(
                        state, endpoint.virtualHost, 0, 131_072, 30, endpoint.user, endpoint.password)
                    guard login.reply_type == AMQP_RESPONSE_NORMAL else {
                        throw Failure(description: "login to \(endpoint) failed")
                    }
                    amqp_channel_open(state, 1)
                    try check(state, "channel.open")
                    let result = try body(state)
                    _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
                    continuation.resume(returning: result)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    static func check(_ state: amqp_connection_state_t, _ what: String) throws {
        let reply = amqp_get_rpc_reply(state)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw Failure(description: "\(what) failed: \(AMQPConnection.describe(reply))")
        }
    }

    /// Publishes `count` copies of `message` to `queue`, keeping up to `inFlight` unconfirmed; returns the
    /// seconds it took from the first publish to the last confirm.
    static func publish(
        _ state: amqp_connection_state_t,
        queue: String,
        message: WireMessage,
        count: Int,
        inFlight: Int
    ) throws -> Double {
        amqp_confirm_select(state, 1)
        try check(state, "confirm.select")
        var unconfirmed = Set<UInt64>()
        var next: UInt64 = 1
        var sent = 0
        let ids = (0..<count).map { "raw-\($0)" }
        let arena = CArena()
        let body = arena.bytes(message.body)
        let start = DispatchTime.now().uptimeNanoseconds
        while sent < count || !unconfirmed.isEmpty {
            while sent < count && unconfirmed.count < inFlight {
                try ids[sent].withCString { id in
                    try message.withProperties(messageID: id) { properties in
                        let status = queue.withCString { routingKey in
                            amqp_basic_publish(
                                state, 1, amqp_empty_bytes, amqp_cstring_bytes(routingKey), 1, 0, properties,
                                body)
                        }
                        guard status == AMQP_STATUS_OK.rawValue else {
                            throw Failure(description: "basic.publish failed: \(AMQPConnection.describe(status))")
                        }
                    }
                }
                unconfirmed.insert(next)
                next += 1
                sent += 1
            }
            var frame = amqp_frame_t()
            guard amqp_simple_wait_frame(state, &frame) == AMQP_STATUS_OK.rawValue else {
                throw Failure(description: "the connection broke")
            }
            guard frame.frame_type == UInt8(AMQP_FRAME_METHOD), let decoded = frame.payload.method.decoded else {
                continue
            }
            switch frame.payload.method.id {
            case chronicle_amqp_basic_ack:
                let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                if ack.multiple != 0 {
                    unconfirmed = unconfirmed.filter { $0 > ack.delivery_tag }
                } else {
                    unconfirmed.remove(ack.delivery_tag)
                }
            case chronicle_amqp_basic_nack, chronicle_amqp_basic_return, chronicle_amqp_channel_close:
                throw Failure(description: "the broker refused a raw publish")
            default:
                break
            }
            amqp_maybe_release_buffers(state)
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Consumes `count` messages from `queue` with prefetch `inFlight`, acking (with `multiple`) what was read
    /// together; returns the seconds it took.
    static func consume(_ state: amqp_connection_state_t, queue: String, count: Int, inFlight: Int) throws -> Double {
        amqp_basic_qos(state, 1, 0, UInt16(clamping: inFlight), 0)
        try check(state, "basic.qos")
        queue.withCString { name in
            _ = amqp_basic_consume(
                state, 1, amqp_cstring_bytes(name), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
        }
        try check(state, "basic.consume")
        var received = 0
        let start = DispatchTime.now().uptimeNanoseconds
        while received < count {
            var lastTag: UInt64 = 0
            // Everything available now, as the transport batches it, then one ack for the lot.
            repeat {
                var envelope = amqp_envelope_t()
                let reply = amqp_consume_message(state, &envelope, nil, 0)
                guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                    throw Failure(description: "consuming failed: \(AMQPConnection.describe(reply))")
                }
                lastTag = envelope.delivery_tag
                received += 1
                amqp_destroy_envelope(&envelope)
            } while received < count && amqp_data_in_buffer(state) != 0
            guard amqp_basic_ack(state, 1, lastTag, 1) == AMQP_STATUS_OK.rawValue else {
                throw Failure(description: "basic.ack failed")
            }
            amqp_maybe_release_buffers(state)
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Declares the benchmark's queue (classic, durable unless told otherwise) and empties it.
    static func prepare(_ state: amqp_connection_state_t, queue: String, durable: Bool = true) throws {
        queue.withCString { name in
            _ = amqp_queue_declare(state, 1, amqp_cstring_bytes(name), 0, durable ? 1 : 0, 0, 0, amqp_empty_table)
        }
        try check(state, "queue.declare")
        queue.withCString { name in _ = amqp_queue_purge(state, 1, amqp_cstring_bytes(name)) }
        try check(state, "queue.purge")
    }

    static func delete(_ state: amqp_connection_state_t, queue: String) throws {
        queue.withCString { name in _ = amqp_queue_delete(state, 1, amqp_cstring_bytes(name), 0, 0) }
        try check(state, "queue.delete")
    }
}

extension WireMessage {
    /// Calls `body` with the message's properties, as the transport sets them, and `messageID`.
    func withProperties<T>(
        messageID: UnsafePointer<CChar>, _ body: (UnsafePointer<amqp_basic_properties_t>) throws -> T
    )
        rethrows -> T
    {
        let arena = CArena()
        var properties = amqp_basic_properties_t()
        properties._flags =
            chronicle_amqp_flag_delivery_mode | chronicle_amqp_flag_content_type | chronicle_amqp_flag_message_id
            | chronicle_amqp_flag_type | chronicle_amqp_flag_correlation_id | chronicle_amqp_flag_timestamp
            | chronicle_amqp_flag_headers
        properties.delivery_mode = 2
        properties.content_type = arena.bytes(contentType ?? "")
        properties.message_id = amqp_cstring_bytes(messageID)
        properties.type = arena.bytes(type ?? "")
        properties.correlation_id = arena.bytes(correlationID ?? "")
        properties.timestamp = UInt64(timestamp?.timeIntervalSince1970 ?? 0)
        properties.headers = arena.table(headers)
        return try body(&properties)
    }
}
