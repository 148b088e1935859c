#!/usr/bin/env bash
# Fails when any Swift file is not formatted as .swift-format says; `make format` fixes it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! swift format lint --strict --recursive --parallel Package.swift Sources Tests; then
    echo "format check failed: run 'make format' and commit the result" >&2
    exit 1
fi
