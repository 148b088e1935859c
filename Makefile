# Chronicle — the two commands README.md promises, and their parts.
SWIFT ?= swift
.PHONY: test demo chaos fuzz build deps broker format format-check unit-tests

## make test: install what is missing, start a local broker, check formatting, build and run every test.
test:
	scripts/test.sh

## make demo: book trips through a local RabbitMQ; `make demo ARGS="--trips 30"` passes flags on.
demo:
	scripts/demo.sh $(ARGS)

## make chaos: the full fault run (1,000 trips, kills, broker restarts, an outage, a full disk), 10,000 bad
## messages, then libFuzzer for 2 minutes; figures printed as tables. Restarts the local broker.
chaos:
	scripts/chaos.sh

## make fuzz: the libFuzzer target alone, `make fuzz SECONDS=600`.
fuzz:
	scripts/fuzz.sh $(SECONDS)

build:
	$(SWIFT) build

## System packages (librabbitmq-dev, rabbitmq-server, amqp-tools) when missing.
deps:
	scripts/install-deps.sh

## A local RabbitMQ, unless CHRONICLE_AMQP_URL points at one.
broker: deps
	scripts/broker.sh start

format:
	$(SWIFT) format format --in-place --recursive --parallel Package.swift Sources Tests

format-check:
	scripts/format-check.sh
