#!/usr/bin/env bash
# `make demo`: book trips through a local RabbitMQ (started if needed) and show the traffic and the outcomes.
# With CHRONICLE_AMQP_URL set, that broker is used as it is. Extra arguments go to `chronicle demo`
# (e.g. `make demo ARGS="--trips 30 --failure-rate 0.5"`; `chronicle demo --help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -z "${CHRONICLE_AMQP_URL:-}" ]; then
    scripts/broker.sh start
    # A vhost of the demo's own, new each time, so that no other processor or leftover message joins in.
    ctl=(scripts/broker.sh ctl)
    "${ctl[@]}" delete_vhost chronicle-demo >/dev/null 2>&1 || true
    "${ctl[@]}" add_vhost chronicle-demo >/dev/null
    "${ctl[@]}" set_permissions -p chronicle-demo guest '.*' '.*' '.*' >/dev/null
    export CHRONICLE_AMQP_URL="amqp://guest:guest@localhost:5672/chronicle-demo"
fi
swift build --product chronicle
exec .build/debug/chronicle demo "$@"
