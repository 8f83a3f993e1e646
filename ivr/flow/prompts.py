"""Prompt ids: every fixed piece of speech a flow can produce, named; templates split at values.

Owns what the engine (tagging what it says), ``ivr.media.recordings`` (which recordings are
current) and
``ivr prompts`` (what to record) must agree on:

- the id of each fixed text of a flow::

      <flow>.<state>.prompt             a state's prompt without values
      <flow>.<state>.prompt.<n>         the n-th fixed segment (from 0) of a prompt with values
      <flow>.<state>.option.<key>       a menu option's announcement ("支付失败请按2。");
                                        keys * and # are named star and pound
      <flow>.phrases.agent|back|repeat  the announcement of a convention key, the same everywhere
      <flow>.phrases.confirm.<n>        the fixed segments of "您是说“{label}”吗？…" (a template)
      <flow>.phrases.apology|restart|connecting
                                        lines said outside any state: the apology when anything
                                        goes wrong, the restart of a lost call, "connecting you"
      <flow>.retry.no_input|no_match|exhausted
                                        (a state with its own retry: <flow>.<state>.retry.…)
      <flow>.queues.<queue>.hold        a queue's hold announcement
      <flow>.waiting.position.<n>       what a waiting caller hears: "您前面还有{position}位客户…"
      <flow>.waiting.offer_callback     (segments numbered when the text has values)

- how a template with values splits: the literal text between placeholders is fixed (played
  from a recording), the values are said. Punctuation that opens a literal right after a value
  ("，您好。" after ``{name}``) is said with the value, so no recording starts with a comma;
  literal text with nothing to pronounce (a lone "。", a space between two values) is said too.

Pure: depends on ``flow.spec``, ``voice.reading`` and ``voice.speech``. Never imports Flask or
twilio and never touches files (``ivr.media.recordings`` owns the folder of recordings).
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

from ivr.flow.spec import ANSWERING_PHRASES
from ivr.flow.spec import Flow
from ivr.flow.spec import Option
from ivr.flow.spec import State
from ivr.flow.spec import Text
from ivr.voice import reading as speech
from ivr.voice.speech import Part
from ivr.voice.speech import Speech

KEY_NAMES = {"*": "star", "#": "pound"}
CONVENTION_KEYS = ("agent", "back", "repeat")
RETRY_EVENTS = ("no_input", "no_match", "exhausted")


@dataclass(frozen=True)
class Prompt:
    """A fixed text in one language, as it is recorded (surrounding spaces stripped)."""

    id: str
    lang: str
    text: str


@dataclass(frozen=True)
class Segment:
    """A stretch of a template: literal ``text`` (exact spacing kept) with its prompt id when it
    is recorded, or the value of placeholder ``name`` (``text`` empty)."""

    text: str
    name: str | None = None
    prompt: str | None = None


# -- ids ----------------------------------------------------------------------------------------


def state_prompt_id(flow: Flow, state: State) -> str:
    return f"{flow.name}.{state.id}.prompt"


def option_id(flow: Flow, state: State, option: Option) -> str:
    return f"{flow.name}.{state.id}.option.{KEY_NAMES.get(option.key, option.key)}"


def phrase_id(flow: Flow, which: str) -> str:
    return f"{flow.name}.phrases.{which}"


def retry_id(flow: Flow, state: State | None, event: str) -> str:
    """The id of a retry text: the flow's, or the state's own when it overrides the retry."""
    if state is not None and state.retry is not None:
        return f"{flow.name}.{state.id}.retry.{event}"
    return f"{flow.name}.retry.{event}"


def hold_id(flow: Flow, queue: str) -> str:
    return f"{flow.name}.queues.{queue}.hold"


def waiting_id(flow: Flow, which: str) -> str:
    """``which``: ``position`` or ``offer_callback`` (flow ``waiting``)."""
    return f"{flow.name}.waiting.{which}"


# -- splitting ------------------------------------------------------------------------------------


def speakable(text: str) -> bool:
    """Whether ``text`` has anything to pronounce (a letter or a digit)."""
    return any(ch.isalnum() for ch in text)


@functools.lru_cache(maxsize=4096)
def segments(template: str, prompt: str) -> tuple[Segment, ...]:
    """``template`` as fixed segments and values. Without placeholders the whole text is one
    segment with id ``prompt``; with them, fixed segments are ``prompt.0``, ``prompt.1`` ...
    Raises ``ValueError`` for a malformed template (as ``speech.fill`` does). Cached: every
    prompt a call hears is cut here on every step, and the result depends on the two strings
    alone (a flow's templates, a few hundred; an edited flow's new ones simply join)."""
    pieces = _pieces(template)
    if all(name is None for _, name in pieces):
        text = "".join(literal for literal, _ in pieces)
        return (Segment(text, prompt=prompt if speakable(text) else None),)
    out: list[Segment] = []
    index = 0
    after_value = False
    for literal, name in pieces:
        if after_value:
            glue = _leading_glue(literal)
            if glue:
                out.append(Segment(glue))
                literal = literal[len(glue) :]
        if literal:
            if speakable(literal):
                out.append(Segment(literal, prompt=f"{prompt}.{index}"))
                index += 1
            else:
                out.append(Segment(literal))
        if name is not None:
            out.append(Segment("", name=name))
        after_value = name is not None
    return tuple(out)


def fill(template: str, lang: str, prompt: str, value: Callable[[str], Part]) -> Speech:
    """The speech for ``template``: its fixed segments tagged with their prompt ids, each
    placeholder replaced by ``value(name)`` (which raises ``KeyError`` for an unknown name)."""
    parts: list[Part] = []
    for segment in segments(template, prompt):
        if segment.name is not None:
            parts.append(value(segment.name))
        elif segment.text:
            parts.append(Part(segment.text, segment.prompt))
    return Speech("".join(p.text for p in parts), lang, tuple(parts))


def line(text: str, lang: str, prompt: str) -> Speech:
    """A fixed text without values (an announcement) as one recorded prompt."""
    return Speech(text, lang, (Part(text, prompt if speakable(text) else None),))


def option_line(flow: Flow, state: State, option: Option, lang: str) -> Speech:
    """A menu option's announcement: "支付失败请按2。" / "For a failed payment, press 2.", or
    the option's own ``line`` in ``lang`` ("If that is right, press 1.") where it has one."""
    return line(option_text(flow, option, lang), lang, option_id(flow, state, option))


def option_text(flow: Flow, option: Option, lang: str) -> str:
    """The words announcing ``option`` in ``lang``: its own line, else the flow's template."""
    key = speech.say_key(option.key, lang)
    own = option.line.get(lang)
    if own is not None:
        return own.format(key=key)
    return flow.phrases.option[lang].format(label=option.label[lang], key=key)


def key_line(flow: Flow, which: str, lang: str) -> Speech:
    """The announcement of a convention key (``agent``, ``back`` or ``repeat``)."""
    phrase: Text = getattr(flow.phrases, which)
    key: str = getattr(flow.keys, which)
    return line(phrase[lang].format(key=speech.say_key(key, lang)), lang, phrase_id(flow, which))


def phrase_lines(flow: Flow, which: str) -> dict[str, Speech]:
    """A phrase said as written (``apology``, ``restart`` or ``connecting``) in each language of
    the flow that has it, each one recorded prompt; empty when the flow lacks the phrase."""
    text: Text | None = getattr(flow.phrases, which)
    if text is None:
        return {}
    return {
        lang: line(text[lang], lang, phrase_id(flow, which))
        for lang in flow.languages
        if lang in text
    }


# -- everything a flow can say ----------------------------------------------------------------


def flow_prompts(flow: Flow) -> list[Prompt]:
    """Every recordable prompt of ``flow`` in every language it can be heard in, in flow order,
    each (id, language) once."""
    seen: set[tuple[str, str]] = set()
    out: list[Prompt] = []
    for prompt in _all_prompts(flow):
        if (prompt.id, prompt.lang) not in seen:
            seen.add((prompt.id, prompt.lang))
            out.append(prompt)
    return out


def _all_prompts(flow: Flow) -> Iterator[Prompt]:
    langs = flow.languages
    for state in flow.states.values():
        yield from _state_prompts(flow, state)
    for which in CONVENTION_KEYS:
        for lang in langs:
            yield from _line_prompts(key_line(flow, which, lang))
    if flow.phrases.confirm is not None:
        yield from _template_prompts(flow.phrases.confirm, phrase_id(flow, "confirm"), langs)
    for which in ANSWERING_PHRASES:
        for said in phrase_lines(flow, which).values():
            yield from _line_prompts(said)
    yield from _retry_prompts(flow, None)
    for queue in flow.queues.values():
        yield from _template_prompts(queue.hold, hold_id(flow, queue.id), langs)
    if flow.waiting is not None:
        for which in ("position", "offer_callback"):
            text: Text = getattr(flow.waiting, which)
            yield from _template_prompts(text, waiting_id(flow, which), langs)


def _state_prompts(flow: Flow, state: State) -> Iterator[Prompt]:
    langs = flow.languages
    if state.prompt is not None:
        yield from _template_prompts(state.prompt, state_prompt_id(flow, state), langs)
    for option in state.options:
        for lang in (option.lang,) if option.lang else langs:
            yield from _line_prompts(option_line(flow, state, option, lang))
    if state.retry is not None:
        yield from _retry_prompts(flow, state)


def _retry_prompts(flow: Flow, state: State | None) -> Iterator[Prompt]:
    retry = flow.retry if state is None else flow.retry_for(state)
    for event in RETRY_EVENTS:
        text: Text = getattr(retry, event)
        yield from _template_prompts(text, retry_id(flow, state, event), flow.languages)


def _template_prompts(text: Text, prompt: str, langs: tuple[str, ...]) -> Iterator[Prompt]:
    for lang in langs:
        if lang not in text:
            continue
        for segment in segments(text[lang], prompt):
            if segment.prompt is not None:
                yield Prompt(segment.prompt, lang, segment.text.strip())


def _line_prompts(said: Speech) -> Iterator[Prompt]:
    for part in said.parts:
        if part.prompt is not None:
            yield Prompt(part.prompt, said.lang, part.text.strip())


def _pieces(template: str) -> list[tuple[str, str | None]]:
    speech.placeholders(template)  # raises the project's message for a malformed template
    return [(literal, name) for literal, name, _, _ in string.Formatter().parse(template)]


def _leading_glue(literal: str) -> str:
    """The run of punctuation and spaces a literal opens with."""
    end = 0
    while end < len(literal) and not literal[end].isalnum():
        end += 1
    return literal[:end]
