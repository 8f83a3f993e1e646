"""The replay report: call scripts run one after another, each call shown turn by turn.

Owns how a script's result reads on a terminal (IVR lines cyan, caller lines yellow, pass
green, fail red, or plain text with ``color=False``), the readable diff of what a failed step
expected against what the caller heard, flow coverage (which states and transitions the
scripts reached) and ``replay``, the loop the ``ivr replay`` command and the test suite use.

Depends on ``ivr.testing.scripts``, ``ivr.testing.simulator`` and ``ivr.voice.languages``
(whether a Say is in the script's language); click only for ``click.style``. It must not
import Flask or the engine: the engine hands over each flow's shape as a ``FlowShape``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TextIO

import click

from ivr.errors import ScriptError
from ivr.testing.scripts import EffectCheck
from ivr.testing.scripts import Failure
from ivr.testing.scripts import Script
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import describe_outcome
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script
from ivr.testing.scripts import run_script
from ivr.testing.scripts import squash
from ivr.testing.simulator import CallResult
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import Turn
from ivr.voice.languages import same_language

IVR_COLOUR = "cyan"
CALLER_COLOUR = "yellow"
PASS_COLOUR = "green"
FAIL_COLOUR = "red"
INDENT = "    "


@dataclass(frozen=True)
class ScriptLoadFailure:
    """A script file that could not be loaded: it counts as a failed script."""

    path: str
    error: ScriptError

    @property
    def passed(self) -> bool:
        return False


@dataclass(frozen=True)
class ScriptSkipped:
    """A script not run, and why: it needs what this replay cannot check (lasting effects
    against a remote server). Neither passed nor failed."""

    path: str
    name: str
    reason: str

    @property
    def passed(self) -> bool:
        return False


Reported = ScriptResult | ScriptLoadFailure | ScriptSkipped


# ---------------------------------------------------------------------------------------------
# One result


def format_result(result: Reported, *, color: bool) -> str:
    """A script's result: a PASS/FAIL headline, the call turn by turn, and on failure why."""
    if isinstance(result, ScriptSkipped):
        head = _paint("SKIP", None, color, bold=True)
        return f"{head}  {result.name}  ({result.path})\n{INDENT}skipped: {result.reason}"
    if isinstance(result, ScriptLoadFailure):
        head = _paint("FAIL", FAIL_COLOUR, color, bold=True)
        return f"{head}  {result.path}\n{INDENT}{_paint(str(result.error), FAIL_COLOUR, color)}"
    script = result.script
    badge = _paint("PASS", PASS_COLOUR, color, bold=True) if result.passed else None
    if badge is None:
        badge = _paint("FAIL", FAIL_COLOUR, color, bold=True)
    lines = [f"{badge}  {script.name}  ({script.path}, {script.lang})"]
    # Checks go between the turns, where they were made; other failures close the report.
    notes: dict[int, list[str]] = {}
    mark = _paint("✓", PASS_COLOUR, color)
    failure = result.failure
    placed = False
    for entry in result.log:
        if entry.passed:
            step = script.steps[entry.step_index].describe()
            notes.setdefault(entry.at_turn, []).append(f"{INDENT}  {mark} {step}")
        elif failure is not None and failure.step_index == entry.step_index:
            notes.setdefault(entry.at_turn, []).extend(format_failure(failure, color=color))
            placed = True
    shown_state: str | None = None
    for index, turn in enumerate(result.call.transcript):
        lines.extend(notes.get(index, []))
        if turn.speaker == "ivr" and turn.state is not None and turn.state != shown_state:
            lines.append(f"{INDENT}{_paint('· ' + turn.state, None, color, dim=True)}")
            shown_state = turn.state
        lines.append(format_turn(turn, default_lang=script.lang, color=color))
    lines.extend(notes.get(len(result.call.transcript), []))
    if result.outcome is not None:
        lines.append(f"{INDENT}outcome: {describe_outcome(result.outcome)}")
    if result.callback is not None:
        lines.extend(_called_back(result.callback, script.lang, color=color))
    if failure is not None and not placed:
        lines.extend(format_failure(failure, color=color))
    return "\n".join(lines)


def _called_back(call: CallResult, lang: str, *, color: bool) -> list[str]:
    """The call back a script describes (``callback:``), turn by turn, and how it ended."""
    lines = [f"{INDENT}{_paint('called back', None, color, bold=True)}"]
    shown_state: str | None = None
    for turn in call.transcript:
        if turn.speaker == "ivr" and turn.state is not None and turn.state != shown_state:
            lines.append(f"{INDENT}{_paint('· ' + turn.state, None, color, dim=True)}")
            shown_state = turn.state
        lines.append(format_turn(turn, default_lang=lang, color=color))
    if call.outcome is not None:
        lines.append(f"{INDENT}outcome: {describe_outcome(call.outcome)}")
    return lines


def format_turn(turn: Turn, *, default_lang: str = "", color: bool) -> str:
    """One line of the transcript; IVR and caller lines differ in label as well as colour.

    A Say in another language than ``default_lang`` (when given) shows its language; a
    prompt the caller interrupted ends in "✂ (cut off)".
    """
    if turn.speaker == "ivr":
        if turn.kind == "pause":
            text = f"(pause {turn.text}s)" if turn.text else "(pause)"
        elif turn.kind == "play":
            text = f"♪ {turn.text}"
        elif turn.kind == "beep":
            text = "(beep)"
        else:
            text = turn.text
        if turn.cut:  # the caller barged in: only the start of the prompt was heard
            text += " ✂ (cut off)"
        if turn.lang and default_lang and not same_language(turn.lang, default_lang):
            text = f"[{turn.lang}] {text}"
        label = _paint("IVR   ", IVR_COLOUR, color, bold=True)
        return f"{INDENT}{label} {_paint(text, IVR_COLOUR, color)}"
    if turn.kind == "press":
        text = f"presses {turn.text}"
    elif turn.kind == "speech":
        text = f"says “{turn.text}”"
    elif turn.kind == "silence":
        text = "(silence)"
    elif turn.kind == "hangup":
        text = "(hangs up)"
    else:
        text = f"({turn.kind}{': ' + turn.text if turn.text else ''})"
    label = _paint("caller", CALLER_COLOUR, color, bold=True)
    return f"{INDENT}{label} {_paint(text, CALLER_COLOUR, color)}"


def format_failure(failure: Failure, *, color: bool) -> list[str]:
    """Why the script failed: the step, the message, then expected against heard."""
    where = f"step {failure.step_index + 1}" if failure.step_index is not None else "after the call"
    mark = _paint("✗", FAIL_COLOUR, color, bold=True)
    lines = [
        f"{INDENT}  {mark} {where}: {failure.step}",
        f"{INDENT}    {_paint(failure.message, FAIL_COLOUR, color)}",
    ]
    pad = INDENT + "    "
    if failure.mode in ("substring", "fuzzy"):
        score = f" ({failure.score:.2f})" if failure.score is not None else ""
        rows = [("expected", failure.expected)]
        if failure.closest:
            rows += [
                (f"closest{score}", failure.closest),
                ("diff", inline_diff(failure.expected, failure.closest, color=color)),
                ("", "([-…-] expected only, {+…+} heard only)"),
            ]
        else:
            rows.append(("closest", "(nothing alike)"))
        rows.append(("heard", squash(failure.heard) or "(nothing)"))
        width = max(len(label) for label, _ in rows) + 1
        for label, value in rows:
            lines.append(f"{pad}{(label + ':') if label else '':<{width}} {value}")
    elif failure.mode == "regex":
        lines.append(f"{pad}pattern: /{failure.expected}/")
        lines.append(f"{pad}heard:   {squash(failure.heard) or '(nothing)'}")
    elif failure.mode == "state":
        lines.append(f"{pad}expected state: {failure.expected}")
        lines.append(f"{pad}reported state: {failure.heard}")
    elif failure.heard and failure.mode in ("error", "ended"):
        lines.append(f"{pad}heard: {squash(failure.heard)}")
    return lines


_TOKEN_RE = re.compile(r"[A-Za-z0-9'’]+|\s+|.", re.DOTALL)


def inline_diff(expected: str, heard: str, *, color: bool) -> str:
    """``expected`` rewritten into ``heard``: ``[-gone-]`` expected only, ``{+new+}`` heard only.

    Latin text is compared word by word, Chinese character by character.
    """
    left = _TOKEN_RE.findall(squash(expected))
    right = _TOKEN_RE.findall(squash(heard))
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    parts = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append("".join(left[i1:i2]))
            continue
        if op in ("delete", "replace"):
            parts.append(_paint("[-" + "".join(left[i1:i2]) + "-]", FAIL_COLOUR, color))
        if op in ("insert", "replace"):
            parts.append(_paint("{+" + "".join(right[j1:j2]) + "+}", PASS_COLOUR, color))
    return "".join(parts)


def summary_line(results: Iterable[Reported]) -> str:
    """Exactly ``N passed, M failed`` (tools read this line), then ``, K skipped`` when some
    scripts were skipped."""
    ran = [result for result in results if not isinstance(result, ScriptSkipped)]
    skipped = sum(1 for result in results if isinstance(result, ScriptSkipped))
    passed = sum(result.passed for result in ran)
    line = f"{passed} passed, {len(ran) - passed} failed"
    return f"{line}, {skipped} skipped" if skipped else line


# ---------------------------------------------------------------------------------------------
# Coverage


@dataclass(frozen=True)
class FlowShape:
    """What a flow can do: its states and its (source, target) transitions; ``unreachable``
    ones (no caller can take them, ``ivr scripts generate`` says why) are counted apart, and
    so are the states only they lead to."""

    states: frozenset[str]
    transitions: frozenset[tuple[str, str]]
    unreachable: frozenset[tuple[str, str]] = frozenset()

    @property
    def reachable(self) -> frozenset[tuple[str, str]]:
        return self.transitions - self.unreachable

    @property
    def unreachable_states(self) -> frozenset[str]:
        """The states some transition leads to, but only unreachable ones."""
        led_to = {target for _, target in self.transitions}
        reached = {target for _, target in self.reachable}
        return frozenset((self.states & led_to) - reached)

    @property
    def reachable_states(self) -> frozenset[str]:
        return self.states - self.unreachable_states


@dataclass(frozen=True)
class FlowCoverage:
    flow: str
    shape: FlowShape
    visited_states: frozenset[str]
    visited_transitions: frozenset[tuple[str, str]]

    @property
    def state_pct(self) -> float:
        """Of the reachable states (those some reachable transition leads to, and the start)."""
        seen = self.visited_states & self.shape.reachable_states
        return _pct(len(seen), len(self.shape.reachable_states))

    @property
    def transition_pct(self) -> float:
        """Of the reachable transitions (all of them when none is known unreachable)."""
        taken = self.visited_transitions & self.shape.reachable
        return _pct(len(taken), len(self.shape.reachable))

    @property
    def missed_states(self) -> list[str]:
        return sorted(self.shape.reachable_states - self.visited_states)

    @property
    def missed_transitions(self) -> list[tuple[str, str]]:
        return sorted(self.shape.reachable - self.visited_transitions)


@dataclass(frozen=True)
class CoverageReport:
    """Coverage per flow, in the order of the shapes given."""

    flows: Mapping[str, FlowCoverage]

    def state_pct(self, flow: str) -> float:
        return self.flows[flow].state_pct

    def transition_pct(self, flow: str) -> float:
        return self.flows[flow].transition_pct


def coverage_report(
    results: Iterable[ScriptResult | CallResult], flows: Mapping[str, FlowShape]
) -> CoverageReport:
    """Which states and transitions of each flow the calls reached.

    A state counts when a document reported it (``CallResult.states``, with the flow in the
    parallel ``CallResult.flows``). A transition counts when two consecutive documents of one
    call, in the same flow, report its source then its target; two equal states in a row count
    as a self-transition only if the flow has one (a reprompt). Documents of no flow (the
    queue's hold music, its wait document) are passed over: a caller who leaves the queue
    from its wait document goes from the transfer state to the queue result's state.
    """
    states: dict[str, set[str]] = {name: set() for name in flows}
    transitions: dict[str, set[tuple[str, str]]] = {name: set() for name in flows}
    calls: list[CallResult] = []
    for result in results:
        if isinstance(result, ScriptResult):
            calls.append(result.call)
            if result.callback is not None:  # the call back is a call of its own
                calls.append(result.callback)
        else:
            calls.append(result)
    for call in calls:
        previous: tuple[str, str] | None = None
        for flow, state in zip(call.flows, call.states, strict=False):
            if not flow:  # the queue's wait document: between two states of the flow
                continue
            shape = flows.get(flow)
            if shape is not None and state in shape.states:
                states[flow].add(state)
                if previous is not None and previous[0] == flow:
                    pair = (previous[1], state)
                    if pair in shape.transitions:
                        transitions[flow].add(pair)
            previous = (flow, state)
    return CoverageReport(
        {
            name: FlowCoverage(name, shape, frozenset(states[name]), frozenset(transitions[name]))
            for name, shape in flows.items()
        }
    )


def format_coverage(report: CoverageReport, *, color: bool) -> str:
    """Per flow: states x/y (pct), transitions x/y (pct), then what was never reached."""
    lines = ["coverage:"]
    for name, flow in report.flows.items():
        complete = not flow.missed_states and not flow.missed_transitions
        colour = PASS_COLOUR if complete else FAIL_COLOUR
        seen = len(flow.visited_states & flow.shape.reachable_states)
        states = f"states {seen}/{len(flow.shape.reachable_states)} ({flow.state_pct:.1f}%)"
        taken = len(flow.visited_transitions & flow.shape.reachable)
        moves = f"transitions {taken}/{len(flow.shape.reachable)} ({flow.transition_pct:.1f}%)"
        if flow.shape.unreachable:
            moves += f", {len(flow.shape.unreachable)} unreachable counted apart"
        if flow.shape.unreachable_states:
            only = len(flow.shape.unreachable_states)
            moves += f" with the {only} state{'s' if only > 1 else ''} only they lead to"
        lines.append(f"  {_paint(name, colour, color, bold=True)}: {states}, {moves}")
        if flow.missed_states:
            lines.append(f"{INDENT}states never reached: {', '.join(flow.missed_states)}")
        if flow.missed_transitions:
            moves_missed = ", ".join(f"{a} → {b}" for a, b in flow.missed_transitions)
            lines.append(f"{INDENT}transitions never taken: {moves_missed}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The replay loop


#: Runs loaded scripts and yields their results in the same order, as they come: one after
#: another on simulators from one factory (``serially``), or in worker processes
#: (``ivr.testing.factories.ParallelRunner``).
ScriptRunner = Callable[[Sequence[Script]], Iterable[ScriptResult]]


def serially(
    simulator_factory: Callable[[], Simulator],
    checks: Mapping[str, EffectCheck] = MappingProxyType({}),
) -> ScriptRunner:
    """The runner that runs each script on a fresh simulator from ``simulator_factory``, in
    this process, one after another."""

    def run(scripts: Sequence[Script]) -> Iterator[ScriptResult]:
        for script in scripts:
            yield run_script(script, simulator_factory(), checks=checks)

    return run


def replay(
    paths: Iterable[Path],
    simulator_factory: Callable[[], Simulator],
    *,
    checks: Mapping[str, EffectCheck] = MappingProxyType({}),
    coverage_shapes: Mapping[str, FlowShape] | None = None,
    skip_effects: str | None = None,
    out: TextIO,
    color: bool,
    fail_under: float | None = None,
    runner: ScriptRunner | None = None,
) -> int:
    """Run every script under ``paths``, each on a fresh simulator; 0 if none failed, else 1.

    Prints each result, the coverage report when shapes are given, and the summary line
    last. A script that fails to load counts as failed. Finding no script at all is a
    failure too: a mistyped folder must not pass. With ``skip_effects`` (the reason), scripts
    that check lasting ``effects`` are skipped with that reason instead of run. ``runner``
    runs the scripts that load and are not skipped (default: ``serially`` on
    ``simulator_factory`` with ``checks``); whatever runs them, results are printed in the
    order of the files, each as soon as it and those before it are done.
    """
    paths = list(paths)
    found = discover(paths)
    if not found:
        where = ", ".join(str(path) for path in paths) or "(no paths given)"
        out.write(_paint(f"no call scripts found in {where}", FAIL_COLOUR, color) + "\n")
    loaded: list[Reported | Script] = []
    for path in found:
        try:
            script = load_script(path)
        except ScriptError as exc:
            loaded.append(ScriptLoadFailure(str(path), exc))
            continue
        if skip_effects is not None and (script.effects or script.callback):
            names = sorted({effect.name for effect in script.effects})
            names += ["a call back (the dialer)"] if script.callback else []
            why = f"checks {', '.join(names)}: {skip_effects}"
            loaded.append(ScriptSkipped(str(path), script.name, why))
        else:
            loaded.append(script)
    run = runner if runner is not None else serially(simulator_factory, checks)
    ran = iter(run([item for item in loaded if isinstance(item, Script)]))
    results: list[Reported] = []
    for item in loaded:
        result = next(ran) if isinstance(item, Script) else item
        results.append(result)
        out.write(format_result(result, color=color) + "\n\n")
    low: list[str] = []
    if coverage_shapes is not None:
        done = [result for result in results if isinstance(result, ScriptResult)]
        report = coverage_report(done, coverage_shapes)
        out.write(format_coverage(report, color=color) + "\n\n")
        if fail_under is not None:
            low = [n for n, f in report.flows.items() if f.transition_pct < fail_under]
    out.write(summary_line(results) + "\n")
    for name in low:
        line = f"transition coverage of {name!r} is under {fail_under:g}% (--fail-under)"
        out.write(_paint(line, FAIL_COLOUR, color) + "\n")
    failed = any(not r.passed for r in results if not isinstance(r, ScriptSkipped))
    return 0 if found and not low and not failed else 1


def read_unreachable(paths: Iterable[Path]) -> dict[str, frozenset[tuple[str, str]]]:
    """Per flow, the transitions ``unreachable.json`` files under ``paths`` list (written by
    ``ivr scripts generate``)."""
    out: dict[str, set[tuple[str, str]]] = {}
    for path in paths:
        for found in sorted(Path(path).rglob("unreachable.json")) if Path(path).is_dir() else []:
            for row in json.loads(found.read_text(encoding="utf-8")):
                out.setdefault(row["flow"], set()).add((row["source"], row["target"]))
    return {flow: frozenset(pairs) for flow, pairs in out.items()}


def _pct(part: int, whole: int) -> float:
    return 100.0 if whole == 0 else 100.0 * part / whole


def _paint(
    text: str, colour: str | None, color: bool, *, bold: bool = False, dim: bool = False
) -> str:
    if not color:
        return text
    return click.style(text, fg=colour, bold=bold or None, dim=dim or None)
