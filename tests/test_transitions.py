"""The transition table a step runs (``ivr.engine.transitions``), held to python-statemachine.

The engine takes events through ``Transitions`` instead of an instance of the library's class
built from the same definition. These tests run both side by side on a small machine with every
kind of transition the compiler writes, and check that every shipped flow's table holds exactly
the callbacks the library registered (and that no by-name convention callback would run).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from statemachine import StateChart
from statemachine.io import create_machine_class_from_definition

from ivr.engine.catalog import load_flows
from ivr.engine.compile import CompiledFlow
from ivr.engine.transitions import Transitions
from ivr.hotline.actions import hotline

ROOT = Path(__file__).parent.parent

Log = list[tuple[str, object]]


def _definition(log: Log, holds: dict[str, bool]) -> dict[str, Any]:
    """A flat machine with what ``compile`` writes: entry actions, guarded alternatives,
    internal and external self-transitions, several guards on one transition, a final state."""

    def act(name: str) -> Callable[[object], None]:
        def action(call: object) -> None:
            log.append((name, call))

        return action

    def guard(name: str) -> Callable[[object], bool]:
        def check(call: object) -> bool:
            log.append((f"guard {name}", call))
            return holds[name]

        return check

    return {
        "start": {"initial": True, "on": {"answer": [{"target": "menu"}]}},
        "menu": {
            "enter": [act("enter menu 1"), act("enter menu 2")],
            "on": {
                "repeat_key": [{"target": "menu", "internal": True}],
                "again": [{"target": "menu", "on": [act("on again")]}],
                "no_match": [
                    {
                        "target": "menu",
                        "internal": True,
                        "cond": guard("left"),
                        "on": [act("bump")],
                    },
                    {"target": "agent", "on": [act("bump"), act("reason")]},
                ],
                "key_1": [
                    {"target": "done", "cond": [guard("a"), guard("b")], "on": act("one")},
                    {"target": "menu", "on": [act("fallback")]},
                ],
                "key_2": [{"target": "say", "on": [act("two")]}],
            },
        },
        "say": {"enter": act("enter say"), "on": {"next": [{"target": "done"}]}},
        "agent": {"enter": [act("enter agent")], "final": True},
        "done": {"enter": [act("enter done")], "final": True},
    }


EVENTS = [
    "answer",
    "repeat_key",
    "again",
    "no_match",
    "no_match",
    "unknown",
    "key_1",
    "key_2",
    "next",
    "key_1",  # in a final state: ignored
]


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("a", [True, False])
@pytest.mark.parametrize("b", [True, False])
def test_the_table_takes_every_event_as_the_librarys_statechart_does(
    left: bool, a: bool, b: bool
) -> None:
    holds = {"left": left, "a": a, "b": b}
    by_library: Log = []
    by_table: Log = []
    machine_class = create_machine_class_from_definition(
        "Small",
        states=copy.deepcopy(_definition(by_library, holds)),
        allow_event_without_transition=True,
        catch_errors_as_events=False,
    )
    machine = machine_class()
    table = Transitions.from_definition(
        _definition(by_table, holds),
        self_transition_entries=StateChart.enable_self_transition_entries,
    )
    state = "start"
    library_states, table_states = [], []
    for i, event in enumerate(EVENTS):
        if not machine.is_terminated:
            machine.send(event, call=i)
        library_states.append(machine.current_state_value)
        state = table.take(state, event, i)
        table_states.append(state)

    assert by_table == by_library
    assert table_states == library_states
    assert ("enter menu 1", 1) in by_table  # an internal self-transition enters again


def test_an_internal_self_transition_does_not_enter_where_the_machine_says_so() -> None:
    log: Log = []
    table = Transitions.from_definition(
        _definition(log, {"left": True, "a": True, "b": True}), self_transition_entries=False
    )

    assert table.take("menu", "repeat_key", 0) == "menu"
    assert table.take("menu", "again", 1) == "menu"

    assert log == [("on again", 1), ("enter menu 1", 1), ("enter menu 2", 1)]


def test_an_action_that_raises_propagates_and_the_state_is_not_returned() -> None:
    def boom(call: object) -> None:
        raise RuntimeError("store down")

    table = Transitions.from_definition(
        {"a": {"on": {"go": [{"target": "b", "on": [boom]}]}}, "b": {}},
        self_transition_entries=True,
    )

    with pytest.raises(RuntimeError, match="store down"):
        table.take("a", "go", None)


def test_a_callback_that_is_not_callable_is_refused_when_the_table_is_made() -> None:
    with pytest.raises(TypeError, match="must be callables"):
        Transitions.from_definition({"a": {"enter": "on_enter_a"}}, self_transition_entries=True)


@pytest.fixture(scope="module")
def shipped() -> dict[str, CompiledFlow]:
    return load_flows(ROOT / "flows", hotline)


def _explicit(specs: Any, machine: type[Any]) -> list[Any]:
    """The callables the library registered; a by-name convention callback
    (``on_enter_<state>``, ``before_<event>`` ...) must resolve to nothing on the class."""
    out = []
    for spec in specs:
        if spec.is_convention:
            assert not callable(getattr(machine, str(spec.func), None)), spec.func
        else:
            out.append(spec.func)
    return out


def test_every_shipped_flow_takes_the_transitions_and_callbacks_the_library_registered(
    shipped: dict[str, CompiledFlow],
) -> None:
    assert shipped
    for compiled in shipped.values():
        machine, table = compiled.machine, compiled.transitions
        for state in machine.states:
            assert table.entries(state.id) == tuple(_explicit(state.enter, machine))
            assert _explicit(state.exit, machine) == []
            library: dict[str, list[Any]] = {}
            for t in state.transitions:
                assert _explicit(t.before, machine) == []
                assert _explicit(t.after, machine) == []
                library.setdefault(t.event, []).append(
                    (t.target.id, _explicit(t.cond, machine), _explicit(t.on, machine))
                )
            assert table.events(state.id) == frozenset(library)
            for event, expected in library.items():
                taken = [(t.target, list(t.cond), list(t.on)) for t in table.of(state.id, event)]
                assert taken == expected, (compiled.flow.name, state.id, event)
