#!/usr/bin/env bash
# THE test command (`make test`): works on a bare Debian machine with a Swift toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/format-check.sh
# A broker of the run's own, with no data from an earlier run.
scripts/broker.sh fresh
swift build --build-tests
# The fuzzer's seed corpus through its replayer: each input takes its path through the processor (make chaos
# runs libFuzzer itself).
.build/debug/chronicle-fuzz fuzz/corpus >/dev/null
# The suites run in five groups, one after another. Tests of one group run in parallel on the cooperative pool;
# suites that talk to the broker block a thread now and then (rabbitmqctl, a broker restart) and must not
# starve or disturb the others, and those that measure time must not measure the others' load.
#   1. everything that needs no broker;
#   2. the transport's suites (serialized among themselves; they restart the broker);
#   3. the delayed-delivery timings (each message within 250 ms of due), alone;
#   4. the end-to-end suites with real processes, the hostile-input suite (2,000 bad messages) among them;
#   5. the short fault run (100 trips, 5 SIGKILLs, a broker restart, a flight outage), alone: it restarts
#      the broker. `make chaos` runs the full one and the libFuzzer target.
swift test --skip-build --skip 'ChronicleAMQPTests|ChronicleEndToEndTests'
swift test --skip-build --filter 'ChronicleAMQPTests' --skip 'DelayTests'
swift test --skip-build --filter 'DelayTests'
swift test --skip-build --filter 'ChronicleEndToEndTests' --skip 'ChaosTests'
swift test --skip-build --filter 'ChaosTests'
