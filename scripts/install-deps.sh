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
