"""The JSON Schemas for flows and call scripts: they agree with the parsers key for key (as
python-statemachine holds its ``statechart.schema.json`` to its loader), the shipped flows and
call scripts validate against them, flows point at theirs, and the committed copies are current.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.cli.schema import SCHEMA_FILES
from ivr.cli.schema import schema_text
from ivr.cli.schema import schemas
from ivr.errors import ScriptError
from ivr.flow import loader
from ivr.flow.loader import parse_flow
from ivr.hotline.actions import hotline
from ivr.testing import script_schema
from ivr.testing.scripts import parse_script
from ivr.yamlstrict import load

ROOT = Path(__file__).parent.parent
SCHEMAS = ROOT / "docs" / "schemas"
FLOWS = [
    ROOT / "flows" / "hotline.yaml",
    *sorted((Path(__file__).parent / "flows").glob("*/*.yaml")),
]
VALID_FLOWS = [p for p in FLOWS if "invalid" not in p.parts]
CALLS = sorted((Path(__file__).parent / "calls").glob("*.yaml"))


@pytest.fixture(scope="module")
def flow_schema() -> dict[str, Any]:
    return schemas()["flow"]


def keys_of(schema: dict[str, Any]) -> set[str]:
    return set(schema["properties"])


# --- the flow schema and the loader --------------------------------------------------------------


def test_flow_schema_objects_allow_exactly_the_loaders_keys(flow_schema: dict[str, Any]) -> None:
    top, defs = flow_schema, flow_schema["$defs"]
    assert keys_of(top) == set(loader.TOP_KEYS)
    assert keys_of(defs["option"]) == set(loader.OPTION_KEYS)
    assert keys_of(defs["route"]) == set(loader.ROUTE_KEYS)
    assert keys_of(defs["gather"]) == set(loader.GATHER_KEYS)
    assert keys_of(defs["retry"]) == set(loader.RETRY_KEYS)
    assert keys_of(defs["record"]) == set(loader.RECORD_KEYS)
    assert keys_of(top["properties"]["keys"]) == set(loader.KEYS_KEYS)
    assert keys_of(top["properties"]["phrases"]) == set(loader.PHRASE_KEYS)
    assert keys_of(top["properties"]["waiting"]) == set(loader.WAITING_KEYS)
    assert keys_of(top["properties"]["queues"]["additionalProperties"]) == set(
        loader.QUEUE_ALL_KEYS
    )
    by_type = {
        rule["if"]["properties"]["type"]["const"]: rule["then"] for rule in defs["state"]["allOf"]
    }
    assert set(by_type) == set(loader.STATE_TYPES)
    for kind, state in by_type.items():
        assert keys_of(state) == {"type", *loader.STATE_KEYS[kind]}, kind


def unknown_key_allowed(document: str, tmp_path: Path) -> set[str]:
    """The keys the loader names as allowed when it meets ``zzz`` where ``document`` puts it."""
    path = tmp_path / "probe.yaml"
    path.write_text(document, encoding="utf-8")
    _, problems = parse_flow(path)
    messages = [p.message for p in problems if "unknown key 'zzz'" in p.message]
    assert len(messages) == 1, [str(p) for p in problems]
    return set(messages[0].split("allowed: ")[1].split(", "))


@pytest.mark.parametrize("kind", loader.STATE_TYPES)
def test_the_loader_rejects_a_key_with_the_same_allowed_list_the_schema_has(
    kind: str, flow_schema: dict[str, Any], tmp_path: Path
) -> None:
    document = f"start: s\nstates:\n  s:\n    type: {kind}\n    zzz: 1\n"
    states = {
        r["if"]["properties"]["type"]["const"]: r["then"]
        for r in flow_schema["$defs"]["state"]["allOf"]
    }
    assert unknown_key_allowed(document, tmp_path) == keys_of(states[kind]) - {"type"}


def test_the_loader_and_the_schema_agree_on_top_level_and_option_keys(
    flow_schema: dict[str, Any], tmp_path: Path
) -> None:
    assert unknown_key_allowed("zzz: 1\nstart: s\n", tmp_path) == keys_of(flow_schema)
    option = "start: s\nstates:\n  s:\n    type: menu\n    options:\n      - {key: '1', zzz: 1}\n"
    assert unknown_key_allowed(option, tmp_path) == keys_of(flow_schema["$defs"]["option"])


def test_flow_schema_offers_every_registered_action_and_guard_with_a_description(
    flow_schema: dict[str, Any],
) -> None:
    actions = flow_schema["$defs"]["action"]["anyOf"][0]["oneOf"]
    guards = flow_schema["$defs"]["guard"]["anyOf"][0]["oneOf"]
    signatures = hotline.signatures()
    assert {a["const"] for a in actions} == {n for n, s in signatures.items() if s.kind == "action"}
    assert {g["const"] for g in guards} == {n for n, s in signatures.items() if s.kind == "guard"}
    described = {a["const"]: a["description"] for a in actions}
    assert described["find_entered_account"] == (
        "find_entered_account. Look up the registered mobile number the caller keyed in. "
        "Whether one was found is not told to the caller: the flow asks for the PIN either way "
        "(``verify_pin``)."
    )
    types = flow_schema["$defs"]["state"]["properties"]["type"]["oneOf"]
    assert {t["const"] for t in types} == set(loader.STATE_TYPES)
    assert all(t["description"] for t in types)


@pytest.mark.parametrize("path", VALID_FLOWS, ids=lambda p: p.name)
def test_shipped_flows_validate_against_the_flow_schema(
    path: Path, flow_schema: dict[str, Any]
) -> None:
    data = load(path.read_text(encoding="utf-8"), str(path)).data
    jsonschema.Draft202012Validator.check_schema(flow_schema)
    errors = [e.message for e in jsonschema.Draft202012Validator(flow_schema).iter_errors(data)]
    assert errors == []


def test_the_schema_catches_a_misspelt_key_as_an_editor_would(flow_schema: dict[str, Any]) -> None:
    data = load((ROOT / "flows" / "hotline.yaml").read_text(encoding="utf-8"), "hotline").data
    data["states"]["main_menu"]["optoins"] = data["states"]["main_menu"].pop("options")
    errors = list(jsonschema.Draft202012Validator(flow_schema).iter_errors(data))
    assert any("'optoins' was unexpected" in e.message for e in errors)


@pytest.mark.parametrize(
    "path",
    [ROOT / "flows" / "hotline.yaml", Path(__file__).parent / "flows" / "small" / "small.yaml"],
    ids=lambda p: p.name,
)
def test_flow_files_point_at_their_schema_on_their_first_line(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    found = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert found is not None, first
    assert (path.parent / found.group(1)).resolve() == (SCHEMAS / "flow.schema.json").resolve()


# --- the call-script schema and the script parser ------------------------------------------------


def script_allowed(data: object) -> set[str]:
    with pytest.raises(ScriptError) as caught:
        parse_script(data, "probe.yaml")
    message = str(caught.value)
    assert "allowed: " in message, message
    return set(message.split("allowed: ")[1].split(", "))


def test_script_schema_allows_exactly_the_parsers_keys() -> None:
    schema = script_schema.script_schema()
    steps = script_schema.STEPS
    base = {"name": "n", "from": "+8613800000001"}
    assert script_allowed({**base, "steps": ["press"], "zzz": 1}) == keys_of(schema)
    assert script_allowed({**base, "steps": [{"zzz": 1}]}) == set(steps)
    assert script_allowed({**base, "steps": ["zzz"]}) == set(steps)
    nested = {
        "expect": {"zzz": 1},
        "say": {"zzz": 1},
        "hold": {"zzz": 1},
        "agent": {"zzz": 1},
        "record": {"zzz": 1},
        "dial": {"zzz": 1},
    }
    for kind, value in nested.items():
        options = steps[kind].get("anyOf", [steps[kind]])
        allowed = next(o for o in options if o.get("type") == "object")
        assert script_allowed({**base, "steps": [{kind: value}]}) == keys_of(allowed), kind
    outcome = schema["properties"]["outcome"]
    assert script_allowed({**base, "steps": ["hangup"], "outcome": {"zzz": 1}}) == keys_of(outcome)
    callback = schema["properties"]["callback"]
    assert script_allowed({**base, "steps": ["hangup"], "callback": {"zzz": 1}}) == keys_of(
        callback
    )
    called_back = {"steps": [], "outcome": {"zzz": 1}}
    assert script_allowed({**base, "steps": ["hangup"], "callback": called_back}) == keys_of(
        callback["properties"]["outcome"]
    )


@pytest.mark.parametrize("path", CALLS, ids=lambda p: p.name)
def test_shipped_call_scripts_validate_against_the_script_schema(path: Path) -> None:
    schema = script_schema.script_schema()
    data = load(path.read_text(encoding="utf-8"), str(path)).data
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert errors == []


# --- the committed copies and `ivr schema` -------------------------------------------------------


@pytest.mark.parametrize("which", sorted(SCHEMA_FILES))
def test_the_committed_schemas_are_current(which: str) -> None:
    committed = (SCHEMAS / SCHEMA_FILES[which]).read_text(encoding="utf-8")
    assert committed == schema_text(schemas()[which]), (
        f"run `ivr schema {which} --out docs/schemas/{SCHEMA_FILES[which]}`"
    )


def test_ivr_schema_prints_the_flow_schema_as_json() -> None:
    result = CliRunner(env={"IVR_LOG_LEVEL": "WARNING"}).invoke(main, ["schema", "flow"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["title"] == "ivr flow"
