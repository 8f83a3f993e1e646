"""Taking one event in a compiled flow: the guard that holds, its actions, the target's entry.

Owns ``Transitions``, a table made once per compiled flow from the same definition dict that
python-statemachine builds the flow's class from. The engine takes events through this table
instead of an instance of that class: the flows are flat (no compound, parallel or history
states, no exit, before or after callbacks), and for such machines the library's ``send``
does what ``Transitions.take`` does, at several times the CPU (an event queue, a processing
loop, configuration sets and a signature adapter per callback). The library's class stays the
flow's structural check, its diagram and its shape; ``tests/test_transitions.py`` runs the
two side by side. Depends only on the definition dict's layout; never runs a call itself.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Callback = Callable[..., Any]


@dataclass(frozen=True)
class Transition:
    """One transition of an event out of a state, in the order the flow declares them."""

    event: str
    target: str
    cond: tuple[Callback, ...]  # all must hold, in order (the library's ``cond`` list)
    on: tuple[Callback, ...]  # the transition's actions
    enters: bool  # whether the target's entry actions run (see ``_enters``)


class Transitions:
    """The flow's transitions by (state, event), and each state's entry actions."""

    def __init__(
        self,
        moves: Mapping[tuple[str, str], tuple[Transition, ...]],
        entries: Mapping[str, tuple[Callback, ...]],
    ) -> None:
        self._moves = dict(moves)
        self._entries = dict(entries)

    @classmethod
    def from_definition(
        cls, states: Mapping[str, Mapping[str, Any]], *, self_transition_entries: bool
    ) -> Transitions:
        """The table of a definition dict as ``create_machine_class_from_definition`` takes
        it. ``self_transition_entries`` is the machine class's
        ``enable_self_transition_entries`` (True for a ``StateChart``: even an internal
        self-transition runs the state's entry actions again)."""
        moves: dict[tuple[str, str], tuple[Transition, ...]] = {}
        entries: dict[str, tuple[Callback, ...]] = {}
        for source, state in states.items():
            entries[source] = tuple(_callbacks(state.get("enter")))
            for event, declared in (state.get("on") or {}).items():
                moves[(source, event)] = tuple(
                    Transition(
                        event,
                        t["target"],
                        tuple(_callbacks(t.get("cond"))),
                        tuple(_callbacks(t.get("on"))),
                        _enters(source, t, self_transition_entries),
                    )
                    for t in declared
                )
        return cls(moves, entries)

    def of(self, state: str, event: str) -> tuple[Transition, ...]:
        """The transitions ``event`` may take out of ``state`` (none: the event is ignored)."""
        return self._moves.get((state, event), ())

    def entries(self, state: str) -> tuple[Callback, ...]:
        """The actions that run when ``state`` is entered."""
        return self._entries.get(state, ())

    def events(self, state: str) -> frozenset[str]:
        """The events ``state`` has a transition for."""
        return frozenset(e for (s, e) in self._moves if s == state)

    def take(self, state: str, event: str, call: object) -> str:
        """Take ``event`` in ``state`` and return the state it leads to: the first transition
        whose guards all hold runs its actions, then the target's entry actions, each called
        with ``call``. With no such transition nothing runs and ``state`` is returned, as the
        library's ``allow_event_without_transition`` does. An exception propagates (the
        caller keeps its state), as with ``catch_errors_as_events=False``."""
        for t in self._moves.get((state, event), ()):
            if not all(c(call) for c in t.cond):
                continue
            for action in t.on:
                action(call)
            if t.enters:
                for action in self._entries[t.target]:
                    action(call)
            return t.target
        return state


def _callbacks(value: object) -> list[Callback]:
    """The definition's callback value: absent, one callable or a list of them."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if callable(value):
        return [value]
    raise TypeError(f"a compiled flow's callbacks must be callables, not {value!r}")


def _enters(source: str, transition: Mapping[str, Any], self_transition_entries: bool) -> bool:
    """Whether a transition enters its target: always, except an internal self-transition
    of a machine without ``enable_self_transition_entries`` (the library's
    ``_enters_target`` for flat states)."""
    internal = bool(transition.get("internal"))
    return self_transition_entries or not internal or transition["target"] != source
