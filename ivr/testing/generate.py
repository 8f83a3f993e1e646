"""Generated call scripts: calls explored until every transition a caller can cause is taken.

Owns ``explore`` (calls placed on a fresh demo app, one per try, each a call script of caller
actions) and ``write_scripts`` (the tries that add coverage, as ordinary call scripts with
``expect`` steps from the prompts heard, for ``ivr replay``).

How the data is chosen: a guard is never solved symbolically; each try runs the real IVR on the
demo data, so a guard holds exactly when a demo caller's data satisfies it. Every demo caller is
tried, at an open hour and at a closed one (the clock decides opening hours), with every action
a caller has at each resting state: each option, the agent, repeat and back keys, an invalid
key, silence, the entries named in ``entries`` (demo phone numbers, the demo PIN and a wrong
one, ticket numbers), a recording finished with its key or silence, and in a queue an agent
answering, a hold long enough to be offered a callback, or a full queue (``queue-full``). A try
is kept (and explored further, up to ``MAX_ACTIONS`` caller actions) when it takes a
transition, or takes one a further time (up to ``REPEATS``), that no earlier try of the same
caller and hour did: the second and third wrong PIN are new that way.

What keeps it quick: an action whose call passes through no deciding state (a route, a guarded
way on, an entry, a queue) leads every caller the same way, so once one caller has tried it at a
resting state, the callers after it skip it there. Each try is still a whole call from the dial
on a freshly reset demo app.

A transition no try (and no hand-written script) takes is unreachable by a caller with the demo
data; ``unreachable`` gives the reason it can tell from the flow (a fallback after guards every
demo caller satisfies, a guard none does, a source state never reached).

Depends on ``ivr.testing.scripts`` (the script model and ``run_script``), the simulator and
``ivr.flow`` (the states, to choose actions and expectations). Imports no Flask: the app comes in
as a simulator factory, and the flow's transitions as (source, target) pairs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivr.flow import prompts
from ivr.flow.spec import Call
from ivr.flow.spec import Flow
from ivr.flow.spec import State
from ivr.testing.scripts import Agent
from ivr.testing.scripts import Hold
from ivr.testing.scripts import Press
from ivr.testing.scripts import Record
from ivr.testing.scripts import Script
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import Step
from ivr.testing.scripts import Wait
from ivr.testing.scripts import run_script
from ivr.testing.scripts import squash
from ivr.testing.simulator import Simulator
from ivr.voice.languages import language

# How many times one transition in one call still counts as new (retries, wrong PINs).
REPEATS = 3
# A guard against a flow whose exploration never settles.
MAX_TRIES = 20_000
# Caller actions in one call beyond which a try is not explored further.
MAX_ACTIONS = 14
# The caller's place in line that makes a queue offer a callback (beyond any max_size).
LONG_QUEUE = 999
Transition = tuple[str, str]


@dataclass(frozen=True)
class Caller:
    """Who calls, and when: a demo phone number and a time (None: the replay's clock)."""

    phone: str
    name: str
    at: datetime | None = None
    hour: str = "open"


@dataclass(frozen=True)
class Try:
    caller: Caller
    steps: tuple[Step, ...]
    result: ScriptResult
    taken: frozenset[Transition]


@dataclass(frozen=True)
class Exploration:
    flow: str
    transitions: frozenset[Transition]
    tries: tuple[Try, ...]  # every kept try, in the order found
    count: int  # calls placed

    @property
    def taken(self) -> frozenset[Transition]:
        return frozenset(t for kept in self.tries for t in kept.taken)

    @property
    def missed(self) -> list[Transition]:
        return sorted(self.transitions - self.taken)


def explore(
    flow: Flow,
    transitions: Iterable[Transition],
    simulators: Callable[[], Simulator],
    callers: Sequence[Caller],
    entries: Mapping[str, Sequence[str]],
    *,
    max_actions: int = MAX_ACTIONS,
) -> Exploration:
    """Place calls until no action of any caller takes a new transition.

    Callers are explored one after another, breadth first from the dial, each with its own
    record of what is new. What one caller learnt spares the next: an action at a resting
    state whose call passed through no deciding state (a route, a guarded way on, a queue)
    leads every caller the same way, so once any caller has tried it, later ones do not.
    Calls longer than ``max_actions`` caller actions are not explored further.
    """
    shape = frozenset(transitions)
    kept: list[Try] = []
    count = 0
    counters = frozenset(
        sid for sid, s in flow.states.items() if any(r.when is not None for r in s.next)
    )
    # What the caller keys in and the demo data guards read: beyond these, every caller alike.
    deciding = counters | {
        sid for sid, s in flow.states.items() if s.type in ("route", "transfer", "entry")
    }
    # (resting state, action) that leads every caller alike, and the caller who found it
    plain: dict[tuple[str, tuple[str, ...]], Caller] = {}
    for caller in callers:
        seen: set[tuple[tuple[str, str], int]] = set()
        frontier: list[tuple[tuple[Step, ...], str | None, int]] = [((), None, 0)]
        while frontier and count < MAX_TRIES:
            prefix, resting, before = frontier.pop(0)
            state = flow.states.get(resting) if resting is not None else None
            if prefix and state is None:
                continue
            actions = _actions(flow, state, entries) if state is not None else [()]
            for action in actions:
                memo = (resting or "", tuple(step.describe() for step in action))
                if plain.get(memo, caller) != caller:  # its own retries it tries again
                    continue
                steps = (*prefix, *action)
                count += 1
                result = _run(steps, simulators, caller, flow)
                if result is None:
                    continue
                if state is not None and not deciding & set(result.call.states[before:]):
                    plain.setdefault(memo, caller)
                features = _features(result, flow.name, shape, counters)
                if state is not None and state.type == "entry":  # other data, other guards
                    features.add(((state.id, action[0].describe()), 0))
                if not features - seen and steps:
                    continue
                seen |= features
                taken = frozenset(t for t, n in features if n > 0)
                kept.append(Try(caller, steps, result, taken))
                deep_enough = len(steps) >= max_actions
                if _was_live(result) and result.call.states and not deep_enough:
                    frontier.append((steps, result.call.states[-1], len(result.call.states)))
    return Exploration(flow.name, shape, tuple(kept), count)


def choose(exploration: Exploration, already: Iterable[Transition] = ()) -> list[Try]:
    """The fewest kept tries (greedily) that take every transition not ``already`` taken."""
    wanted = set(exploration.taken) - set(already)
    chosen: list[Try] = []
    pool = list(exploration.tries)
    while wanted:
        best = max(pool, key=lambda t: (len(t.taken & wanted), -len(t.steps)))
        gain = best.taken & wanted
        if not gain:
            break
        chosen.append(best)
        wanted -= gain
    return chosen


def unreachable(
    flow: Flow, exploration: Exploration, already: Iterable[Transition] = ()
) -> dict[Transition, str]:
    """Each transition neither a try nor the scripts that took ``already`` took, with the
    reason the flow shows."""
    taken = exploration.taken | frozenset(already)
    reached = {s for t in taken for s in t}
    out: dict[Transition, str] = {}
    for source, target in sorted(exploration.transitions - taken):
        if source not in reached and source != flow.start:
            out[(source, target)] = f"{source} is never reached by a caller"
        else:
            out[(source, target)] = _guard_reason(flow, source, target)
    return out


def _guard_reason(flow: Flow, source: str, target: str) -> str:
    state = flow.states.get(source)
    if state is not None:
        for route in state.next:
            if route.goto == target and route.when is not None:
                arg = "" if route.when.arg is None else f": {route.when.arg}"
                return (
                    f"guard {{{route.when.name}{arg}}} holds for no demo caller at any hour tried"
                )
            if route.goto == target:
                earlier = [_call_text(r.when) for r in state.next if r.when is not None]
                return (
                    "the fallback route: for every demo caller an earlier guard holds"
                    f" ({', '.join(earlier)})"
                )
    return "no demo caller reaches it with any action tried"


def _call_text(call: Call) -> str:
    return call.name if call.arg is None else f"{call.name}: {call.arg}"


# -- writing ------------------------------------------------------------------------------------


def script_text(flow: Flow, chosen: Try, name: str) -> str:
    """A call script for ``chosen``: each action, then an ``expect`` of a fixed prompt heard
    and the state the call rests in."""
    result = chosen.result
    lang = _language_of(result)
    heard = _heard_per_action(result)
    lines = [
        f"# Generated by `ivr scripts generate`; takes {_arrows(chosen.taken)}.",
        f"name: {_quote(name)}",
        f'from: "{chosen.caller.phone}"',
        f"lang: {lang}",
    ]
    if chosen.caller.at is not None:
        lines.append(f'at: "{chosen.caller.at.isoformat()}"')
    lines.append("steps:")
    states = _resting_states(chosen)
    for index, step in enumerate((None, *chosen.steps)):
        if step is not None:
            lines.append(f"  - {step.describe()}")
        said = heard[index] if index < len(heard) else ""
        state = states[index] if index < len(states) else None
        text = fixed_text_heard(flow, lang, said, state)
        if text is not None:
            lines.append(f"  - expect: {_quote(text)}")
        if state is not None and index == len(chosen.steps) and _was_live(result):
            lines.append(f"  - expect_state: {state}")
    outcome = result.outcome
    if outcome is not None:
        queue = f", queue: {outcome.queue}" if outcome.queue else ""
        lines.append(f"outcome: {{kind: {outcome.kind}{queue}}}")
    return "\n".join(lines) + "\n"


def write_scripts(
    flow: Flow, chosen: Sequence[Try], folder: Path, already: Iterable[Transition] = ()
) -> list[Path]:
    """Write each chosen try as ``<folder>/<flow>_<nn>_<first new transition>.yaml``, after
    removing the generated scripts of an earlier run (the files starting ``<flow>_``). A
    script is named after the transitions it is the first to take (beyond ``already``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{flow.name}_*.yaml"):
        old.unlink()
    written = []
    done = set(already)
    for number, kept in enumerate(chosen, start=1):
        gain = sorted(kept.taken - done) or sorted(kept.taken)
        done |= kept.taken
        first = gain[0]
        slug = re.sub(r"[^a-z0-9]+", "_", f"{first[0]} to {first[1]}".lower()).strip("_")
        path = folder / f"{flow.name}_{number:02d}_{slug}.yaml"
        title = f"{kept.caller.name} ({kept.caller.hour}): {_arrows(gain[:3])}"
        path.write_text(script_text(flow, kept, title), encoding="utf-8")
        written.append(path)
    return written


def unreachable_text(flow: str, reasons: Mapping[Transition, str]) -> str:
    """The unreachable transitions as JSON lines ``ivr replay --coverage`` reads."""
    import json  # noqa: PLC0415 - only the writer needs it

    rows = [
        {"flow": flow, "source": s, "target": t, "reason": reasons[(s, t)]}
        for s, t in sorted(reasons)
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


# -- exploring ----------------------------------------------------------------------------------


def _run(
    steps: tuple[Step, ...], simulators: Callable[[], Simulator], caller: Caller, flow: Flow
) -> ScriptResult | None:
    script = Script(
        "(exploring)", caller.name, caller.phone, flow.default_language, steps, at=caller.at
    )
    result = run_script(script, simulators())
    return None if result.failure is not None else result


def _features(
    result: ScriptResult, flow: str, shape: frozenset[Transition], counters: frozenset[str]
) -> set[tuple[tuple[str, str], int]]:
    counts: Counter[Transition] = Counter()
    # Counted again only where a count can change the way on: retries (a state to itself)
    # and the counters routes test (wrong PINs, unknown numbers: say and route states).
    counted = {t for t in shape if t[0] == t[1] or t[0] in counters}
    call = result.call
    previous: str | None = None
    for name, state in zip(call.flows, call.states, strict=False):
        if not name:  # the queue's wait document, as coverage_report passes it over
            continue
        if name != flow:
            previous = None
            continue
        if previous is not None and (previous, state) in shape:
            counts[(previous, state)] += 1
        previous = state
    return {
        (t, n)
        for t, count in counts.items()
        for n in range(1, (min(count, REPEATS) if t in counted else 1) + 1)
    }


def _actions(
    flow: Flow, state: State, entries: Mapping[str, Sequence[str]]
) -> list[tuple[Step, ...]]:
    """What a caller can do where the call rests, each as the steps it takes."""
    keys = flow.keys
    conventions = [keys.agent, keys.repeat, *([keys.back] if state.back else [])]
    if state.type == "transfer":
        # an agent answers; or the line is long, a callback is offered, and the caller takes
        # it; or the queue is full (Twilio's QueueResult queue-full)
        return [
            (Agent(),),
            (Hold(1, position=LONG_QUEUE), Press("1")),
            (Agent(result="queue-full"),),
        ]
    if state.type == "record":
        # a key only ends a recording (finishOnKey): silence is the other answer
        return [(Record(5, "#"),), (Wait(),)]
    out: list[tuple[Step, ...]] = [(Wait(),)]
    if state.type == "menu":
        used = {o.key for o in state.options} | set(conventions)
        out += [(Press(o.key),) for o in state.options]
        out += [(Press(k),) for k in conventions]
        spare = [k for k in "123456789*0" if k not in used]
        out += [(Press(spare[0]),)] if spare else []
    elif state.type == "entry":
        g = state.gather
        finish = g.finish_on_key if g.min_digits != g.max_digits else ""
        values = entries.get(state.save_as or "", ()) or ("1" * g.min_digits,)
        out += [(Press(v + finish),) for v in values]
        out += [(Press(k),) for k in conventions]
        out.append((Press("1" + (g.finish_on_key or "")),))  # too short: invalid
    return out


# -- reading a try back -------------------------------------------------------------------------


def _was_live(result: ScriptResult) -> bool:
    """Whether the call was still up after the last step: ``run_script`` then hung it up
    (generated scripts never hang up themselves)."""
    return any(t.speaker == "caller" and t.kind == "hangup" for t in result.call.transcript)


def _resting_states(chosen: Try) -> list[str | None]:
    """The state reported after the dial and after each action (re-run prefix by prefix is
    costly; the transcript's states at each caller turn tell it)."""
    out: list[str | None] = []
    current: str | None = None
    for turn in chosen.result.call.transcript:
        if turn.speaker == "caller":
            out.append(current)
        elif turn.state is not None:
            current = turn.state
    out.append(current)
    return out


def _heard_per_action(result: ScriptResult) -> list[str]:
    """What the IVR said after the dial and after each caller action."""
    out = [""]
    for turn in result.call.transcript:
        if turn.speaker == "caller":
            out.append("")
        elif turn.kind in ("say", "play"):
            out[-1] += turn.text
    return out


def _language_of(result: ScriptResult) -> str:
    langs = [t.lang for t in result.call.transcript if t.speaker == "ivr" and t.lang]
    if not langs:
        return "zh-CN"
    try:
        return language(langs[-1]).code
    except ValueError:
        return langs[-1]


def fixed_text_heard(
    flow: Flow, lang: str, heard: str, state: str | None, *, retries: bool = True
) -> str | None:
    """A fixed prompt text that was heard: the resting state's if it was, else the longest;
    never a value read from the account, which may differ when the script is replayed.
    ``retries``: the flow's retry phrases count as fixed texts too (the browser phone's saved
    scripts leave them out)."""
    if not heard:
        return None
    said = squash(heard)
    texts = _fixed_texts(flow, lang, retries=retries)
    found = [(owner, text) for owner, text in texts if squash(text) in said]
    if not found:
        return None
    own = [text for owner, text in found if owner == state]
    return max(own or [text for _, text in found], key=len)


def _fixed_texts(flow: Flow, lang: str, *, retries: bool) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    for sid, state in flow.states.items():
        if state.prompt is None or lang not in state.prompt:
            continue
        for segment in prompts.segments(state.prompt[lang], prompts.state_prompt_id(flow, state)):
            if segment.prompt is not None and len(segment.text.strip()) >= 2:
                out.append((sid, segment.text.strip()))
    if retries:
        retry = flow.retry
        for text in (retry.no_input, retry.no_match, retry.exhausted):
            if lang in text:
                out.append((None, text[lang]))
    return out


def _arrows(transitions: Iterable[Transition]) -> str:
    return ", ".join(_arrow(t) for t in sorted(transitions))


def _arrow(transition: Transition) -> str:
    return f"{transition[0]} → {transition[1]}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
