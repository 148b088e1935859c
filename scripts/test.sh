#!/usr/bin/env bash
# THE test command (`make test`): works on a bare Debian machine with a Swift toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/format-check.sh
scripts/broker.sh start
swift build --build-tests
swift test --skip-build
