#ifndef CHRONICLE_CRABBITMQ_SHIM_H
#define CHRONICLE_CRABBITMQ_SHIM_H
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <string.h>

/* Method ids and property flags are macros with casts, which Swift does not import. */
static const uint32_t chronicle_amqp_basic_ack = AMQP_BASIC_ACK_METHOD;
static const uint32_t chronicle_amqp_basic_nack = AMQP_BASIC_NACK_METHOD;
static const uint32_t chronicle_amqp_basic_return = AMQP_BASIC_RETURN_METHOD;
static const uint32_t chronicle_amqp_basic_deliver = AMQP_BASIC_DELIVER_METHOD;
static const uint32_t chronicle_amqp_basic_cancel = AMQP_BASIC_CANCEL_METHOD;
static const uint32_t chronicle_amqp_channel_close = AMQP_CHANNEL_CLOSE_METHOD;
static const uint32_t chronicle_amqp_channel_close_ok = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const uint32_t chronicle_amqp_connection_close = AMQP_CONNECTION_CLOSE_METHOD;
static const uint32_t chronicle_amqp_connection_close_ok = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const uint32_t chronicle_amqp_connection_blocked = AMQP_CONNECTION_BLOCKED_METHOD;
static const uint32_t chronicle_amqp_connection_unblocked = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_flags_t chronicle_amqp_flag_content_type = AMQP_BASIC_CONTENT_TYPE_FLAG;
static const amqp_flags_t chronicle_amqp_flag_headers = AMQP_BASIC_HEADERS_FLAG;
static const amqp_flags_t chronicle_amqp_flag_delivery_mode = AMQP_BASIC_DELIVERY_MODE_FLAG;
static const amqp_flags_t chronicle_amqp_flag_correlation_id = AMQP_BASIC_CORRELATION_ID_FLAG;
static const amqp_flags_t chronicle_amqp_flag_message_id = AMQP_BASIC_MESSAGE_ID_FLAG;
static const amqp_flags_t chronicle_amqp_flag_timestamp = AMQP_BASIC_TIMESTAMP_FLAG;
static const amqp_flags_t chronicle_amqp_flag_type = AMQP_BASIC_TYPE_FLAG;

/* amqp_login is variadic, which Swift cannot call: this fixes it to SASL PLAIN. */
static inline amqp_rpc_reply_t chronicle_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                          int channel_max, int frame_max, int heartbeat,
                                                          const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

/* Table entries: the value is a union, simpler to fill in C. */
static inline amqp_table_entry_t chronicle_amqp_string_entry(amqp_bytes_t key, amqp_bytes_t value) {
    amqp_table_entry_t entry;
    memset(&entry, 0, sizeof(entry));
    entry.key = key;
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = value;
    return entry;
}

static inline amqp_table_entry_t chronicle_amqp_int_entry(amqp_bytes_t key, int64_t value) {
    amqp_table_entry_t entry;
    memset(&entry, 0, sizeof(entry));
    entry.key = key;
    entry.value.kind = AMQP_FIELD_KIND_I64;
    entry.value.value.i64 = value;
    return entry;
}

static inline amqp_table_entry_t chronicle_amqp_bool_entry(amqp_bytes_t key, int value) {
    amqp_table_entry_t entry;
    memset(&entry, 0, sizeof(entry));
    entry.key = key;
    entry.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    entry.value.value.boolean = value ? 1 : 0;
    return entry;
}

/* Waits until fd_a or fd_b is readable or timeout_ms passes; returns a bitmask (1: a, 2: b), 0 on timeout, -1
 * on error. A negative fd is ignored, as poll(2) does. */
static inline int chronicle_poll_two(int fd_a, int fd_b, int timeout_ms) {
    struct pollfd fds[2] = {{fd_a, POLLIN, 0}, {fd_b, POLLIN, 0}};
    int n = poll(fds, 2, timeout_ms);
    if (n <= 0) return n < 0 ? -1 : 0;
    int mask = 0;
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) mask |= 1;
    if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) mask |= 2;
    return mask;
}
/* TCP_CORK on or off: while on, the kernel holds written bytes until a full segment or until it goes off. */
static inline int chronicle_set_cork(int socket, int on) {
    return setsockopt(socket, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

#endif
