#!/usr/bin/env bash
# A local RabbitMQ for the tests and the demo, from Debian's package (scripts/install-deps.sh installs it).
#   scripts/broker.sh start      start it unless CHRONICLE_AMQP_URL names another broker or it runs already;
#                                returns once it accepts connections
#   scripts/broker.sh stop       stop it
#   scripts/broker.sh restart    stop, then start; queues and messages survive (the recovery tests use it)
#   scripts/broker.sh fresh      stop, delete its data, start (make test begins with this)
#   scripts/broker.sh ctl ARGS   rabbitmqctl ARGS against it, bounded in time
# With CHRONICLE_BROKER_UI=1 (at start or restart) it serves RabbitMQ's management UI on localhost:15672.
#
# The node is chronicle@localhost, listening on localhost:5672 with guest/guest. It runs as the calling
# user with its data, logs and host lookup file under CHRONICLE_BROKER_DIR (.build-broker/ by default), not
# in /var/lib/rabbitmq, so a run never inherits what an earlier one left behind and the machine's own
# rabbitmq-server service is left alone. Host names come from /etc/hosts only: with DNS in the way, the
# Erlang VMs of the server and of rabbitmqctl stalled for minutes resolving "localhost".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$(realpath -m "${CHRONICLE_BROKER_DIR:-$here/../.build-broker}")"
bin=/usr/lib/rabbitmq/bin

export RABBITMQ_NODENAME="${CHRONICLE_BROKER_NODE:-chronicle@localhost}"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="${CHRONICLE_BROKER_PORT:-5672}"

# Points the node's files at folder $1.
use_dir() {
    dir="$1"
    export RABBITMQ_MNESIA_BASE="$dir/data"
    export RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_PID_FILE="$dir/pid"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export ERL_INETRC="$dir/inetrc"
}
use_dir "$dir"

prepare() {
    mkdir -p "$dir/data" "$dir/log"
    printf '{lookup, [file]}.\n{hosts_file, "/etc/hosts"}.\n' >"$dir/inetrc"
    printf '[].\n' >"$dir/advanced.config"
    # Erlang schedulers: half the cores, at least one (CHRONICLE_BROKER_SCHEDULERS overrides). This broker
    # shares the machine with the processor, the services and the bench; with a scheduler per core, its threads
    # and theirs wait for each other on every core. On 2 cores, `chronicle bench trips --rate 850` measured
    # p50 23 ms and p99 40-67 ms with one scheduler, p50 35 ms and p99 65-74 ms with two, and the maximum no
    # lower (README.md, "Benchmarks").
    local cores
    cores=$(nproc 2>/dev/null || echo 2)
    local schedulers="${CHRONICLE_BROKER_SCHEDULERS:-$((cores / 2 > 0 ? cores / 2 : 1))}"
    printf 'SERVER_ADDITIONAL_ERL_ARGS="+S %s:%s"\n' "$schedulers" "$schedulers" >"$dir/rabbitmq-env.conf"
    # The default user may connect from this host only, as RabbitMQ's default says.
    printf 'loopback_users.guest = true\nlisteners.tcp.default = 127.0.0.1:%s\n' "$RABBITMQ_NODE_PORT" \
        >"$dir/rabbitmq.conf"
    # CHRONICLE_BROKER_UI=1: RabbitMQ's management UI on http://localhost:15672 (guest/guest); takes effect
    # when the node starts.
    if [ "${CHRONICLE_BROKER_UI:-0}" = 1 ]; then
        printf '[rabbitmq_management].\n' >"$dir/enabled_plugins"
        printf 'management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = 15672\n' >>"$dir/rabbitmq.conf"
    else
        printf '[].\n' >"$dir/enabled_plugins"
    fi
}

# rabbitmqctl, killed with everything it started when it overruns (its Erlang VM can stall).
ctl() {
    local seconds="${CTL_TIMEOUT:-30}"
    timeout -k 5 "$seconds" "$bin/rabbitmqctl" -q -n "$RABBITMQ_NODENAME" "$@"
}

running() { CTL_TIMEOUT=20 ctl status >/dev/null 2>&1; }

# Whether something listens on the node's port.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$RABBITMQ_NODE_PORT") 2>/dev/null; }

# The VMs running this node, found by the node name in their environment (not by the pid file, which may be
# gone with the folder of the checkout that started the node).
node_vms() {
    local p
    for p in $(pgrep -x beam.smp); do
        { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$RABBITMQ_NODENAME" && echo "$p"
    done
    return 0
}

# The folder the running node keeps its data in: another checkout's, perhaps (a restart must keep it, or the
# node comes back without its vhosts); ours when it does not run.
running_dir() {
    local p base
    for p in $(node_vms); do
        base=$({ tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | sed -n 's/^RABBITMQ_MNESIA_BASE=//p')
        # A node that broker.sh did not start keeps its data elsewhere: ours, then.
        if [ -n "$base" ] && [ "${base%/data}" != "$base" ]; then
            echo "${base%/data}"
            return 0
        fi
    done
    echo "$dir"
}

# Kills the node's VMs with SIGKILL and waits until they are gone.
kill_vms() {
    # shellcheck disable=SC2086
    kill -9 $1 2>/dev/null || true
    for _ in $(seq 100); do
        [ -z "$(node_vms)" ] && break
        sleep 0.1
    done
    rm -f "$dir/pid"
}

start() {
    if [ -n "${CHRONICLE_AMQP_URL:-}" ]; then
        echo "broker: CHRONICLE_AMQP_URL is set; not starting a local broker"
        return 0
    fi
    prepare
    if running; then
        echo "broker: $RABBITMQ_NODENAME is running (data in $(running_dir))"
        return 0
    fi
    local vms
    vms=$(node_vms)
    if [ -n "$vms" ]; then
        # Its VM lives but does not answer: a stalled node is worse than none.
        echo "broker: $RABBITMQ_NODENAME does not answer; killing its VM ($vms)"
        kill_vms "$vms"
    fi
    if port_taken; then
        echo "broker: port $RABBITMQ_NODE_PORT is taken by another program (a rabbitmq-server service?)." >&2
        echo "        Stop it (service rabbitmq-server stop), or use it: CHRONICLE_AMQP_URL=amqp://..." >&2
        exit 1
    fi
    echo "broker: starting $RABBITMQ_NODENAME (data in $dir)"
    # A session of its own, so that a test runner's signals and descriptors never reach it.
    (cd "$dir" && exec setsid "$bin/rabbitmq-server" >"$dir/log/startup.log" 2>&1 </dev/null) &
    local server=$!
    local deadline=$((SECONDS + 120))
    # await_startup fails at once while the node is not yet reachable: try until the deadline.
    until CTL_TIMEOUT=60 ctl await_startup --timeout 50 >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ] || ! kill -0 "$server" 2>/dev/null; then
            echo "broker: $RABBITMQ_NODENAME did not start; the end of $dir/log/startup.log:" >&2
            tail -20 "$dir/log/startup.log" >&2 || true
            exit 1
        fi
        sleep 1
    done
    echo "broker: $RABBITMQ_NODENAME is up on localhost:$RABBITMQ_NODE_PORT"
}

stop() {
    if [ -n "${CHRONICLE_AMQP_URL:-}" ]; then
        echo "broker: CHRONICLE_AMQP_URL is set; there is no local broker to stop"
        return 0
    fi
    prepare
    local stopped=false
    # Whichever node of this name answers (another checkout may have started it).
    if running; then
        CTL_TIMEOUT=60 ctl stop >/dev/null 2>&1 || true
        stopped=true
    fi
    # A VM of this node that did not stop (it may not answer at all): killed, after a grace period.
    local vms
    for _ in $(seq 50); do
        vms=$(node_vms)
        [ -z "$vms" ] && break
        sleep 0.2
    done
    if [ -n "$vms" ]; then
        echo "broker: $RABBITMQ_NODENAME did not stop; killing its VM ($vms)"
        kill_vms "$vms"
        stopped=true
    fi
    # stop returns as the node halts: wait until its port is free, so a start can follow at once.
    for _ in $(seq 100); do
        port_taken || break
        sleep 0.2
    done
    if $stopped; then echo "broker: $RABBITMQ_NODENAME stopped"; fi
}

fresh() {
    stop
    rm -rf "$dir"
    start
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart)
    from=$(running_dir)
    stop
    use_dir "$from"
    start
    ;;
fresh) fresh ;;
ctl)
    shift
    prepare
    ctl "$@"
    ;;
*)
    echo "usage: $0 start|stop|restart|fresh|ctl ARGS..." >&2
    exit 2
    ;;
esac
