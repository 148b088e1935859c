#!/usr/bin/env bash
# `make chaos`: the full fault run, the full hostile-input run, then the libFuzzer target for a bounded time.
#   CHRONICLE_CHAOS_SEED=N   repeat a run's random choices (the seed is printed at the start of each suite)
#   CHRONICLE_FUZZ_SECONDS=N how long libFuzzer runs (default 120)
# The fault run restarts the local broker and mounts a small tmpfs for the store (root needed; skipped with a
# message otherwise). Run it on its own: it disturbs every other user of the broker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/broker.sh start
trap 'scripts/broker.sh start >/dev/null' EXIT  # never leave the broker stopped
swift build --build-tests
export CHRONICLE_CHAOS=full
# One suite at a time: the fault run restarts the broker under every other user of it.
swift test --skip-build --filter 'FuzzTests'
swift test --skip-build --filter 'ChaosTests'
scripts/fuzz.sh "${CHRONICLE_FUZZ_SECONDS:-120}"
