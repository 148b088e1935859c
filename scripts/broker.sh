#!/usr/bin/env bash
# A local RabbitMQ for the tests and the demo, from Debian's package (scripts/install-deps.sh installs it).
#   scripts/broker.sh start    start it unless CHRONICLE_AMQP_URL names another broker or one is running;
#                              returns once it accepts connections
#   scripts/broker.sh stop     stop the node this script starts
#   scripts/broker.sh restart  stop, then start (the AMQP tests use it to check recovery)
# The node is rabbit@localhost with Debian's data directory, so its queues survive a restart.
set -euo pipefail
export RABBITMQ_NODENAME="${RABBITMQ_NODENAME:-rabbit@localhost}"
# Every call is bounded: a node busy stopping or starting must not hang the caller (or a test) forever.
ctl=(timeout 120 rabbitmqctl -q -n "$RABBITMQ_NODENAME")

running() { timeout 60 rabbitmqctl -q -n "$RABBITMQ_NODENAME" status >/dev/null 2>&1; }

start() {
    if [ -n "${CHRONICLE_AMQP_URL:-}" ]; then
        echo "broker: CHRONICLE_AMQP_URL is set; not starting a local broker"
        return 0
    fi
    if running; then
        echo "broker: $RABBITMQ_NODENAME is running"
        return 0
    fi
    echo "broker: starting $RABBITMQ_NODENAME"
    # Debian's wrapper runs the server as the rabbitmq user when called as root.
    rabbitmq-server -detached >/dev/null 2>&1 || true
    # await_startup fails at once while the node is not yet reachable: try until the deadline.
    local deadline=$((SECONDS + 120))
    until "${ctl[@]}" --timeout 30 await_startup >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "broker: $RABBITMQ_NODENAME did not start within 120 s; see /var/log/rabbitmq" >&2
            exit 1
        fi
        sleep 1
    done
    echo "broker: $RABBITMQ_NODENAME is up"
}

stop() {
    if running; then
        "${ctl[@]}" stop >/dev/null
        echo "broker: $RABBITMQ_NODENAME stopped"
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart)
    stop
    start
    ;;
*)
    echo "usage: $0 start|stop|restart" >&2
    exit 2
    ;;
esac
