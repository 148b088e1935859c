import CRabbitMQ
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The broker's latency floor for a trip: the same six hops a trip takes (StartTrip, two commands, two replies,
/// the outcome), each a persistent, confirmed message through a topic exchange to a durable queue, carried by
/// the least a client can do — two relays on librabbitmq: one in the processor's place, which writes and
/// fdatasyncs a file for each batch it takes (its commit), and one in the services' place. Started at a steady
/// rate, as `chronicle bench trips --rate` starts trips, and timed the same way: from when a trip was due to
/// when its outcome arrived. What Chronicle's latency has above it is Chronicle's own.
public enum LatencyFloor {
    public struct Result: Sendable {
        /// Each trip's latency in seconds, in the order they ended.
        public var latencies: [Double]
        /// From the first trip due to the last outcome.
        public var seconds: Double
        /// The CPU time both relays spent, in seconds.
        public var relayCPUSeconds: Double
    }

    typealias Failure = RawAMQPLoops.Failure

    /// Runs `trips` trips at `rate` per second against the broker at `endpoint`, on exchange and queues named
    /// after `prefix` (declared, then deleted), with the processor relay's file in `folder`.
    public static func run(
        endpoint: AMQPEndpoint,
        rate: Double,
        trips: Int,
        folder: URL,
        prefix: String = "chronicle.bench.floor"
    ) async throws -> Result {
        let names = Names(prefix: prefix)
        try await RawAMQPLoops.onThread(endpoint) { try names.declare($0) }
        let control = Control()
        let file = folder.appending(path: "floor-commits").path
        // A relay on a connection of its own; one that fails stops the others, so the run ends at once.
        func relaying(_ queues: [String], syncing file: String?) -> Task<Double, any Error> {
            Task {
                do {
                    return try await RawAMQPLoops.onThread(endpoint) {
                        try relay($0, queues: queues, syncing: file, names: names, control: control)
                    }
                } catch {
                    control.stop()
                    throw error
                }
            }
        }
        let processor = relaying([names.orchestrator], syncing: file)
        let services = relaying([names.hotel, names.flight], syncing: nil)
        let deadline = ContinuousClock.now + .seconds(Double(trips) / rate + 60)
        let outcomes = Task {
            try await RawAMQPLoops.onThread(endpoint) {
                try collect($0, trips: trips, queue: names.done, deadline: deadline, control: control)
            }
        }
        do {
            let started = try await RawAMQPLoops.onThread(endpoint) {
                try publish($0, trips: trips, rate: rate, names: names, deadline: deadline, control: control)
            }
            let latencies = try await outcomes.value
            control.stop()
            let cpu = try await processor.value + services.value
            try await RawAMQPLoops.onThread(endpoint) { try names.delete($0) }
            try? FileManager.default.removeItem(atPath: file)
            return Result(
                latencies: latencies, seconds: Double(monotonicNanoseconds() - started) / 1e9, relayCPUSeconds: cpu)
        } catch {
            control.stop()
            // A relay that failed stopped the rest: its error says what went wrong.
            var failure = error
            for relay in [processor, services] {
                if case .failure(let relayFailure) = await relay.result { failure = relayFailure }
            }
            _ = try? await outcomes.value
            _ = try? await RawAMQPLoops.onThread(endpoint) { try names.delete($0) }
            try? FileManager.default.removeItem(atPath: file)
            throw failure
        }
    }

    /// What the threads share: how many are consuming, and whether to stop.
    final class Control: Sendable {
        private let consuming = Atomic<Int>(0)
        private let stopping = Atomic<Bool>(false)
        func consumes() { consuming.add(1, ordering: .releasing) }
        var consumers: Int { consuming.load(ordering: .acquiring) }
        func stop() { stopping.store(true, ordering: .releasing) }
        var stopped: Bool { stopping.load(ordering: .acquiring) }
    }

    struct Names: Sendable {
        let exchange: String
        var orchestrator: String { exchange + ".orchestrator" }
        var hotel: String { exchange + ".hotel" }
        var flight: String { exchange + ".flight" }
        var done: String { exchange + ".done" }

        init(prefix: String) { exchange = prefix }

        /// A trip's hops: the routing key a message came with → the routing key of the next message.
        static let next: [String: String] = [
            "orchestrator.start": "hotel.reserve",
            "hotel.reserve": "orchestrator.hotel-reserved",
            "orchestrator.hotel-reserved": "flight.reserve",
            "flight.reserve": "orchestrator.flight-reserved",
            "orchestrator.flight-reserved": "done",
        ]

        /// The exchange (topic, durable), the relays' queues (durable, as Chronicle's are) and the outcomes'
        /// queue (not durable, as the bench's own is), empty and bound.
        func declare(_ state: amqp_connection_state_t) throws {
            exchange.withCString { name in
                _ = amqp_exchange_declare(
                    state, 1, amqp_cstring_bytes(name), amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table)
            }
            try RawAMQPLoops.check(state, "exchange.declare")
            for (queue, key, durable) in [
                (orchestrator, "orchestrator.#", true), (hotel, "hotel.#", true), (flight, "flight.#", true),
                (done, "done", false),
            ] {
                try RawAMQPLoops.prepare(state, queue: queue, durable: durable)
                queue.withCString { name in
                    exchange.withCString { exchange in
                        key.withCString { key in
                            _ = amqp_queue_bind(
                                state, 1, amqp_cstring_bytes(name), amqp_cstring_bytes(exchange),
                                amqp_cstring_bytes(key),
                                amqp_empty_table)
                        }
                    }
                }
                try RawAMQPLoops.check(state, "queue.bind")
            }
        }

        func delete(_ state: amqp_connection_state_t) throws {
            for queue in [orchestrator, hotel, flight, done] { try RawAMQPLoops.delete(state, queue: queue) }
            exchange.withCString { name in _ = amqp_exchange_delete(state, 1, amqp_cstring_bytes(name), 0) }
            try RawAMQPLoops.check(state, "exchange.delete")
        }
    }

    /// A message's body: the trip's number and when it was due (monotonic nanoseconds), padded to the size of
    /// a trip's messages.
    static func body(trip: Int, due: UInt64) -> [UInt8] {
        var text = Array("\(trip) \(due)|".utf8)
        text += repeatElement(UInt8(ascii: "x"), count: max(0, 300 - text.count))
        return text
    }

    static func publish(_ state: amqp_connection_state_t, routingKey: String, body: [UInt8], exchange: String) throws {
        var properties = amqp_basic_properties_t()
        properties._flags = chronicle_amqp_flag_delivery_mode | chronicle_amqp_flag_content_type
        properties.delivery_mode = 2
        let status = "application/json".withCString { contentType in
            properties.content_type = amqp_cstring_bytes(contentType)
            return exchange.withCString { exchange in
                routingKey.withCString { key in
                    body.withUnsafeBytes { bytes in
                        amqp_basic_publish(
                            state, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), 0, 0, &properties,
                            amqp_bytes_t(len: bytes.count, bytes: UnsafeMutableRawPointer(mutating: bytes.baseAddress)))
                    }
                }
            }
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw Failure(description: "basic.publish failed: \(AMQPConnection.describe(status))")
        }
    }

    /// Takes what `queues` deliver, a batch at a time (all that is there); for each batch, writes it to
    /// `syncing` and fdatasyncs (if given), then publishes each message's next hop. A delivery is acknowledged
    /// once the broker confirmed its next hop. Returns the thread's CPU time when told to stop.
    static func relay(
        _ state: amqp_connection_state_t,
        queues: [String],
        syncing file: String?,
        names: Names,
        control: Control
    ) throws -> Double {
        amqp_confirm_select(state, 1)
        try RawAMQPLoops.check(state, "confirm.select")
        amqp_basic_qos(state, 1, 0, 500, 0)
        try RawAMQPLoops.check(state, "basic.qos")
        for queue in queues {
            queue.withCString { name in
                _ = amqp_basic_consume(state, 1, amqp_cstring_bytes(name), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
            }
            try RawAMQPLoops.check(state, "basic.consume")
        }
        let descriptor = file.map { open($0, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
        defer { if let descriptor, descriptor >= 0 { close(descriptor) } }
        if let descriptor, descriptor < 0 { throw Failure(description: "cannot open \(file ?? "")") }
        control.consumes()
        let cpuAtStart = threadCPUSeconds()
        // Per message published, in order: its sequence number and the delivery it answers. Confirms may come
        // out of order (each queue syncs on its own); the tracker says below which number all have come.
        var confirms = ConfirmTracker<Void>()
        var unconfirmed: [(sequence: UInt64, delivery: UInt64)] = []
        var head = 0
        var batch: [(routingKey: String, body: [UInt8], delivery: UInt64)] = []
        while !control.stopped {
            batch.removeAll(keepingCapacity: true)
            while true {
                amqp_maybe_release_buffers(state)
                var envelope = amqp_envelope_t()
                // Waits for the first of a batch (a while, to look at `control` now and then), not for the rest.
                var wait = timeval(tv_sec: 0, tv_usec: batch.isEmpty ? 100_000 : 0)
                let reply = amqp_consume_message(state, &envelope, &wait, 0)
                if reply.reply_type == AMQP_RESPONSE_NORMAL {
                    let key = String(
                        decoding: UnsafeRawBufferPointer(
                            start: envelope.routing_key.bytes, count: envelope.routing_key.len),
                        as: UTF8.self)
                    let body = Array(
                        UnsafeRawBufferPointer(start: envelope.message.body.bytes, count: envelope.message.body.len))
                    let delivery = envelope.delivery_tag
                    amqp_destroy_envelope(&envelope)
                    guard let next = Names.next[key] else {
                        throw Failure(description: "unexpected routing key \(key)")
                    }
                    batch.append((next, body, delivery))
                    continue
                }
                if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION,
                    reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue
                {
                    // Not a delivery: a confirm, most likely.
                    var frame = amqp_frame_t()
                    guard amqp_simple_wait_frame(state, &frame) == AMQP_STATUS_OK.rawValue else {
                        throw Failure(description: "the connection broke")
                    }
                    guard frame.frame_type == UInt8(AMQP_FRAME_METHOD), let decoded = frame.payload.method.decoded
                    else { continue }
                    guard frame.payload.method.id == chronicle_amqp_basic_ack else {
                        throw Failure(description: "the broker refused a relayed message")
                    }
                    let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                    _ = confirms.settle(upTo: ack.delivery_tag, multiple: ack.multiple != 0)
                    // The deliveries whose next hops, and all before them, are confirmed.
                    var answered: UInt64?
                    while head < unconfirmed.count, unconfirmed[head].sequence < confirms.lowest {
                        answered = unconfirmed[head].delivery
                        head += 1
                    }
                    if let answered, amqp_basic_ack(state, 1, answered, 1) != AMQP_STATUS_OK.rawValue {
                        throw Failure(description: "basic.ack failed")
                    }
                    if head > 4096 {
                        unconfirmed.removeFirst(head)
                        head = 0
                    }
                    continue
                }
                if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION,
                    reply.library_error == AMQP_STATUS_TIMEOUT.rawValue
                {
                    break
                }
                throw Failure(description: "consuming failed: \(AMQPConnection.describe(reply))")
            }
            if batch.isEmpty { continue }
            if let descriptor {
                for message in batch {
                    guard message.body.withUnsafeBytes({ write(descriptor, $0.baseAddress, 32) }) == 32 else {
                        throw Failure(description: "cannot write \(file ?? "")")
                    }
                }
                guard fdatasync(descriptor) == 0 else { throw Failure(description: "cannot fdatasync \(file ?? "")") }
            }
            for message in batch {
                try publish(state, routingKey: message.routingKey, body: message.body, exchange: names.exchange)
                unconfirmed.append((confirms.sent(()), message.delivery))
            }
        }
        return threadCPUSeconds() - cpuAtStart
    }

    /// Publishes trip `i` at `rate` when it is due (all those due together), confirms drained as they come;
    /// starts once the relays and the collector consume. Returns when the first trip was due (monotonic).
    static func publish(
        _ state: amqp_connection_state_t,
        trips: Int,
        rate: Double,
        names: Names,
        deadline: ContinuousClock.Instant,
        control: Control
    ) throws -> UInt64 {
        amqp_confirm_select(state, 1)
        try RawAMQPLoops.check(state, "confirm.select")
        while control.consumers < 3 {
            guard ContinuousClock.now < deadline, !control.stopped else {
                throw Failure(description: "the relays did not start")
            }
            usleep(1_000)
        }
        let begin = monotonicNanoseconds()
        func due(_ trip: Int) -> UInt64 { begin + UInt64(Double(trip) / rate * 1e9) }
        var next = 0
        while next < trips {
            let first = due(next)
            let now = monotonicNanoseconds()
            if first > now { usleep(UInt32(min((first - now) / 1_000, 1_000_000))) }
            let elapsed = Double(monotonicNanoseconds() - begin) / 1e9
            let dueNow = min(trips, Int(elapsed * rate) + 1)
            while next < dueNow {
                try publish(
                    state, routingKey: "orchestrator.start", body: body(trip: next, due: due(next)),
                    exchange: names.exchange)
                next += 1
            }
            var frame = amqp_frame_t()
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            while amqp_simple_wait_frame_noblock(state, &frame, &zero) == AMQP_STATUS_OK.rawValue {
                if frame.frame_type == UInt8(AMQP_FRAME_METHOD), frame.payload.method.id != chronicle_amqp_basic_ack {
                    throw Failure(description: "the broker refused a start")
                }
            }
            amqp_maybe_release_buffers(state)
            if control.stopped { throw Failure(description: "stopped before every trip started") }
        }
        return begin
    }

    /// Takes `trips` outcomes from `queue`; returns each one's latency in seconds, in the order they came.
    static func collect(
        _ state: amqp_connection_state_t,
        trips: Int,
        queue: String,
        deadline: ContinuousClock.Instant,
        control: Control
    ) throws -> [Double] {
        queue.withCString { name in
            _ = amqp_basic_consume(state, 1, amqp_cstring_bytes(name), amqp_empty_bytes, 0, 1, 0, amqp_empty_table)
        }
        try RawAMQPLoops.check(state, "basic.consume")
        control.consumes()
        var latencies: [Double] = []
        latencies.reserveCapacity(trips)
        while latencies.count < trips {
            if control.stopped { throw Failure(description: "stopped before every floor trip ended") }
            guard ContinuousClock.now < deadline else {
                throw Failure(description: "\(trips - latencies.count) of \(trips) floor trips did not end in time")
            }
            amqp_maybe_release_buffers(state)
            var envelope = amqp_envelope_t()
            var wait = timeval(tv_sec: 0, tv_usec: 100_000)
            let reply = amqp_consume_message(state, &envelope, &wait, 0)
            if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION, reply.library_error == AMQP_STATUS_TIMEOUT.rawValue
            {
                continue
            }
            guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                throw Failure(description: "consuming outcomes failed: \(AMQPConnection.describe(reply))")
            }
            let arrived = monotonicNanoseconds()
            let text = String(
                decoding: UnsafeRawBufferPointer(start: envelope.message.body.bytes, count: envelope.message.body.len)
                    .prefix { $0 != UInt8(ascii: "|") },
                as: UTF8.self)
            amqp_destroy_envelope(&envelope)
            let fields = text.split(separator: " ")
            guard fields.count == 2, let due = UInt64(fields[1]) else {
                throw Failure(description: "an outcome with body \(text.prefix(40))")
            }
            latencies.append(Double(Int64(arrived) - Int64(due)) / 1e9)
        }
        return latencies
    }

    static func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
