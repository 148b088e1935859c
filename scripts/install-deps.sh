#!/usr/bin/env bash
# Installs the system packages Chronicle needs, when missing: librabbitmq (to build), RabbitMQ (to test).
set -euo pipefail
missing=()
for pkg in librabbitmq-dev rabbitmq-server amqp-tools; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# jsonschema and PyYAML, for scripts/check-contracts.py (the contract tests): pip where it may install (a
# pyenv or virtualenv Python), else Debian's packages (the system Python refuses pip installs, PEP 668).
if ! python3 -c 'import jsonschema, yaml' >/dev/null 2>&1; then
    echo "installing jsonschema and pyyaml for python3"
    if ! python3 -m pip install --quiet jsonschema pyyaml >/dev/null 2>&1; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-jsonschema python3-yaml >/dev/null
    fi
    python3 -c 'import jsonschema, yaml' || { echo "python3 still cannot import jsonschema and yaml" >&2; exit 1; }
fi
