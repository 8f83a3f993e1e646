"""A folder of flows loaded at once (``ivr.engine.catalog``), and the machines the engine compiles.

Covers what start-up and ``ivr check`` rely on: every problem of every file reported together,
each naming its file; empty and missing folders; flow names used twice; the shipped ``flows/``
loading cleanly into a machine with the events the engine sends.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.engine.catalog import check_flows
from ivr.engine.catalog import load_flows
from ivr.engine.compile import CompiledFlow
from ivr.errors import FlowValidationError
from ivr.errors import Problem
from ivr.flow.names import INCOMING
from ivr.hotline.actions import hotline

HERE = Path(__file__).parent
ROOT = HERE.parent
MINIMAL = HERE / "flows" / "valid" / "minimal.yaml"
SEVERAL = HERE / "flows" / "invalid" / "several_problems.yaml"


@pytest.fixture(scope="module")
def shipped() -> dict[str, CompiledFlow]:
    return load_flows(ROOT / "flows", hotline)


def events_of(compiled: CompiledFlow, state_id: str) -> dict[str, list[str]]:
    """Each event of a state and the targets of its transitions, in order."""
    (state,) = [s for s in compiled.machine.states if s.id == state_id]
    out: dict[str, list[str]] = {}
    for transition in state.transitions:
        out.setdefault(transition.event, []).append(transition.target.id)
    return out


# -- folders ---------------------------------------------------------------------------------


def test_load_flows_lists_every_problem_of_a_file_each_naming_it(tmp_path: Path) -> None:
    copy = tmp_path / SEVERAL.name
    shutil.copyfile(SEVERAL, copy)

    with pytest.raises(FlowValidationError) as caught:
        load_flows(tmp_path, hotline)

    problems = caught.value.problems
    assert [p.file for p in problems] == [str(copy)] * 4
    assert [p.path for p in problems] == [
        "states.main_menu.do",
        "states.main_menu.options[1].goto",
        "states.main_menu.options[1].key",
        "states.goodbye.prompt",
    ]
    assert problems[3].message == "no text in en-US"
    message = str(caught.value)
    assert message.startswith("4 problem(s) in flows:\n")
    assert [p.line for p in problems] == [30, 29, 29, 33]
    assert message.count(f"\n  {copy}:") == 4
    assert f"\n  {copy}:29: states.main_menu.options[1].goto: unknown state 'agnet'" in message


def test_problems_of_every_file_are_reported_and_valid_flows_still_compile(tmp_path: Path) -> None:
    shutil.copyfile(MINIMAL, tmp_path / "minimal.yaml")
    shutil.copyfile(SEVERAL, tmp_path / "several_problems.yaml")
    (tmp_path / "broken.yml").write_text("start: [\n", encoding="utf-8")

    compiled, problems = check_flows(tmp_path, hotline)

    assert list(compiled) == ["minimal"]
    assert [Path(p.file).name for p in problems] == ["broken.yml"] + ["several_problems.yaml"] * 4


def test_a_folder_without_flows_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no flows yet\n", encoding="utf-8")

    compiled, problems = check_flows(tmp_path, hotline)

    assert compiled == {}
    assert problems == [Problem(str(tmp_path), "", "no flow files (*.yaml) here")]
    with pytest.raises(FlowValidationError):
        load_flows(tmp_path, hotline)


def test_a_missing_folder_says_which_setting_to_fix(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"

    assert check_flows(folder, hotline) == (
        {},
        [Problem(str(folder), "", "no such folder (set IVR_FLOWS_DIR to your flows folder)")],
    )


def test_two_files_with_the_same_flow_name_are_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    shutil.copyfile(MINIMAL, first)
    shutil.copyfile(MINIMAL, second)

    compiled, problems = check_flows(tmp_path, hotline)

    assert list(compiled) == ["minimal"]
    assert compiled["minimal"].flow.file == str(first)
    assert problems == [
        Problem(str(second), "flow", f"flow name 'minimal' is already used by {first}")
    ]


def test_a_name_used_twice_is_reported_even_when_the_first_file_is_invalid(tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    (tmp_path / "a.yaml").write_text(text.replace("goto: goodbye}", "goto: nowhere}"), "utf-8")
    shutil.copyfile(MINIMAL, tmp_path / "b.yaml")

    compiled, problems = check_flows(tmp_path, hotline)

    assert compiled == {}
    assert [(Path(p.file).name, p.path) for p in problems] == [
        ("a.yaml", "states.main_menu.options[0].goto"),
        ("b.yaml", "flow"),
    ]


# -- the shipped flows ------------------------------------------------------------------------


def test_shipped_flows_load_with_no_problems() -> None:
    compiled, problems = check_flows(ROOT / "flows", hotline)

    assert problems == []
    assert list(compiled) == ["callback", "hotline"]


def test_shipped_hotline_compiles_every_state(shipped: dict[str, CompiledFlow]) -> None:
    compiled = shipped["hotline"]
    machine_states = {s.id for s in compiled.machine.states}

    assert machine_states == set(compiled.flow.states) | {INCOMING}
    assert compiled.flow.agent_state in machine_states


def test_menu_with_back_has_an_event_per_option_and_per_convention(
    shipped: dict[str, CompiledFlow],
) -> None:
    events = events_of(shipped["hotline"], "solved")

    assert events == {
        "key_1": ["survey"],
        "key_2": ["agent"],
        "agent_key": ["agent"],
        "repeat_key": ["solved"],
        "back_key": ["main_menu"],
        "no_input": ["solved", "agent"],  # reprompt while attempts are left, then an agent
        "no_match": ["solved", "agent"],
    }


def test_menu_without_back_has_no_back_event(shipped: dict[str, CompiledFlow]) -> None:
    events = events_of(shipped["hotline"], "main_menu")

    assert sorted(events) == sorted(
        [f"key_{n}" for n in range(1, 9)] + ["agent_key", "repeat_key", "no_input", "no_match"]
    )
    assert events["key_5"] == ["stolen"]


def test_a_recording_is_either_recorded_or_silent(shipped: dict[str, CompiledFlow]) -> None:
    # Twilio's <Record> sends no key and no words: no agent, repeat or invalid-input events.
    events = events_of(shipped["hotline"], "record_complaint")

    assert events == {
        "recorded": ["complaint_filed"],
        "no_input": ["record_complaint", "agent"],
    }


def test_menu_on_no_input_replaces_the_reprompt(shipped: dict[str, CompiledFlow]) -> None:
    events = events_of(shipped["hotline"], "welcome")

    assert events["no_input"] == ["identify"]
    assert events["no_match"] == ["welcome", "agent"]


def test_route_state_leaves_by_next_in_route_order(shipped: dict[str, CompiledFlow]) -> None:
    assert events_of(shipped["hotline"], "check_pin") == {
        "next": ["welcome_back", "pin_unchecked", "pin_locked", "wrong_pin", "pin_locked"]
    }


def test_shape_of_the_minimal_flow_is_exactly_its_states_and_transitions(tmp_path: Path) -> None:
    shutil.copyfile(MINIMAL, tmp_path / "minimal.yaml")
    compiled = load_flows(tmp_path, hotline)["minimal"]

    states, transitions = compiled.shape()

    assert states == frozenset({"main_menu", "goodbye", "agent"})
    assert transitions == frozenset(
        {("main_menu", "goodbye"), ("main_menu", "agent"), ("main_menu", "main_menu")}
    )


def test_shape_of_the_hotline_lists_its_states_and_transitions(
    shipped: dict[str, CompiledFlow],
) -> None:
    compiled = shipped["hotline"]

    states, transitions = compiled.shape()

    assert states == frozenset(compiled.flow.states)
    assert {
        ("identify", "ask_pin"),
        ("identify", "ask_phone"),
        ("solved", "agent"),
        ("solved", "main_menu"),
        ("stolen", "security_priority"),
        ("record_complaint", "complaint_filed"),
    } <= transitions
    assert all(INCOMING not in pair for pair in transitions)
    finals = {sid for sid, state in compiled.flow.states.items() if state.is_final}
    assert finals == {"agent", "security", "security_priority", "goodbye", "closed_goodbye"}
    # the agent queue hands calls back through queue_results: only hanging up ends the flow
    assert {
        ("agent", "survey"),
        ("agent", "line_closed"),
        ("security", "callback_soon"),
    } <= transitions
    assert {source for source, _ in transitions} == states - {"goodbye", "closed_goodbye"}
    assert {target for _, target in transitions} <= states


def test_loading_and_checking_flows_never_imports_flask() -> None:
    code = "import sys, ivr.engine.catalog, ivr.hotline.actions; print('flask' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout == "False\n"
