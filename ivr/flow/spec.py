"""Frozen dataclasses describing a flow: the shape of ``flows/*.yaml`` after parsing.

Owns the vocabulary of flows (state types, options, routes, retry policy, phrases, recognition
hints, messages sent). Pure data: no parsing (``loader``), no cross-reference checks
(``validation``), no behaviour (``engine``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

from ivr.flow.hours import Hours
from ivr.flow.hours import QueueSettings
from ivr.yamlstrict import KeyLines

# A text in every language of the flow: {"zh-CN": "...", "en-US": "..."}.
Text = Mapping[str, str]

StateType = Literal["menu", "entry", "say", "route", "record", "transfer", "hangup"]

# States that wait for the caller; the others run straight through within one webhook.
INPUT_TYPES: frozenset[str] = frozenset({"menu", "entry", "record"})
# States that end the caller's time in the flow.
FINAL_TYPES: frozenset[str] = frozenset({"transfer", "hangup"})


@dataclass(frozen=True)
class Call:
    """A named action or guard with its optional argument: ``unlock_account`` or
    ``{record_survey: 5}``. ``path`` is where it was written, for error messages."""

    name: str
    arg: object = None
    path: str = ""


@dataclass(frozen=True)
class Route:
    """One guarded way out of a state: taken when ``when`` holds (or always, without it)."""

    goto: str
    when: Call | None = None
    do: tuple[Call, ...] = ()
    reason: str | None = None
    path: str = ""


@dataclass(frozen=True)
class Option:
    """A menu choice: a key, the label announced for it, and where it leads."""

    key: str
    label: Text
    goto: str
    do: tuple[Call, ...] = ()
    issue: str | None = None
    lang: str | None = None  # announce this option in this language whatever the caller's
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # whole phrases callers say for this option, per language: the trained matcher learns them
    examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The option's own announcement in some languages ("If that is right, press {key}."), where
    # the flow's ``phrases.option`` template would not read well with its label.
    line: Text = field(default_factory=dict)
    path: str = ""


@dataclass(frozen=True)
class Gather:
    """How keys are collected. ``min_digits``/``max_digits`` apply to entries only."""

    timeout: int = 5
    finish_on_key: str = "#"
    min_digits: int = 1
    max_digits: int = 1


@dataclass(frozen=True)
class Retry:
    """What happens on silence or an invalid key: reprompt until ``attempts`` failures, then
    transfer to an agent with the reason recorded."""

    attempts: int
    no_input: Text
    no_match: Text
    exhausted: Text


@dataclass(frozen=True)
class RecordSpec:
    max_length: int = 120
    finish_on_key: str = "#"
    timeout: int = 5
    status_callback: bool = False  # ask Twilio to report when the recording file is ready


@dataclass(frozen=True)
class State:
    id: str
    type: StateType
    path: str
    prompt: Text | None = None
    bilingual: bool = False  # speak the prompt in every language (the language menu)
    do: tuple[Call, ...] = ()
    options: tuple[Option, ...] = ()
    gather: Gather = Gather()
    save_as: str | None = None
    secret: bool = False  # entry: never stored, logged or spoken back (PINs)
    next: tuple[Route, ...] = ()
    back: str | None = None
    retry: Retry | None = None
    on_no_input: Route | None = None
    record: RecordSpec | None = None
    queue: str | None = None  # transfer: a queue name, or None for the queue of the issue
    priority: int = 0
    reason: str | None = None
    speech: str | None = None  # menu: "options" (match what is said to the options) or "yes_no"

    @property
    def waits_for_input(self) -> bool:
        return self.type in INPUT_TYPES

    @property
    def is_final(self) -> bool:
        return self.type in FINAL_TYPES


@dataclass(frozen=True)
class Keys:
    """The phone-menu conventions: which key reaches a human, repeats, goes back, ends entry."""

    agent: str = "0"
    repeat: str = "9"
    back: str = "*"
    finish: str = "#"


@dataclass(frozen=True)
class Phrases:
    """Templates that turn options into announcements (``{label}`` and ``{key}``), and the
    lines said outside any state, as written. A flow that answers calls needs all three of
    those (``validation.answering_problems``); the others may leave them out."""

    option: Text
    agent: Text
    repeat: Text
    back: Text
    confirm: Text | None = None  # "You said {label}, is that right?" after unclear speech
    apology: Text | None = None  # anything went wrong: said in every language, then an agent
    restart: Text | None = None  # a call the IVR lost track of: every language, then start over
    connecting: Text | None = None  # to the caller, in their language, as an agent takes them


# Phrases said as written, outside any state, that a flow answering calls must have.
ANSWERING_PHRASES = ("apology", "restart", "connecting")


@dataclass(frozen=True)
class Hints:
    """Words that bias speech recognition (``<Gather hints>``) beyond a menu's own labels and
    synonyms, per language."""

    yes_no: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # yes/no questions


@dataclass(frozen=True)
class Spoken:
    """What callers say besides a menu's options, per language: how they ask for a person
    (``agent``: words, ``agent_examples``: whole phrases; the agent key in every menu that takes
    speech), how a confirmation names a person (``agent_label``) and sentences no option serves
    (``none``: the trained matcher's "none of these")."""

    agent: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    agent_examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    none: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # How "Did you mean …?" names a person when a spoken request for one is unclear; without
    # it such a request is asked again.
    agent_label: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Issue:
    """What a caller can call about: its label (for agents and records) and its queue."""

    id: str
    label: Text
    queue: str


@dataclass(frozen=True)
class Queue:
    id: str
    hold: Text
    path: str = ""
    settings: QueueSettings = QueueSettings()
    hours: Hours | None = None  # None: the flow's hours
    dial: str | None = None  # ring this agent phone (<Dial>) instead of queueing


@dataclass(frozen=True)
class Waiting:
    """What callers hear while they wait (the Enqueue waitUrl): ``{position}``, ``{minutes}``."""

    position: Text
    offer_callback: Text


@dataclass(frozen=True)
class Budgets:
    """Limits on a caller's time (flow ``budgets``), checked by ``ivr check``; None: no limit.

    ``agent_within_s``: seconds of speech a caller hears in a state before being told how to
    reach an agent; ``agent_keys``: key presses from the greeting to an agent;
    ``menu_options``: options per menu; ``prompt_s``: seconds of prompt before each self-help
    answer, on the longest way there (``ivr.flow.budgets`` computes the figures)."""

    agent_within_s: float | None = None
    agent_keys: int | None = None
    menu_options: int | None = None
    prompt_s: float | None = None


# Where a call goes when the agent queue is done with it (flow ``queue_results``).
QUEUE_RESULTS = ("closed", "bridged", "leave", "failed")


@dataclass(frozen=True)
class Flow:
    """One parsed flow file."""

    name: str
    file: str
    start: str
    languages: tuple[str, ...]
    keys: Keys
    phrases: Phrases
    retry: Retry
    issues: Mapping[str, Issue]
    queues: Mapping[str, Queue]
    labels: Mapping[str, Mapping[str, Text]]
    states: Mapping[str, State]
    agent_state: str = "agent"
    hours: Hours = Hours()
    waiting: Waiting | None = None
    queue_results: Mapping[str, str] = field(default_factory=dict)
    hints: Hints = Hints()
    spoken: Spoken = Spoken()
    # Texts sent to the caller (an SMS), not said: name -> text per language.
    messages: Mapping[str, Text] = field(default_factory=dict)
    budgets: Budgets = Budgets()
    # Where each key was written in ``file``, so later checks can name the line too.
    lines: KeyLines = field(default_factory=KeyLines, compare=False, repr=False)

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def retry_for(self, state: State) -> Retry:
        return state.retry or self.retry

    def hours_of(self, queue: str) -> Hours:
        found = self.queues.get(queue)
        return found.hours if found is not None and found.hours is not None else self.hours
