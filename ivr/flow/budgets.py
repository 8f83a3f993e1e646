"""Caller-time figures of a flow and its budgets: how long a caller listens, how far an agent is.

Owns, per language of a flow:

- ``agent_s``: for every state, the seconds a caller listens after entering it before hearing
  how to reach an agent. A menu announces the agent key after its prompt and options; an entry
  whose prompt names the agent key ("…press 0 for an agent") announces it there; a say or
  route state adds its own speech to the worst of the states it leads to; a transfer is an
  agent already (0). None: never announced (an entry that does not name the key).
- ``agent_keys``: the fewest key presses from the greeting to an agent (menu options, the
  announced agent key, digits keyed into entries), and the way.
- ``prompt_s``: for each self-help answer, the seconds of prompt before it on the longest way
  from the greeting (every menu heard to its end; no repeats, no going back). Answers are the
  ``say`` states reached after an option with an ``issue`` (all ``say`` states of a flow
  without issues).
- ``menu_options``: the options of each menu (the agent, repeat and back keys not counted).

Times come from ``Lengths`` (the real length of a current recording, ``ivr.media.durations``)
or else from the language's stated rate (``Language.seconds_to_say``); a value said from call
data (``{amount}``) counts ``VALUE_SECONDS``. The flow's ``budgets`` turn figures into
``Violation`` s. Pure: reads no files (the caller hands in ``Lengths``), imports nothing above
``flow``.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ivr.flow import prompts
from ivr.flow.spec import Flow
from ivr.flow.spec import State
from ivr.flow.spec import Text
from ivr.voice.languages import language

# A value read from call data ("¥3,000.00", "yesterday at 14:05") is taken to last this long.
VALUE_SECONDS = 1.5
# Beyond this many ways to one answer, the longest found so far stands (a guard, not a limit
# any real flow reaches: the hotline has a few hundred).
MAX_PATHS = 100_000


class Lengths(Protocol):
    """The seconds a recorded prompt plays, or None to estimate it from its text."""

    def seconds(self, prompt_id: str, lang: str, text: str) -> float | None: ...


class NoRecordings:
    """Every prompt estimated from its text."""

    def seconds(self, prompt_id: str, lang: str, text: str) -> float | None:
        return None


@dataclass(frozen=True)
class Piece:
    """One stretch of speech: its seconds and whether they were measured from a recording."""

    seconds: float
    measured: bool


@dataclass(frozen=True)
class AgentKeys:
    presses: int
    way: tuple[str, ...]  # "welcome: 0" steps, in order


@dataclass(frozen=True)
class Figures:
    """A flow's caller-time figures in one language."""

    lang: str
    agent_s: Mapping[str, float | None]
    agent_keys: AgentKeys | None
    prompt_s: Mapping[str, float]
    menu_options: Mapping[str, int]
    measured: int  # pieces of speech timed from recordings
    estimated: int  # pieces timed from the language's rate


@dataclass(frozen=True)
class Violation:
    budget: str
    limit: float
    figure: float | None
    where: str
    lang: str | None

    def __str__(self) -> str:
        langs = f" ({self.lang})" if self.lang else ""
        if self.budget == "agent_within_s":
            if self.figure is None:
                return f"{self.where}{langs}: the caller is never told how to reach an agent"
            return (
                f"{self.where}{langs}: {self.figure:.1f} s before the agent key is announced"
                f" (budget agent_within_s: {self.limit:g})"
            )
        if self.budget == "agent_keys":
            return (
                f"{self.where}: {self.figure:g} key presses to an agent"
                f" (budget agent_keys: {self.limit:g})"
            )
        if self.budget == "menu_options":
            return f"{self.where}: {self.figure:g} options (budget menu_options: {self.limit:g})"
        return (
            f"{self.where}{langs}: {self.figure:.1f} s of prompt before this answer"
            f" (budget prompt_s: {self.limit:g})"
        )


_ANSWER_TYPES = frozenset({"say"})
_WAITING = frozenset({"menu", "entry"})


class _Timer:
    """Seconds of the speech of each state of one flow, in one language."""

    def __init__(self, flow: Flow, lang: str, lengths: Lengths) -> None:
        self.flow = flow
        self.lang = lang
        self.lengths = lengths
        self.measured = 0
        self.estimated = 0

    def line(self, text: str, lang: str, prompt_id: str) -> float:
        seconds = self.lengths.seconds(prompt_id, lang, text)
        if seconds is not None:
            self.measured += 1
            return seconds
        self.estimated += 1
        return language(lang).seconds_to_say(text)

    def template(self, text: Text, prompt_id: str, lang: str) -> list[tuple[str, float]]:
        """Each stretch of a template with its seconds: (its literal text, seconds)."""
        out: list[tuple[str, float]] = []
        for segment in prompts.segments(text[lang], prompt_id):
            if segment.name is not None:
                out.append(("", VALUE_SECONDS))
            elif segment.prompt is not None:
                out.append((segment.text, self.line(segment.text, lang, segment.prompt)))
        return out

    def prompt(self, state: State) -> list[tuple[str, float]]:
        if state.prompt is None:
            return []
        langs = self.flow.languages if state.bilingual else (self.lang,)
        prompt_id = prompts.state_prompt_id(self.flow, state)
        return [p for lg in langs for p in self.template(state.prompt, prompt_id, lg)]

    def menu_lines(self, state: State) -> tuple[float, float]:
        """(seconds of the options before the agent line, seconds of the agent line and
        the lines after it), as the engine says a menu."""
        flow, lang = self.flow, self.lang
        options = 0.0
        for option in state.options:
            said = prompts.option_line(flow, state, option, option.lang or lang)
            options += self.line(said.text, said.lang, prompts.option_id(flow, state, option))
        rest = 0.0
        keys = ["agent", *(["back"] if state.back is not None else []), "repeat"]
        for which in keys:
            said = prompts.key_line(flow, which, lang)
            rest += self.line(said.text, lang, prompts.phrase_id(flow, which))
        return options, rest

    def whole(self, state: State) -> float:
        """Every second of the state's speech, heard to its end."""
        total = sum(seconds for _, seconds in self.prompt(state))
        if state.type == "menu":
            options, rest = self.menu_lines(state)
            total += options + rest
        return total

    def before_agent(self, state: State) -> float | None:
        """Seconds heard in a waiting state before its agent announcement, or None."""
        pieces = self.prompt(state)
        if state.type == "menu":
            options, _ = self.menu_lines(state)
            return sum(seconds for _, seconds in pieces) + options
        pattern = re.compile(rf"(?<![0-9]){re.escape(self.flow.keys.agent)}(?![0-9])")
        elapsed = 0.0
        for text, seconds in pieces:
            found = pattern.search(text)
            if found is not None:
                share = sum(1 for ch in text[: found.start()] if not ch.isspace())
                whole = sum(1 for ch in text if not ch.isspace()) or 1
                return elapsed + seconds * share / whole
            elapsed += seconds
        return None


def figures(flow: Flow, lang: str, lengths: Lengths | None = None) -> Figures:
    """The caller-time figures of ``flow`` for a caller speaking ``lang``."""
    timer = _Timer(flow, lang, lengths or NoRecordings())
    whole = {sid: timer.whole(state) for sid, state in flow.states.items()}
    agent_s = _agent_seconds(flow, timer, whole)
    prompt_s = _longest_before_answers(flow, whole)
    options = {sid: len(s.options) for sid, s in flow.states.items() if s.type == "menu"}
    return Figures(
        lang,
        agent_s,
        _agent_keys(flow),
        prompt_s,
        options,
        timer.measured,
        timer.estimated,
    )


def violations(flow: Flow, every: list[Figures]) -> list[Violation]:
    """What breaks the flow's budgets, in every language figured."""
    out: list[Violation] = []
    for fig in every:
        out.extend(_timing_violations(flow, fig))
    if every:
        out.extend(_count_violations(flow, every[0]))
    return out


def _timing_violations(flow: Flow, fig: Figures) -> Iterator[Violation]:
    budgets = flow.budgets
    if budgets.agent_within_s is not None:
        for sid, seconds in fig.agent_s.items():
            if flow.states[sid].type in _WAITING and (
                seconds is None or seconds > budgets.agent_within_s
            ):
                yield Violation("agent_within_s", budgets.agent_within_s, seconds, sid, fig.lang)
    if budgets.prompt_s is not None:
        for sid, seconds in fig.prompt_s.items():
            if seconds > budgets.prompt_s:
                yield Violation("prompt_s", budgets.prompt_s, seconds, sid, fig.lang)


def _count_violations(flow: Flow, fig: Figures) -> Iterator[Violation]:
    """Key presses and options are the same in every language."""
    budgets = flow.budgets
    keys = fig.agent_keys
    if budgets.agent_keys is not None and (keys is None or keys.presses > budgets.agent_keys):
        presses = None if keys is None else float(keys.presses)
        yield Violation("agent_keys", budgets.agent_keys, presses, flow.start, None)
    if budgets.menu_options is not None:
        for sid, count in fig.menu_options.items():
            if count > budgets.menu_options:
                yield Violation("menu_options", budgets.menu_options, count, sid, None)


# -- the figures --------------------------------------------------------------------------------


def _agent_seconds(
    flow: Flow, timer: _Timer, whole: Mapping[str, float]
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}

    def of(sid: str, seen: frozenset[str]) -> float | None:
        if sid in out:
            return out[sid]
        state = flow.states.get(sid)
        if state is None or sid in seen:
            return None
        result: float | None
        if state.type in _WAITING:
            result = timer.before_agent(state)
        elif state.type == "transfer":
            result = 0.0
        elif state.type in ("say", "route"):
            after = [of(route.goto, seen | {sid}) for route in state.next]
            known = [a for a in after if a is not None]
            result = whole[sid] + max(known) if known and len(known) == len(after) else None
        else:  # record, hangup: no agent from here
            result = None
        out[sid] = result
        return result

    for sid in flow.states:
        of(sid, frozenset())
    return out


def _moves(flow: Flow, state: State) -> Iterator[tuple[str, str, int]]:
    """(key or what happens, target, key presses) for every designed way out of ``state``:
    options, routes, entries keyed in, silence's own route; not repeats, not going back."""
    if state.type == "menu":
        for option in state.options:
            yield option.key, option.goto, 1
    presses = 0
    if state.type == "entry":
        g = state.gather
        presses = g.min_digits + (0 if g.min_digits == g.max_digits else 1)
    elif state.type == "record":
        presses = 1
    for route in state.next:
        what = {"entry": "keys in", "record": "records"}.get(state.type, "then")
        yield what, route.goto, presses
    if state.on_no_input is not None:
        yield "silence", state.on_no_input.goto, 0


def _agent_keys(flow: Flow) -> AgentKeys | None:
    """Dijkstra over key presses from the start to any transfer state."""
    queue: list[tuple[int, int, str, tuple[str, ...]]] = [(0, 0, flow.start, ())]
    done: set[str] = set()
    order = 0
    while queue:
        presses, _, sid, way = heapq.heappop(queue)
        if sid in done or sid not in flow.states:
            continue
        done.add(sid)
        state = flow.states[sid]
        if state.type == "transfer":
            return AgentKeys(presses, way)
        moves = list(_moves(flow, state))
        if state.type == "menu" or (
            state.type == "entry" and flow.states.get(flow.agent_state) is not None
        ):
            moves.append((flow.keys.agent, flow.agent_state, 1))
        for what, target, cost in moves:
            order += 1
            heapq.heappush(queue, (presses + cost, order, target, (*way, f"{sid}: {what}")))
    return None


def _answers(flow: Flow) -> list[str]:
    starts = [o.goto for s in flow.states.values() for o in s.options if o.issue is not None]
    if not starts:
        return [sid for sid, s in flow.states.items() if s.type in _ANSWER_TYPES]
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        sid = todo.pop()
        state = flow.states.get(sid)
        if sid in seen or state is None or state.is_final:
            continue
        seen.add(sid)
        todo.extend(target for _, target, _ in _moves(flow, state))
    return [sid for sid, s in flow.states.items() if sid in seen and s.type in _ANSWER_TYPES]


def _longest_before_answers(flow: Flow, whole: Mapping[str, float]) -> dict[str, float]:
    """For each answer, the most seconds of speech before it on any way without loops."""
    answers = set(_answers(flow))
    best: dict[str, float] = {}
    walked = 0

    def walk(sid: str, elapsed: float, on_way: set[str]) -> None:
        nonlocal walked
        walked += 1
        if walked > MAX_PATHS:
            return
        state = flow.states.get(sid)
        if state is None:
            return
        if sid in answers and elapsed > best.get(sid, -1.0):
            best[sid] = elapsed
        if state.is_final:
            return
        on_way.add(sid)
        for target in {t for _, t, _ in _moves(flow, state)}:
            if target not in on_way:
                walk(target, elapsed + whole[sid], on_way)
        on_way.discard(sid)

    walk(flow.start, 0.0, set())
    return {sid: best[sid] for sid in flow.states if sid in best}
