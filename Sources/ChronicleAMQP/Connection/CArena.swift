import CRabbitMQ
import Foundation

/// C memory for one call into librabbitmq (strings, bodies, header tables), freed together.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { reset() }

    func reset() {
        for pointer in allocations { free(pointer) }
        allocations.removeAll(keepingCapacity: true)
    }

    private func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        let pointer = malloc(max(count, 1))!
        allocations.append(pointer)
        return pointer
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { utf8 in
            let pointer = allocate(utf8.count)
            if let base = utf8.baseAddress { pointer.copyMemory(from: base, byteCount: utf8.count) }
            return amqp_bytes_t(len: utf8.count, bytes: pointer)
        }
    }

    func bytes(_ data: Data) -> amqp_bytes_t {
        let pointer = allocate(data.count)
        data.copyBytes(to: pointer.assumingMemoryBound(to: UInt8.self), count: data.count)
        return amqp_bytes_t(len: data.count, bytes: pointer)
    }

    /// A table of string values, sorted by key so the wire bytes do not depend on dictionary order.
    func table(_ headers: [String: String]) -> amqp_table_t {
        guard !headers.isEmpty else { return amqp_empty_table }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * headers.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: headers.count)
        for (index, key) in headers.keys.sorted().enumerated() {
            entries[index] = chronicle_amqp_string_entry(bytes(key), bytes(headers[key]!))
        }
        return amqp_table_t(num_entries: Int32(headers.count), entries: entries)
    }

    func table(_ arguments: [String: Topology.Argument]) -> amqp_table_t {
        guard !arguments.isEmpty else { return amqp_empty_table }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * arguments.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: arguments.count)
        for (index, key) in arguments.keys.sorted().enumerated() {
            switch arguments[key]! {
            case .string(let value): entries[index] = chronicle_amqp_string_entry(bytes(key), bytes(value))
            case .int(let value): entries[index] = chronicle_amqp_int_entry(bytes(key), value)
            case .bool(let value): entries[index] = chronicle_amqp_bool_entry(bytes(key), value ? 1 : 0)
            }
        }
        return amqp_table_t(num_entries: Int32(arguments.count), entries: entries)
    }
}

extension amqp_bytes_t {
    var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }

    var data: Data {
        guard len > 0, let bytes else { return Data() }
        return Data(bytes: bytes, count: len)
    }
}

extension amqp_table_t {
    /// Header values that read as text: strings, numbers, booleans. Nested tables and arrays (such as the
    /// broker's `x-death`) are left out.
    var stringValues: [String: String] {
        var result: [String: String] = [:]
        guard num_entries > 0, let entries else { return result }
        for index in 0..<Int(num_entries) {
            let entry = entries[index]
            let value = entry.value
            let text: String?
            switch value.kind {
            case UInt8(AMQP_FIELD_KIND_UTF8.rawValue), UInt8(AMQP_FIELD_KIND_BYTES.rawValue):
                text = value.value.bytes.string
            case UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue): text = value.value.boolean != 0 ? "true" : "false"
            case UInt8(AMQP_FIELD_KIND_I8.rawValue): text = String(value.value.i8)
            case UInt8(AMQP_FIELD_KIND_U8.rawValue): text = String(value.value.u8)
            case UInt8(AMQP_FIELD_KIND_I16.rawValue): text = String(value.value.i16)
            case UInt8(AMQP_FIELD_KIND_U16.rawValue): text = String(value.value.u16)
            case UInt8(AMQP_FIELD_KIND_I32.rawValue): text = String(value.value.i32)
            case UInt8(AMQP_FIELD_KIND_U32.rawValue): text = String(value.value.u32)
            case UInt8(AMQP_FIELD_KIND_I64.rawValue): text = String(value.value.i64)
            case UInt8(AMQP_FIELD_KIND_U64.rawValue), UInt8(AMQP_FIELD_KIND_TIMESTAMP.rawValue):
                text = String(value.value.u64)
            case UInt8(AMQP_FIELD_KIND_F32.rawValue): text = String(value.value.f32)
            case UInt8(AMQP_FIELD_KIND_F64.rawValue): text = String(value.value.f64)
            default: text = nil
            }
            if let text { result[entry.key.string] = text }
        }
        return result
    }
}
