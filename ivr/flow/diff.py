"""What changed between two versions of a flow, state by state: for review and for records.

Owns ``diff_flows`` and ``word_diff``. Per state: prompts and option labels reworded in each
language (a word-level diff; per character in Chinese), options added, removed or re-keyed,
targets changed, routes, back and type changed; outside the states, every other prompt that
was reworded (phrases, retries, hold messages). ``FlowDiff.stale`` lists the prompts whose
recordings no longer match their words (``ivr.flow.prompts`` ids); which of them are recorded
is the media layer's to say. Pure: takes two parsed flows, reads no files.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

from ivr.flow.prompts import Prompt
from ivr.flow.prompts import flow_prompts
from ivr.flow.spec import Flow
from ivr.flow.spec import Option
from ivr.flow.spec import Route
from ivr.flow.spec import State
from ivr.flow.spec import Text


@dataclass(frozen=True)
class Reworded:
    """One text in one language, before and after; ``where`` is its key path in the state."""

    where: str
    lang: str
    old: str
    new: str

    @property
    def marked(self) -> str:
        return word_diff(self.old, self.new)


@dataclass(frozen=True)
class StateChange:
    state: str
    status: str  # "added", "removed" or "changed"
    structure: tuple[str, ...] = ()  # options, targets, routes, type: what moves a caller
    reworded: tuple[Reworded, ...] = ()  # what a caller hears


@dataclass(frozen=True)
class FlowDiff:
    name: str
    states: tuple[StateChange, ...]
    reworded: tuple[Reworded, ...] = ()  # prompts outside the states, by prompt id
    stale: tuple[Prompt, ...] = ()  # prompts (new words) whose old words were recorded
    old_texts: tuple[str, ...] = field(default=(), repr=False)  # the words that changed

    @property
    def structural(self) -> bool:
        return any(s.structure or s.status != "changed" for s in self.states)

    @property
    def empty(self) -> bool:
        return not self.states and not self.reworded


def diff_flows(old: Flow, new: Flow) -> FlowDiff:
    changes = []
    for state_id in [*old.states, *(s for s in new.states if s not in old.states)]:
        before, after = old.states.get(state_id), new.states.get(state_id)
        if before is None:
            changes.append(StateChange(state_id, "added"))
        elif after is None:
            changes.append(StateChange(state_id, "removed"))
        else:
            structure = tuple(_structure(before, after))
            reworded = tuple(_state_words(before, after))
            if structure or reworded:
                changes.append(StateChange(state_id, "changed", structure, reworded))
    old_prompts = {(p.id, p.lang): p for p in flow_prompts(old)}
    new_prompts = {(p.id, p.lang): p for p in flow_prompts(new)}
    changed = [
        (old_prompts[key], prompt)
        for key, prompt in new_prompts.items()
        if key in old_prompts and old_prompts[key].text != prompt.text
    ]
    state_prefixes = tuple(f"{new.name}.{s}." for s in new.states)
    outside = tuple(
        Reworded(b.id, b.lang, a.text, b.text)
        for a, b in changed
        if not b.id.startswith(state_prefixes)
    )
    texts = {r.old for c in changes for r in c.reworded} | {r.old for r in outside}
    return FlowDiff(
        new.name,
        tuple(changes),
        outside,
        tuple(b for _, b in changed),
        tuple(sorted(texts)),
    )


def _structure(old: State, new: State) -> Iterator[str]:
    if old.type != new.type:
        yield f"type {old.type} → {new.type}"
    yield from _options(old.options, new.options)
    if _routes(old.next) != _routes(new.next):
        yield f"next {_routes(old.next)} → {_routes(new.next)}"
    if old.back != new.back:
        yield f"back {old.back or '-'} → {new.back or '-'}"
    before = _routes((old.on_no_input,) if old.on_no_input else ())
    after = _routes((new.on_no_input,) if new.on_no_input else ())
    if before != after:
        yield f"on_no_input {before} → {after}"
    if old.queue != new.queue:
        yield f"queue {old.queue or '-'} → {new.queue or '-'}"
    if [c.name for c in old.do] != [c.name for c in new.do]:
        yield f"do {[c.name for c in old.do]} → {[c.name for c in new.do]}"


def _routes(routes: tuple[Route, ...]) -> str:
    shown = [f"{r.goto} if {r.when.name}" if r.when else r.goto for r in routes]
    return ", ".join(shown) or "-"


def _pair_options(
    old: tuple[Option, ...], new: tuple[Option, ...]
) -> tuple[list[tuple[Option, Option]], list[Option], list[Option]]:
    """Options matched across versions: first by identical label (under any key: a re-keyed
    option), then by key; and those only in the old, and only in the new, version."""
    pairs: list[tuple[Option, Option]] = []
    left, right = list(old), list(new)
    for same in ("label", "key"):
        for option in list(left):
            found = next((o for o in right if getattr(o, same) == getattr(option, same)), None)
            if found is not None:
                pairs.append((option, found))
                left.remove(option)
                right.remove(found)
    return pairs, left, right


def _options(old: tuple[Option, ...], new: tuple[Option, ...]) -> Iterator[str]:
    pairs, removed, added = _pair_options(old, new)
    for before, after in sorted(pairs, key=lambda pair: pair[0].key):
        if before.key != after.key:
            yield f"option {before.key} re-keyed to {after.key} (→ {after.goto})"
        if before.goto != after.goto:
            yield f"option {after.key} target {before.goto} → {after.goto}"
    for option in removed:
        yield f"option {option.key} removed (was → {option.goto})"
    for option in added:
        yield f"option {option.key} added → {option.goto}"


def _state_words(old: State, new: State) -> Iterator[Reworded]:
    yield from _texts("prompt", old.prompt, new.prompt)
    pairs, _, _ = _pair_options(old.options, new.options)
    for before, after in pairs:
        yield from _texts(f"option {after.key}", before.label, after.label)
    if old.retry is not None and new.retry is not None:
        for which in ("no_input", "no_match", "exhausted"):
            yield from _texts(
                f"retry.{which}", getattr(old.retry, which), getattr(new.retry, which)
            )


def _texts(where: str, old: Text | None, new: Text | None) -> Iterator[Reworded]:
    for lang, text in (new or {}).items():
        before = (old or {}).get(lang)
        if before is not None and before != text:
            yield Reworded(where, lang, before, text)


# -- words ------------------------------------------------------------------------------------

# A CJK character, a word (letters, digits, a {placeholder}), a run of spaces, or any one sign.
_TOKENS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|\{\w+\}|[\w'’]+|\s+|.")


def word_diff(old: str, new: str) -> str:
    """``old`` → ``new`` as ``[-removed-]{+added+}`` (git's --word-diff=plain): word by word,
    and character by character in Chinese."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append("".join(a[i1:i2]))
            continue
        if i2 > i1:
            out.append(f"[-{''.join(a[i1:i2])}-]")
        if j2 > j1:
            out.append(f"{{+{''.join(b[j1:j2])}+}}")
    return "".join(out)
