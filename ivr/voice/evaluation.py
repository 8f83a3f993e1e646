"""How well spoken answers are understood: labelled phrase files scored the way a call treats them.

Owns the phrase-file format (``tests/speech/*.yaml``, ``tests/speech/heldout/*.yaml``, the
files ``ivr intents review`` writes once labelled), the outcome of one answer as a call sees it
(routed at once, confirmed with "did you mean …?", or asked again), and the measures issue 10
names, per language: first-turn accuracy, right within one confirmation, wrong branch,
confirm and reprompt rates, out-of-scope false routes, yes/no accuracy, hedges taken as yes, and
a confusion matrix.

A phrase file holds ``intents:`` ({say, intent}: an option's name, ``agent`` for a person, or
``none`` for what no option serves) and ``yes_no:`` ({say, answer}: ``"yes"``, ``"no"`` or
``unsure``, a hedge that must be asked again). Both lists are optional.

Pure: ``ivr.yamlstrict`` and ``ivr.voice.intents`` (``Match``) only; the caller brings the
function that understands an utterance and the names of the keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from ivr import yamlstrict
from ivr.voice.intents import Match

NONE = "none"
AGENT = "agent"
ANSWERS = {"yes": "1", "no": "2", "unsure": None}
ROUTE, CONFIRM, REPROMPT = "route", "confirm", "reprompt"


@dataclass(frozen=True)
class Phrase:
    """One labelled utterance: an option's name, ``agent`` or ``none`` (menus), or
    ``yes``/``no``/``unsure`` (yes/no questions)."""

    say: str
    expected: str


@dataclass(frozen=True)
class PhraseFile:
    menu: tuple[Phrase, ...] = ()
    yes_no: tuple[Phrase, ...] = ()


def read_phrases(path: Path) -> PhraseFile:
    """A phrase file, every entry checked: a typo cannot silently skip a phrase."""
    return parse_phrases(path.read_text(encoding="utf-8"), str(path))


def parse_phrases(text: str, name: str) -> PhraseFile:
    data: Any = yamlstrict.load(text, name).data or {}
    if not isinstance(data, dict) or not set(data) <= {"intents", "yes_no"}:
        raise ValueError(f"{name}: expected a mapping with intents: and/or yes_no:")
    menu = tuple(_entries(data.get("intents") or [], name, "intents", "intent"))
    questions = tuple(_entries(data.get("yes_no") or [], name, "yes_no", "answer"))
    for p in questions:
        if p.expected not in ANSWERS:
            raise ValueError(f"{name}: yes_no: {p.say!r}: answer must be yes, no or unsure")
    return PhraseFile(menu, questions)


def _entries(items: Any, name: str, key: str, label: str) -> list[Phrase]:
    if not isinstance(items, list):
        raise ValueError(f"{name}: {key}: expected a list of {{say, {label}}}")
    found = []
    for i, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or set(item) != {"say", label}
            or not isinstance(item["say"], str)
            or not isinstance(item[label], str)
        ):
            raise ValueError(f"{name}: {key}[{i}]: expected {{say: text, {label}: name}}")
        found.append(Phrase(item["say"], item[label]))
    return found


@dataclass(frozen=True)
class Outcome:
    """What a call does with one answer: route to ``key``, confirm ``key``, or reprompt."""

    action: str
    key: str | None


def outcome(
    found: Match, *, can_confirm: bool = True, never_confirmed: Collection[str] = ()
) -> Outcome:
    """As the engine acts: a clear match routes, any other match is confirmed (when the flow
    has a confirm phrase, and the key is not ``never_confirmed``: the agent key of a flow with
    no ``spoken.agent_label``), nothing is asked again."""
    if found.key is not None and found.clear:
        return Outcome(ROUTE, found.key)
    if found.key is not None and can_confirm and found.key not in never_confirmed:
        return Outcome(CONFIRM, found.key)
    return Outcome(REPROMPT, None)


@dataclass
class MenuScore:
    """The measures over a menu's phrases (``none`` ones apart)."""

    phrases: int = 0
    routed_right: int = 0
    confirmed_right: int = 0
    routed_wrong: int = 0
    confirmed_wrong: int = 0
    reprompted: int = 0
    out_of_scope: int = 0
    out_of_scope_routed: int = 0
    out_of_scope_confirmed: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def first_turn(self) -> float:
        return _share(self.routed_right, self.phrases)

    @property
    def within_one_confirmation(self) -> float:
        return _share(self.routed_right + self.confirmed_right, self.phrases)

    @property
    def wrong_branch(self) -> float:
        return _share(self.routed_wrong, self.phrases)

    @property
    def confirm_rate(self) -> float:
        return _share(self.confirmed_right + self.confirmed_wrong, self.phrases)

    @property
    def reprompt_rate(self) -> float:
        return _share(self.reprompted, self.phrases)

    @property
    def false_routes(self) -> float:
        return _share(self.out_of_scope_routed, self.out_of_scope)


@dataclass
class YesNoScore:
    phrases: int = 0
    right: int = 0
    hedges: int = 0
    hedges_asked_again: int = 0
    hedges_taken_as_yes: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return _share(self.right, self.phrases)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def score_menu(
    phrases: Sequence[Phrase],
    understand: Callable[[str], Match],
    keys: Mapping[str, str],
    *,
    can_confirm: bool = True,
    never_confirmed: Collection[str] = (),
) -> MenuScore:
    """Score menu phrases; ``keys`` maps each name a phrase may expect (an issue, ``agent``) to
    its key. A phrase expecting a name ``keys`` lacks is an error, not a miss."""
    names = {key: name for name, key in keys.items()}
    score = MenuScore()
    for p in phrases:
        if p.expected != NONE and p.expected not in keys:
            raise ValueError(f"{p.say!r}: {p.expected!r} is none of {', '.join(sorted(keys))}")
        done = outcome(understand(p.say), can_confirm=can_confirm, never_confirmed=never_confirmed)
        got = names.get(done.key or "", done.key or NONE)
        shown = got if done.action == ROUTE else f"{done.action}:{got}" if done.key else REPROMPT
        score.confusion[(p.expected, got if done.action == ROUTE else NONE)] += 1
        if p.expected == NONE:
            score.out_of_scope += 1
            if done.action == ROUTE:
                score.out_of_scope_routed += 1
                score.misses.append((p.say, p.expected, shown))
            elif done.action == CONFIRM:
                score.out_of_scope_confirmed += 1
            continue
        score.phrases += 1
        right = done.key == keys[p.expected]
        if done.action == ROUTE:
            score.routed_right += right
            score.routed_wrong += not right
        elif done.action == CONFIRM:
            score.confirmed_right += right
            score.confirmed_wrong += not right
        else:
            score.reprompted += 1
        if not (right and done.action == ROUTE):
            score.misses.append((p.say, p.expected, shown))
    return score


def score_yes_no(phrases: Sequence[Phrase], understand: Callable[[str], Match]) -> YesNoScore:
    """Score yes/no phrases: a yes or no counts when it is a clear match to that key; a hedge
    when it is not taken as anything (asked again)."""
    score = YesNoScore()
    for p in phrases:
        found = understand(p.say)
        got = found.key if found.key is not None and found.clear else None
        shown = {"1": "yes", "2": "no"}.get(got or "", "asked again")
        if p.expected == "unsure":
            score.hedges += 1
            score.hedges_asked_again += got is None
            score.hedges_taken_as_yes += got == "1"
            if got is not None:
                score.misses.append((p.say, p.expected, shown))
            continue
        score.phrases += 1
        if got == ANSWERS[p.expected]:
            score.right += 1
        else:
            score.misses.append((p.say, p.expected, shown))
    return score


def percent(value: float) -> str:
    return f"{100 * value:5.1f}%"


def menu_lines(score: MenuScore) -> list[str]:
    """The menu measures, one per line, as ``ivr intents eval`` and the bench print them."""
    n, oos = score.phrases, score.out_of_scope
    return [
        f"first turn, right option     {percent(score.first_turn)}  ({score.routed_right}/{n})",
        f"right within one confirm     {percent(score.within_one_confirmation)}  "
        f"({score.routed_right + score.confirmed_right}/{n})",
        f"wrong branch                 {percent(score.wrong_branch)}  ({score.routed_wrong}/{n})",
        f"confirmed                    {percent(score.confirm_rate)}  "
        f"({score.confirmed_right + score.confirmed_wrong}/{n})",
        f"reprompted                   {percent(score.reprompt_rate)}  ({score.reprompted}/{n})",
        f"out-of-scope routed          {percent(score.false_routes)}  "
        f"({score.out_of_scope_routed}/{oos}; {score.out_of_scope_confirmed} confirmed)",
    ]


def yes_no_lines(score: YesNoScore) -> list[str]:
    return [
        f"yes/no right                 {percent(score.accuracy)}  ({score.right}/{score.phrases})",
        f"hedges asked again           {score.hedges_asked_again}/{score.hedges}  "
        f"({score.hedges_taken_as_yes} taken as yes)",
    ]


def confusion_lines(score: MenuScore, names: Sequence[str]) -> list[str]:
    """Expected (rows) against routed (columns; ``none``: not routed at the first turn)."""
    columns = [*names, NONE]
    width = max(len(c) for c in columns) + 1
    lines = [" " * width + "".join(f"{c[:7]:>8}" for c in columns)]
    for row in columns:
        counts = [score.confusion.get((row, c), 0) for c in columns]
        if any(counts):
            lines.append(f"{row:<{width}}" + "".join(f"{c or '.':>8}" for c in counts))
    return lines
