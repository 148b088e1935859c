#!/usr/bin/env python3
"""Holds sample messages to the wire contract in contracts/.

Usage: scripts/check-contracts.py SAMPLES_DIR [--envelopes FILE] [--contracts DIR]

SAMPLES_DIR holds message bodies named <MessageType>.json or <MessageType>-<anything>.json. Each is validated
against contracts/schemas/<MessageType>.schema.json (JSON Schema draft 2020-12, formats checked). The check
fails if a sample is invalid, if a message type in the samples has no schema, or if a schema has no sample
(so a message type nobody emits, or one nobody documented, is noticed). It also checks that
contracts/asyncapi.yaml parses, that its local references resolve, and that it references exactly the schema
files that exist, each from the message of the same name.

With --envelopes, FILE is a JSON list of how each sample was published:
  {"sample": "ReserveHotel-1.json", "exchange": "chronicle.commands", "routingKey": "hotel.reserve",
   "type": "ReserveHotel", "messageId": "trip-1/3/1", "correlationId": "trip-1"}
and each is held to the AsyncAPI document: a channel with that exchange and routing key carries that message
type, the type matches the sample's name, message_id is set (a command's is TRIPID/STEP/ATTEMPT),
correlation_id is the body's tripId, and every reply's commandId is the message_id of a command sample.

Exit status: 0 when everything holds; 1 with a list of every problem otherwise; 2 on bad usage.
Needs jsonschema and PyYAML (scripts/install-deps.sh installs them).
"""

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import jsonschema
    import yaml
except ImportError as error:
    print(f"check-contracts: {error}; run scripts/install-deps.sh (make test does) to install jsonschema and PyYAML",
          file=sys.stderr)
    sys.exit(2)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_SUFFIX = ".schema.json"
COMMAND_ID = re.compile(r"^.+/[1-9][0-9]*/[1-9][0-9]*$")
# jsonschema before 4.5 has no per-draft FORMAT_CHECKER.
FORMATS = getattr(jsonschema.Draft202012Validator, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()


def message_type(sample: Path) -> str:
    """StartTrip.json and StartTrip-3.json are both StartTrip samples."""
    return sample.name[: -len(".json")].split("-", 1)[0]


def load_schemas(schemas_dir: Path, problems: list) -> dict:
    schemas = {}
    for path in sorted(schemas_dir.glob("*" + SCHEMA_SUFFIX)):
        name = path.name[: -len(SCHEMA_SUFFIX)]
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        except (ValueError, jsonschema.SchemaError) as error:
            problems.append(f"{path.relative_to(ROOT)}: not a valid JSON Schema: {one_line(error)}")
            continue
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append(f"{path.relative_to(ROOT)}: $schema is not draft 2020-12")
        schemas[name] = schema
    return schemas


def validator(schema: dict):
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def one_line(error) -> str:
    return " ".join(str(getattr(error, "message", error)).split())


def check_samples(samples_dir: Path, schemas: dict, problems: list) -> dict:
    bodies = {}
    samples = sorted(samples_dir.glob("*.json"))
    if not samples:
        problems.append(f"{samples_dir}: no samples (*.json)")
    seen_types = set()
    for sample in samples:
        kind = message_type(sample)
        seen_types.add(kind)
        try:
            body = json.loads(sample.read_text(encoding="utf-8"))
        except ValueError as error:
            problems.append(f"{sample.name}: not JSON: {one_line(error)}")
            continue
        bodies[sample.name] = body
        if kind not in schemas:
            problems.append(f"{sample.name}: message type {kind} has no schema (contracts/schemas/{kind}{SCHEMA_SUFFIX})")
            continue
        for error in sorted(validator(schemas[kind]).iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(part) for part in error.absolute_path) or "(body)"
            problems.append(f"{sample.name}: {where}: {one_line(error)}")
    for kind in sorted(set(schemas) - seen_types):
        problems.append(f"contracts/schemas/{kind}{SCHEMA_SUFFIX}: no sample of {kind} (is it still emitted?)")
    return bodies


def check_examples(schemas: dict, problems: list) -> None:
    for kind, schema in schemas.items():
        for index, example in enumerate(schema.get("examples", [])):
            for error in validator(schema).iter_errors(example):
                problems.append(f"contracts/schemas/{kind}{SCHEMA_SUFFIX}: examples/{index}: {one_line(error)}")


def resolve_local(document: dict, pointer: str):
    node = document
    for part in pointer.lstrip("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def walk_refs(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from walk_refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_refs(value, f"{path}/{index}")


def deref(document: dict, node):
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
        node = resolve_local(document, node["$ref"])
    return node


def check_asyncapi(contracts: Path, schemas: dict, problems: list):
    path = contracts / "asyncapi.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        problems.append(f"{path.name}: does not parse: {one_line(error)}")
        return None
    if not isinstance(document, dict) or not str(document.get("asyncapi", "")).startswith("3."):
        problems.append(f"{path.name}: not an AsyncAPI 3 document")
        return None
    referenced = set()
    for where, ref in walk_refs(document):
        if ref.startswith("#"):
            if resolve_local(document, ref) is None:
                problems.append(f"{path.name}: {where}: $ref {ref} resolves to nothing")
            continue
        target = (contracts / ref).resolve()
        if not target.is_file():
            problems.append(f"{path.name}: {where}: $ref {ref}: no such file")
            continue
        if target.name.endswith(SCHEMA_SUFFIX):
            referenced.add(target.name[: -len(SCHEMA_SUFFIX)])
        match = re.fullmatch(r"/components/messages/([^/]+)/payload", where)
        if match and target.name != match.group(1) + SCHEMA_SUFFIX:
            problems.append(f"{path.name}: message {match.group(1)}'s payload is {ref}, not its own schema")
    for kind in sorted(set(schemas) - referenced):
        problems.append(f"{path.name}: schemas/{kind}{SCHEMA_SUFFIX} exists but is not referenced")
    for kind in sorted(referenced - set(schemas)):
        problems.append(f"{path.name}: references schemas/{kind}{SCHEMA_SUFFIX}, which is not a valid schema")
    for name, message in (document.get("components", {}).get("messages") or {}).items():
        if message.get("name") != name:
            problems.append(f"{path.name}: components/messages/{name} is named {message.get('name')!r}")
    return document


def routes(document: dict) -> dict:
    """(exchange, routing key) → the message types the AsyncAPI document puts there."""
    table = {}
    for channel in (document.get("channels") or {}).values():
        binding = (deref(document, channel.get("bindings")) or {}).get("amqp") or {}
        if binding.get("is") != "routingKey":
            continue
        exchange = (binding.get("exchange") or {}).get("name")
        names = {deref(document, message).get("name") for message in (channel.get("messages") or {}).values()}
        table.setdefault((exchange, channel.get("address")), set()).update(names)
    return table


def check_envelopes(envelopes_file: Path, document: dict, bodies: dict, problems: list) -> None:
    try:
        envelopes = json.loads(envelopes_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problems.append(f"{envelopes_file}: {one_line(error)}")
        return
    table = routes(document)
    command_ids = set()
    for envelope in envelopes:
        exchange, key = envelope.get("exchange"), envelope.get("routingKey")
        if exchange == "chronicle.commands" and key != "trip.start":
            command_ids.add(envelope.get("messageId"))
    for envelope in envelopes:
        sample = envelope.get("sample", "?")
        kind, exchange, key = envelope.get("type"), envelope.get("exchange"), envelope.get("routingKey")
        body = bodies.get(sample)
        if body is None:
            problems.append(f"{sample}: in the envelopes but not among the samples")
            continue
        if kind != message_type(Path(sample)):
            problems.append(f"{sample}: published with type {kind!r}")
        if kind not in table.get((exchange, key), set()):
            problems.append(f"{sample}: {kind} published to {exchange!r} with routing key {key!r}, "
                            "where asyncapi.yaml has no channel for it")
        message_id = envelope.get("messageId") or ""
        if not message_id:
            problems.append(f"{sample}: no message_id")
        if message_id in command_ids and not COMMAND_ID.match(message_id):
            problems.append(f"{sample}: command message_id {message_id!r} is not TRIPID/STEP/ATTEMPT")
        if isinstance(body, dict) and envelope.get("correlationId") != body.get("tripId"):
            problems.append(f"{sample}: correlation_id {envelope.get('correlationId')!r} is not the tripId "
                            f"{body.get('tripId')!r}")
        if isinstance(body, dict) and "commandId" in body and body["commandId"] not in command_ids:
            problems.append(f"{sample}: commandId {body['commandId']!r} is the message_id of no command sample")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", type=Path, help="a directory of <MessageType>[-<n>].json bodies")
    parser.add_argument("--envelopes", type=Path, help="a JSON list of how each sample was published")
    parser.add_argument("--contracts", type=Path, default=ROOT / "contracts", help="default: contracts/")
    arguments = parser.parse_args()
    if not arguments.samples.is_dir():
        print(f"check-contracts: {arguments.samples} is not a directory", file=sys.stderr)
        return 2

    problems = []
    schemas = load_schemas(arguments.contracts / "schemas", problems)
    check_examples(schemas, problems)
    bodies = check_samples(arguments.samples, schemas, problems)
    document = check_asyncapi(arguments.contracts, schemas, problems)
    if arguments.envelopes and document is not None:
        check_envelopes(arguments.envelopes, document, bodies, problems)

    unchecked = [name for name in ("date", "date-time", "uuid") if name not in FORMATS.checkers]
    if unchecked:
        print(f"note: formats {', '.join(unchecked)} are not checked by this jsonschema install "
              "(the schemas' patterns still are)")
    if problems:
        print(f"contract check FAILED: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"contract check passed: {len(bodies)} samples of {len({message_type(Path(s)) for s in bodies})} "
          f"message types against {len(schemas)} schemas; asyncapi.yaml references them all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
