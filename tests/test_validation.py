"""Validation of flows: the catalogue of invalid flows, and cross-reference rules in detail.

Each file in ``tests/flows/invalid/`` is a small flow with one thing wrong (``several_problems``
has four). Its leading ``# expect: line N: path: message`` lines say exactly what ``ivr check``
must report, and on which line of the file; a new invalid case is just a new file. Everything reported must be expected, so a file
that breaks for a second reason, or a check that reports twice, fails too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.engine.catalog import check_flows
from ivr.errors import FlowValidationError
from ivr.errors import Problem
from ivr.flow.loader import load_flow
from ivr.flow.spec import Flow
from ivr.flow.validation import Signature
from ivr.flow.validation import answering_problems
from ivr.flow.validation import validate
from ivr.hotline.actions import hotline
from ivr.web.app import create_app

HERE = Path(__file__).parent
INVALID = sorted((HERE / "flows" / "invalid").glob("*.yaml"))
MINIMAL = HERE / "flows" / "valid" / "minimal.yaml"
HOTLINE = HERE.parent / "flows" / "hotline.yaml"
EXPECT = "# expect: "


def expectations(path: Path) -> list[str]:
    """The ``# expect:`` lines at the top of a flow file (other comments may follow them)."""
    found: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(EXPECT):
            found.append(line[len(EXPECT) :])
    return found


def shown(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}" if problem.path else problem.message


def as_expected(problem: Problem) -> str:
    """A problem as an ``# expect:`` line writes it: ``line 25: states.x.goto: unknown ...``
    (``line 28, column 4: ...`` when YAML gave the column; no line when there is none)."""
    where = "" if problem.line is None else f"line {problem.line}"
    if problem.column is not None:
        where += f", column {problem.column}"
    return f"{where}: {shown(problem)}" if where else shown(problem)


def minimal_with(tmp_path: Path, old: str, new: str) -> Flow:
    text = MINIMAL.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "minimal.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return load_flow(path)


def test_the_invalid_catalogue_is_there() -> None:
    names = {path.stem for path in INVALID}

    assert len(INVALID) >= 60
    assert {"unknown_key", "missing_target", "dead_end", "bad_yaml", "bare_on_key"} <= names


@pytest.mark.parametrize("case", INVALID, ids=lambda path: path.stem)
def test_invalid_flow_reports_exactly_its_expected_problems(case: Path, tmp_path: Path) -> None:
    expected = expectations(case)
    assert expected, f"{case.name} has no leading '{EXPECT}line N: path: message' line"
    copy = tmp_path / case.name
    shutil.copyfile(case, copy)

    compiled, problems = check_flows(tmp_path, hotline)

    assert compiled == {}
    assert {p.file for p in problems} == {str(copy)}
    unmatched = [as_expected(p) for p in problems]
    for line in expected:
        hit = next((reported for reported in unmatched if line in reported), None)
        assert hit is not None, f"expected {line!r}, got {[as_expected(p) for p in problems]}"
        unmatched.remove(hit)
    assert unmatched == [], "reported but not expected"


def test_minimal_flow_has_no_problems() -> None:
    assert validate(load_flow(MINIMAL), hotline.signatures()) == []


def test_shipped_hotline_has_no_problems() -> None:
    flow = load_flow(HERE.parent / "flows" / "hotline.yaml")

    assert validate(flow, hotline.signatures()) == []


# -- rules in detail ------------------------------------------------------------------------------


def test_unknown_state_target_suggests_the_close_name(tmp_path: Path) -> None:
    flow = minimal_with(tmp_path, "goto: goodbye}", "goto: godbye}")

    problems = validate(flow, {})

    assert [shown(p) for p in problems][0] == (
        "states.main_menu.options[0].goto: unknown state 'godbye' (did you mean 'goodbye'?)"
    )
    assert problems[0].file == flow.file


def test_unknown_state_target_without_a_close_name_suggests_nothing(tmp_path: Path) -> None:
    flow = minimal_with(tmp_path, "goto: goodbye}", "goto: xyz}")

    assert shown(validate(flow, {})[0]) == "states.main_menu.options[0].goto: unknown state 'xyz'"


def test_an_action_is_known_only_by_the_registry_given(tmp_path: Path) -> None:
    flow = minimal_with(tmp_path, "    options:\n", "    do: greet\n    options:\n")
    greet = Signature("greet", "action", "none")

    assert validate(flow, {"greet": greet}) == []
    assert [shown(p) for p in validate(flow, {})] == [
        "states.main_menu.do: unknown action 'greet'; known actions: none"
    ]


def test_a_template_value_is_allowed_once_an_action_on_every_way_in_provides_it(
    tmp_path: Path,
) -> None:
    said = 'en-US: "Hello, {caller_name}."}'
    flow = minimal_with(tmp_path, "en-US: Hello.}", said)
    provider = Signature("greet", "action", "none", frozenset({"caller_name"}))

    assert [shown(p) for p in validate(flow, {})] == [
        "states.main_menu.prompt.en-US: unknown value {caller_name}: no action provides it"
    ]
    assert [shown(p) for p in validate(flow, {"greet": provider})] == [
        "states.main_menu.prompt.en-US: {caller_name} may be empty here: no action or guard "
        "sets it on the way main_menu; set it on every way in, or say this in another state"
    ]
    (tmp_path / "minimal.yaml").write_text(
        (tmp_path / "minimal.yaml")
        .read_text()
        .replace("type: menu\n", "type: menu\n    do: greet\n")
    )
    assert validate(load_flow(tmp_path / "minimal.yaml"), {"greet": provider}) == []


def test_a_value_a_guard_ensures_is_set_on_the_routes_it_lets_through(tmp_path: Path) -> None:
    flow = minimal_with(
        tmp_path,
        "  goodbye:\n",
        "  check:\n"
        "    type: route\n"
        "    do: look\n"
        "    next:\n"
        "      - {when: found, goto: tell}\n"
        "      - goto: goodbye\n"
        "  tell:\n"
        "    type: say\n"
        '    prompt: {zh-CN: "{amount}。", en-US: "{amount}."}\n'
        "    next: goodbye\n"
        "  goodbye:\n",
    )
    text = (tmp_path / "minimal.yaml").read_text(encoding="utf-8")
    (tmp_path / "minimal.yaml").write_text(text.replace("goto: goodbye}", "goto: check}", 1))
    flow = load_flow(tmp_path / "minimal.yaml")
    look = Signature("look", "action", "none")
    ensures = Signature("found", "guard", "none", ensures=frozenset({"amount"}))
    silent = Signature("found", "guard", "none")

    assert validate(flow, {"look": look, "found": ensures}) == []
    assert [shown(p) for p in validate(flow, {"look": look, "found": silent})] == [
        "states.tell.prompt.zh-CN: unknown value {amount}: no action provides it",
        "states.tell.prompt.en-US: unknown value {amount}: no action provides it",
    ]


def test_an_entry_value_may_be_spoken_back_unless_secret(tmp_path: Path) -> None:
    entry = (
        "  ask_phone:\n"
        "    type: entry\n"
        '    prompt: {zh-CN: 请输入。, en-US: "Enter it. Last time: {phone_number}."}\n'
        "    gather: {min_digits: 11, max_digits: 11}\n"
        "    save_as: phone_number\n"
        "    next: goodbye\n"
        "  goodbye:\n"
    )
    spoken = minimal_with(tmp_path, "  goodbye:\n", entry)
    secret = minimal_with(
        tmp_path, "  goodbye:\n", entry.replace("    next:", "    secret: true\n    next:")
    )

    assert "unknown value {phone_number}" not in " ".join(shown(p) for p in validate(spoken, {}))
    assert "states.ask_phone.prompt.en-US: unknown value {phone_number}: no action provides it" in [
        shown(p) for p in validate(secret, {})
    ]


def test_the_back_key_is_free_in_a_menu_without_back(tmp_path: Path) -> None:
    flow = minimal_with(tmp_path, 'key: "1"', 'key: "*"')

    assert validate(flow, {}) == []


def test_a_guard_may_not_be_used_as_an_action(tmp_path: Path) -> None:
    flow = minimal_with(tmp_path, "    options:\n", "    do: verified\n    options:\n")

    (problem,) = validate(flow, hotline.signatures())
    assert problem.path == "states.main_menu.do"
    assert problem.message.startswith(
        "unknown action 'verified'; known actions: book_callback, cancel_callback, count, "
    )
    assert "verified" not in problem.message.split("known actions: ")[1].split(", ")


def test_an_action_that_sends_a_message_needs_it_written_in_the_flow(tmp_path: Path) -> None:
    flow = minimal_with(tmp_path, "    options:\n", "    do: send_reset_sms\n    options:\n")
    signatures = hotline.signatures()

    assert signatures["send_reset_sms"].sends == frozenset({"reset_sms"})
    assert [shown(p) for p in validate(flow, signatures)] == [
        "states.main_menu.do: action 'send_reset_sms' sends messages.reset_sms, "
        "which this flow does not write"
    ]


# -- a flow that answers calls --------------------------------------------------------------------


def test_a_flow_that_answers_calls_needs_its_apology_restart_and_connecting_line() -> None:
    assert [shown(p) for p in answering_problems(load_flow(MINIMAL))] == [
        "phrases.apology: missing: the flow that answers calls says it when anything goes wrong, "
        "before putting the caller through to an agent",
        "phrases.restart: missing: the flow that answers calls says it when it has lost track of "
        "a call, before starting over",
        "phrases.connecting: missing: the flow that answers calls says it to a caller as an agent "
        "takes them",
    ]


def test_the_shipped_hotline_can_answer_calls() -> None:
    assert answering_problems(load_flow(HOTLINE)) == []


def test_start_up_refuses_a_flow_without_its_apology_before_any_call(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = HOTLINE.read_text(encoding="utf-8")
    apology = next(line for line in text.splitlines() if line.startswith("  apology:"))
    (flows / "hotline.yaml").write_text(text.replace(apology + "\n", ""), encoding="utf-8")

    with pytest.raises(FlowValidationError) as raised:
        create_app(
            {
                "IVR_FLOWS_DIR": str(flows),
                "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
                "IVR_LOG_LEVEL": "WARNING",
            },
            environ={},
        )

    assert raised.value.problems == [
        Problem(
            str(flows / "hotline.yaml"),
            "phrases.apology",
            "missing: the flow that answers calls says it when anything goes wrong, "
            "before putting the caller through to an agent",
        )
    ]
    assert not (tmp_path / "ivr.sqlite3").exists()  # refused before the database is touched
