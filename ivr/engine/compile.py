"""Compiling a flow, once, into a python-statemachine class (see ``ivr.flow.names`` for its events).

Owns the translation of flow states into the library's definition dict: options, routes with
their guards and actions, the agent/repeat/back keys, counted retries, queue results. The
library's structural checks become ``FlowValidationError`` problems naming the file. Each
compiled flow carries its version (``flow.version``), and each action and guard its registered
name, so the library's diagrams and errors show it. Depends on
``flow`` and ``registry``; never runs a call (that is ``step``).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import cast

from statemachine.exceptions import InvalidDefinition
from statemachine.io import create_machine_class_from_definition

from ivr.engine.context import CallContext
from ivr.engine.registry import Registry
from ivr.engine.understand import Understanding
from ivr.engine.understand import rules_only
from ivr.errors import FlowValidationError
from ivr.errors import Problem
from ivr.flow.names import INCOMING
from ivr.flow.names import key_event
from ivr.flow.spec import Call
from ivr.flow.spec import Flow
from ivr.flow.spec import Option
from ivr.flow.spec import Route
from ivr.flow.spec import State
from ivr.flow.version import flow_version

Callback = Callable[..., Any]


@dataclass(frozen=True)
class CompiledFlow:
    flow: Flow
    machine: type[Any]
    registry: Registry
    version: str = ""  # ``flow.version.flow_version``: the hash of the flow's file
    understanding: Understanding | None = None  # speech in menus; None: the rules (see below)
    _local: threading.local = field(default_factory=threading.local, compare=False, repr=False)

    def instance(self, state: str) -> tuple[Any, _Model]:
        """This thread's machine, resumed at ``state``. Building an instance registers every
        callback (about 9 ms for the hotline), so each thread keeps one for every call and
        only moves its model; the machine reads the current state from the model on every
        event. A machine whose last call reached a final state is started again here rather
        than rebuilt (``_restart``)."""
        local = self._local
        machine = getattr(local, "machine", None)
        if machine is None or not _restart(machine):
            local.model = _Model(state)
            local.machine = machine = self.machine(model=local.model)
            local.built = getattr(local, "built", 0) + 1
        local.model.state = state
        return machine, local.model

    def instances_built(self) -> int:
        """How many machines this thread has built for this flow (tests and benchmarks)."""
        built: int = getattr(self._local, "built", 0)
        return built

    @property
    def speech(self) -> Understanding:
        """How the flow's menus understand speech (``catalog.load_flows`` may train models)."""
        return self.understanding or rules_only(self.flow)

    def discard_instance(self) -> None:
        """Forget this thread's machine (after an error left it in an unknown condition)."""
        self._local.machine = None

    def shape(self) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
        """The flow's states and (source, target) transitions, for coverage reports."""
        states = frozenset(s for s in self.flow.states)
        transitions = frozenset(
            (t.source.id, t.target.id)
            for state in self.machine.states
            if state.id != INCOMING
            for t in state.transitions
            if t.target is not None
        )
        return states, transitions


# -- compiling ----------------------------------------------------------------------------------


def compile_flow(flow: Flow, registry: Registry) -> CompiledFlow:
    """Build the flow's state-machine class once. The library's own structural checks
    (unreachable states, trap states) become problems naming the file."""
    builder = _Builder(flow, registry)
    definition = {sid: builder.state(state) for sid, state in flow.states.items()}
    definition[INCOMING] = {
        "initial": True,
        "on": {"answer": [{"target": flow.start}]},
    }
    try:
        machine = create_machine_class_from_definition(
            f"{flow.name.title().replace('_', '')}Flow",
            states=cast(Any, copy.copy(definition)),  # the library mutates what it is given
            allow_event_without_transition=True,
            catch_errors_as_events=False,
        )
    except InvalidDefinition as exc:
        raise FlowValidationError([Problem(flow.file, "states", str(exc))]) from exc
    return CompiledFlow(flow, machine, registry, flow_version(flow))


class _Builder:
    """Translates one flow's states into python-statemachine's definition dict."""

    def __init__(self, flow: Flow, registry: Registry) -> None:
        self.flow = flow
        self.registry = registry

    def actions(self, calls: Iterable[Call]) -> list[Callback]:
        out: list[Callback] = []
        for c in calls:
            entry, arg = self.registry[c.name], c.arg

            def run(call: CallContext, _entry: Any = entry, _arg: object = arg) -> None:
                _entry(call, _arg)

            out.append(_named(run, c))
        return out

    def guard(self, c: Call) -> Callback:
        entry, arg = self.registry[c.name], c.arg

        def check(call: CallContext) -> bool:
            return bool(entry(call, arg))

        return _named(check, c)

    def route(self, route: Route) -> dict[str, Any]:
        on = self.actions(route.do)
        if route.reason is not None:
            on.append(_set_reason(route.reason))
        t: dict[str, Any] = {"target": route.goto, "on": on}
        if route.when is not None:
            t["cond"] = self.guard(route.when)
        return t

    def option(self, option: Option) -> dict[str, Any]:
        on: list[Callback] = []
        if option.issue is not None:
            on.append(_set_issue(option.issue))
        on.extend(self.actions(option.do))
        return {"target": option.goto, "on": on}

    def state(self, state: State) -> dict[str, Any]:
        on: dict[str, list[dict[str, Any]]] = {}
        if state.type == "menu":
            for option in state.options:
                on[key_event(option.key)] = [self.option(option)]
        if state.type in {"entry", "say", "route", "record"}:
            event = {"entry": "entered", "record": "recorded"}.get(state.type, "next")
            on[event] = [self.route(r) for r in state.next]
        if state.waits_for_input:
            on.update(self.answers(state))
        final = state.is_final
        if state.type == "transfer" and self.flow.queue_results:
            # The agent queue hands the call back: after hours, after the agent, for a callback.
            final = False
            for result, target in self.flow.queue_results.items():
                on[f"queue_{result}"] = [{"target": target}]
        definition: dict[str, Any] = {"final": final, "enter": self.actions(state.do)}
        if on:
            definition["on"] = on
        return definition

    def answers(self, state: State) -> dict[str, list[dict[str, Any]]]:
        """The events of a state that waits for the caller: the convention keys, silence and
        an invalid answer (a reprompt while retries are left, then an agent)."""
        on: dict[str, list[dict[str, Any]]] = {}
        agent = self.flow.agent_state
        # A recording reads no key (Twilio's <Record> ends on its finish key and sends none)
        # and no words: it is either recorded or silent.
        reads_keys = state.type != "record"
        if reads_keys:
            on["agent_key"] = [{"target": agent, "on": [_set_reason("caller asked for an agent")]}]
            on["repeat_key"] = [{"target": state.id, "internal": True}]
        if state.back is not None:
            on["back_key"] = [{"target": state.back}]
        retry = self.flow.retry_for(state)
        failures = [("no_input", "no input")]
        if reads_keys:
            failures.append(("no_match", "invalid input"))
        for event, what in failures:
            if event == "no_input" and state.on_no_input is not None:
                on[event] = [self.route(state.on_no_input)]
                continue
            on[event] = [
                {
                    "target": state.id,
                    "internal": True,
                    "cond": _retries_left(state.id, retry.attempts),
                    "on": [_bump(state.id)],
                },
                {
                    "target": agent,
                    "on": [_bump(state.id), _set_reason(f"{what} x{retry.attempts} at {state.id}")],
                },
            ]
        return on


def call_label(c: Call) -> str:
    """How a diagram names a call: ``verify_pin``, ``count(lookup_failures)``,
    ``count_below(wrong_pins: 3)``."""
    if c.arg is None:
        return c.name
    if isinstance(c.arg, dict):
        shown = ", ".join(f"{k}: {v}" for k, v in c.arg.items())
    else:
        shown = str(c.arg)
    return f"{c.name}({shown})"


def _named(fn: Callback, c: Call) -> Callback:
    """Give the wrapper its registered name (and argument): python-statemachine names
    callbacks by ``__name__``, so its own diagrams and error messages show ``verify_pin``
    rather than ``run``."""
    fn.__name__ = fn.__qualname__ = call_label(c)
    return fn


def _set_reason(reason: str) -> Callback:
    def set_reason(call: CallContext) -> None:
        call.reason = reason

    return set_reason


def _set_issue(issue: str) -> Callback:
    def set_issue(call: CallContext) -> None:
        call.issue = issue
        call.tried(issue)
        call.services.recorder.update(call.call_sid, issue=issue)  # ``ivr report`` per issue

    return set_issue


def _retries_left(state_id: str, attempts: int) -> Callback:
    def retries_left(call: CallContext) -> bool:
        return call.count(f"retry:{state_id}") + 1 < attempts

    return retries_left


def _bump(state_id: str) -> Callback:
    def bump(call: CallContext) -> None:
        call.bump(f"retry:{state_id}")

    return bump


def _restart(machine: Any) -> bool:
    """Make a machine that reached a final state take events again; False if it cannot be
    (then it is rebuilt). python-statemachine stops a machine's engine at a final state
    (``running`` False) and keeps nothing else of it: with the state on our model and the
    event queues empty, setting ``running`` again is all a new instance would differ in."""
    engine = getattr(machine, "_engine", None)
    if engine is None:
        return False
    if engine.running:
        return True
    if not (engine.external_queue.is_empty() and engine.internal_queue.is_empty()):
        return False
    engine.running = True
    return True


class _Model:
    """The object python-statemachine reads and writes the current state on."""

    def __init__(self, state: str) -> None:
        self.state = state
