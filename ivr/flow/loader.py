"""Strict loading of ``flows/*.yaml`` into ``spec`` dataclasses.

Owns the file format: which keys exist where, their types and defaults. Every problem is
collected (not just the first) and names the file, line and key path, with the allowed keys
for an unknown one. Cross-references between parts of a flow are ``validation``'s job, not
this one's. Depends on ``flow.spec``, ``flow.hours``, ``errors``, ``yamlstrict`` (which reads the
YAML and knows each key's line) and ``voice.languages`` (the languages a flow may use) only.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ivr.errors import FlowValidationError
from ivr.errors import Problem
from ivr.errors import YamlError
from ivr.flow.hours import QUEUE_KEYS
from ivr.flow.hours import Hours
from ivr.flow.hours import QueueSettings
from ivr.flow.hours import parse_hours
from ivr.flow.hours import parse_queue_settings
from ivr.flow.spec import ANSWERING_PHRASES
from ivr.flow.spec import QUEUE_RESULTS
from ivr.flow.spec import Budgets
from ivr.flow.spec import Call
from ivr.flow.spec import Flow
from ivr.flow.spec import Gather
from ivr.flow.spec import Hints
from ivr.flow.spec import Issue
from ivr.flow.spec import Keys
from ivr.flow.spec import Option
from ivr.flow.spec import Phrases
from ivr.flow.spec import Queue
from ivr.flow.spec import RecordSpec
from ivr.flow.spec import Retry
from ivr.flow.spec import Route
from ivr.flow.spec import Spoken
from ivr.flow.spec import State
from ivr.flow.spec import Text
from ivr.flow.spec import Waiting
from ivr.voice.languages import CODES
from ivr.yamlstrict import KeyLines
from ivr.yamlstrict import load

TOP_KEYS = (
    "flow",
    "start",
    "languages",
    "keys",
    "phrases",
    "hints",
    "spoken",
    "retry",
    "issues",
    "queues",
    "labels",
    "messages",
    "agent_state",
    "hours",
    "waiting",
    "queue_results",
    "budgets",
    "states",
)
STATE_TYPES = ("menu", "entry", "say", "route", "record", "transfer", "hangup")
# Keys each state type accepts, beyond "type".
STATE_KEYS: Mapping[str, tuple[str, ...]] = {
    "menu": (
        "prompt",
        "bilingual",
        "do",
        "options",
        "gather",
        "back",
        "retry",
        "on_no_input",
        "speech",
    ),
    "entry": ("prompt", "do", "gather", "save_as", "secret", "next", "back", "retry"),
    "say": ("prompt", "do", "next"),
    "route": ("do", "next"),
    "record": ("prompt", "do", "record", "next", "retry"),
    "transfer": ("prompt", "do", "queue", "priority", "reason"),
    "hangup": ("prompt", "do"),
}
OPTION_KEYS = ("key", "label", "line", "goto", "do", "issue", "lang", "synonyms", "examples")
ROUTE_KEYS = ("goto", "when", "do", "reason")
GATHER_KEYS = ("timeout", "finish_on_key", "min_digits", "max_digits")
RETRY_KEYS = ("attempts", "no_input", "no_match", "exhausted")
KEYS_KEYS = ("agent", "repeat", "back", "finish")
PHRASE_KEYS = ("option", "agent", "repeat", "back", "confirm", *ANSWERING_PHRASES)
REQUIRED_PHRASES = ("option", "agent", "repeat", "back")
HINT_KEYS = ("yes_no",)
SPOKEN_KEYS = ("agent", "agent_examples", "none", "agent_label")
RECORD_KEYS = ("max_length", "finish_on_key", "timeout", "status_callback")
QUEUE_TEXT_KEYS = ("hold",)
QUEUE_ALL_KEYS = ("hold", "hours", "dial", *QUEUE_KEYS)
WAITING_KEYS = ("position", "offer_callback")
BUDGET_KEYS = ("agent_within_s", "agent_keys", "menu_options", "prompt_s")
SPEECH_MODES = ("options", "yes_no")
PHONE_KEYS = frozenset("0123456789*#")


class _Missing:
    """What ``_Reader.require`` returns for a missing key, already reported: the readers
    (``string``, ``text``...) pass it over silently instead of adding a second problem."""


MISSING: Any = _Missing()


class _Reader:
    """Walks one parsed YAML document, collecting problems with their key paths."""

    def __init__(self, file: str, lines: KeyLines) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message, self.lines.line_of(path)))

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.problem(path, f"expected a mapping, got {_kind(value)}")
            return {}
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or key not in allowed:
                # YAML 1.1 reads a bare `on:` as the boolean true: name it as it was written.
                name = "on" if key is True else str(key)
                shown = "on (YAML reads a bare on: as true)" if key is True else repr(key)
                self.problem(
                    _join(path, name), f"unknown key {shown}; allowed: {', '.join(allowed)}"
                )
                continue
            out[key] = item
        return out

    def require(self, data: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in data or data[key] is None:
            self.problem(_join(path, key), "missing")
            return MISSING
        return data[key]

    def string(self, value: Any, path: str) -> str | None:
        if value is MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problem(path, f"expected text, got {_kind(value)}")
            return None
        return str(value)

    def integer(self, value: Any, path: str, *, minimum: int = 0) -> int | None:
        if value is MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"expected a whole number, got {_kind(value)}")
            return None
        if value < minimum:
            self.problem(path, f"must be at least {minimum}, got {value}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.problem(path, f"expected true or false, got {_kind(value)}")
            return False
        return value

    def key(self, value: Any, path: str) -> str | None:
        text = self.string(value, path)
        if text is None:
            return None
        if len(text) != 1 or text not in PHONE_KEYS:
            self.problem(path, f"a key is one of 0-9, * or #, got {text!r}")
            return None
        return text

    def text(self, value: Any, path: str, languages: tuple[str, ...]) -> Text:
        """A text in each language. Missing languages are ``validation``'s to report."""
        if value is MISSING:
            return {}
        if not isinstance(value, Mapping):
            self.problem(
                path, f"expected a text per language ({', '.join(languages)}), got {_kind(value)}"
            )
            return {}
        out: dict[str, str] = {}
        for lang, item in value.items():
            if lang not in languages:
                self.problem(
                    _join(path, str(lang)),
                    f"unknown language {lang!r}; allowed: {', '.join(languages)}",
                )
                continue
            words = self.string(item, _join(path, str(lang)))
            if words is not None:
                out[str(lang)] = words
        return out

    def call(self, value: Any, path: str) -> Call | None:
        """``name`` or ``{name: argument}``."""
        if isinstance(value, str):
            return Call(value, None, path)
        if isinstance(value, Mapping) and len(value) == 1:
            ((name, arg),) = value.items()
            if isinstance(name, str):
                return Call(name, arg, path)
        self.problem(path, f"expected a name or {{name: argument}}, got {_kind(value)}")
        return None

    def calls(self, value: Any, path: str) -> tuple[Call, ...]:
        items = value if isinstance(value, list) else [value]
        found = (
            self.call(item, f"{path}[{i}]" if isinstance(value, list) else path)
            for i, item in enumerate(items)
        )
        return tuple(c for c in found if c is not None)

    def route(self, value: Any, path: str) -> Route | None:
        data = self.mapping(value, path, ROUTE_KEYS)
        if not isinstance(value, Mapping):
            return None
        goto = self.string(self.require(data, "goto", path), _join(path, "goto"))
        if goto is None:
            return None
        when = self.call(data["when"], _join(path, "when")) if "when" in data else None
        reason = self.string(data["reason"], _join(path, "reason")) if "reason" in data else None
        do = self.calls(data["do"], _join(path, "do")) if "do" in data else ()
        return Route(goto, when, do, reason, path)

    def routes(self, value: Any, path: str) -> tuple[Route, ...]:
        if isinstance(value, str):
            return (Route(value, path=path),)
        if not isinstance(value, list) or not value:
            got = "an empty list" if value == [] else _kind(value)
            self.problem(path, f"expected a state name or a list of routes, got {got}")
            return ()
        found = (self.route(item, f"{path}[{i}]") for i, item in enumerate(value))
        return tuple(r for r in found if r is not None)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def load_flow(path: Path) -> Flow:
    """Parse one flow file. Raises ``FlowValidationError`` listing every problem found."""
    flow, problems = parse_flow(path)
    if problems or flow is None:
        raise FlowValidationError(problems)
    return flow


def parse_flow(path: Path) -> tuple[Flow | None, list[Problem]]:
    """Parse one flow file, returning the flow (if it could be built) and every problem."""
    file = str(path)
    try:
        document = load(path.read_text(encoding="utf-8"), file)
    except OSError as exc:
        return None, [Problem(file, "", f"cannot read: {exc.strerror}")]
    except YamlError as exc:
        problem = Problem(file, exc.key, f"not valid YAML: {exc.problem}", exc.line, exc.column)
        return None, [problem]
    reader = _Reader(file, document.lines)
    flow = _read_flow(reader, document.data, path.stem)
    return flow, reader.problems


def _read_flow(r: _Reader, document: Any, default_name: str) -> Flow | None:
    top = r.mapping(document, "", TOP_KEYS)
    if not isinstance(document, Mapping):
        return None
    languages = _read_languages(r, top.get("languages", ["zh-CN", "en-US"]))
    name = r.string(top.get("flow", default_name), "flow") or default_name
    start = r.string(r.require(top, "start", ""), "start")
    states_raw = r.require(top, "states", "")
    states: dict[str, State] = {}
    if states_raw is MISSING:
        pass
    elif isinstance(states_raw, Mapping):
        for state_id, raw in states_raw.items():
            state = _read_state(r, str(state_id), raw, languages)
            if state is not None:
                states[state.id] = state
    else:
        r.problem("states", f"expected a mapping of state names to states, got {_kind(states_raw)}")
    retry = _read_retry(r, r.require(top, "retry", ""), "retry", languages)
    phrases = _read_phrases(r, r.require(top, "phrases", ""), languages)
    if start is None or retry is None or phrases is None:
        return None
    return Flow(
        name=name,
        file=r.file,
        start=start,
        languages=languages,
        keys=_read_keys(r, top.get("keys", {})),
        phrases=phrases,
        retry=retry,
        issues=_read_issues(r, top.get("issues", {}), languages),
        queues=_read_queues(r, top.get("queues", {}), languages),
        labels=_read_labels(r, top.get("labels", {}), languages),
        states=states,
        agent_state=r.string(top.get("agent_state", "agent"), "agent_state") or "agent",
        hours=_read_hours(r, top["hours"], "hours") if "hours" in top else Hours(),
        waiting=_read_waiting(r, top["waiting"], languages) if "waiting" in top else None,
        queue_results=_read_queue_results(r, top.get("queue_results", {})),
        lines=r.lines,
        hints=_read_hints(r, top["hints"], languages) if "hints" in top else Hints(),
        spoken=_read_spoken(r, top["spoken"], languages) if "spoken" in top else Spoken(),
        messages=_read_messages(r, top.get("messages", {}), languages),
        budgets=_read_budgets(r, top["budgets"]) if "budgets" in top else Budgets(),
    )


def _read_languages(r: _Reader, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        r.problem("languages", f"expected a list of language tags such as [{', '.join(CODES)}]")
        return CODES
    for i, code in enumerate(value):
        if code not in CODES:
            r.problem(
                f"languages[{i}]",
                f"unsupported language {code!r}; supported: {', '.join(CODES)} "
                "(a language is added in ivr/voice/languages.py)",
            )
    return tuple(value)


def _read_keys(r: _Reader, value: Any) -> Keys:
    data = r.mapping(value, "keys", KEYS_KEYS)
    found = {k: r.key(v, f"keys.{k}") for k, v in data.items()}
    return Keys(**{k: v for k, v in found.items() if v is not None})


def _read_phrases(r: _Reader, value: Any, languages: tuple[str, ...]) -> Phrases | None:
    if value is MISSING:
        return None
    data = r.mapping(value, "phrases", PHRASE_KEYS)
    texts = {
        k: r.text(r.require(data, k, "phrases"), f"phrases.{k}", languages)
        for k in REQUIRED_PHRASES
    }
    optional = {
        k: r.text(data[k], f"phrases.{k}", languages)
        for k in ("confirm", *ANSWERING_PHRASES)
        if k in data
    }
    return Phrases(**texts, **optional)


def _read_hints(r: _Reader, value: Any, languages: tuple[str, ...]) -> Hints:
    data = r.mapping(value, "hints", HINT_KEYS)
    found = {k: _read_words(r, v, f"hints.{k}", languages) for k, v in data.items()}
    return Hints(**found)


def _read_spoken(r: _Reader, value: Any, languages: tuple[str, ...]) -> Spoken:
    data = r.mapping(value, "spoken", SPOKEN_KEYS)
    found: dict[str, Any] = {
        k: _read_words(r, v, f"spoken.{k}", languages)
        for k, v in data.items()
        if k != "agent_label"
    }
    if "agent_label" in data:
        found["agent_label"] = r.text(data["agent_label"], "spoken.agent_label", languages)
    return Spoken(**found)


def _read_messages(r: _Reader, value: Any, languages: tuple[str, ...]) -> dict[str, Text]:
    if not isinstance(value, Mapping):
        r.problem("messages", f"expected a mapping of message names, got {_kind(value)}")
        return {}
    return {str(k): r.text(v, f"messages.{k}", languages) for k, v in value.items()}


def _read_retry(r: _Reader, value: Any, path: str, languages: tuple[str, ...]) -> Retry | None:
    if value is None or value is MISSING:
        return None
    data = r.mapping(value, path, RETRY_KEYS)
    attempts = r.integer(r.require(data, "attempts", path), f"{path}.attempts", minimum=1)
    texts = {
        k: r.text(r.require(data, k, path), f"{path}.{k}", languages)
        for k in ("no_input", "no_match", "exhausted")
    }
    return Retry(attempts=attempts or 3, **texts)


def _read_issues(r: _Reader, value: Any, languages: tuple[str, ...]) -> dict[str, Issue]:
    if not isinstance(value, Mapping):
        r.problem("issues", f"expected a mapping of issue names, got {_kind(value)}")
        return {}
    out: dict[str, Issue] = {}
    for issue_id, raw in value.items():
        path = f"issues.{issue_id}"
        data = r.mapping(raw, path, ("label", "queue"))
        label = r.text(r.require(data, "label", path), f"{path}.label", languages)
        queue = r.string(r.require(data, "queue", path), f"{path}.queue")
        if queue is not None:
            out[str(issue_id)] = Issue(str(issue_id), label, queue)
    return out


def _read_queues(r: _Reader, value: Any, languages: tuple[str, ...]) -> dict[str, Queue]:
    if not isinstance(value, Mapping):
        r.problem("queues", f"expected a mapping of queue names, got {_kind(value)}")
        return {}
    out: dict[str, Queue] = {}
    for queue_id, raw in value.items():
        path = f"queues.{queue_id}"
        data = r.mapping(raw, path, QUEUE_ALL_KEYS)
        hold = r.text(r.require(data, "hold", path), f"{path}.hold", languages)
        hours = _read_hours(r, data["hours"], f"{path}.hours") if "hours" in data else None
        dial = r.string(data["dial"], f"{path}.dial") if "dial" in data else None
        settings = QueueSettings()
        try:
            settings = parse_queue_settings(
                {k: v for k, v in data.items() if k in QUEUE_KEYS}, path
            )
        except ValueError as exc:
            r.problem(path, str(exc))
        out[str(queue_id)] = Queue(str(queue_id), hold, path, settings, hours, dial)
    return out


def _read_hours(r: _Reader, value: Any, path: str) -> Hours:
    if not isinstance(value, Mapping):
        r.problem(path, f"expected opening hours (timezone, open, holidays), got {_kind(value)}")
        return Hours()
    try:
        return parse_hours(value, path)
    except ValueError as exc:
        r.problem(path, str(exc).removeprefix(f"{path}: ").removeprefix(f"{path}."))
        return Hours()


def _read_waiting(r: _Reader, value: Any, languages: tuple[str, ...]) -> Waiting | None:
    data = r.mapping(value, "waiting", WAITING_KEYS)
    if not isinstance(value, Mapping):
        return None
    texts = {
        k: r.text(r.require(data, k, "waiting"), f"waiting.{k}", languages) for k in WAITING_KEYS
    }
    return Waiting(**texts)


def _read_budgets(r: _Reader, value: Any) -> Budgets:
    """``budgets: {agent_within_s: 30, agent_keys: 1, menu_options: 9, prompt_s: 45}``:
    seconds may be whole or decimal, counts are whole; each at least 0 (or 1 for counts)."""
    data = r.mapping(value, "budgets", BUDGET_KEYS)
    seconds: dict[str, float | None] = {}
    for key in ("agent_within_s", "prompt_s"):
        raw = data.get(key)
        if raw is None:
            seconds[key] = None
        elif isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
            r.problem(f"budgets.{key}", f"expected a number of seconds above 0, got {raw!r}")
            seconds[key] = None
        else:
            seconds[key] = float(raw)
    counts = {
        key: r.integer(data[key], f"budgets.{key}", minimum=1) if key in data else None
        for key in ("agent_keys", "menu_options")
    }
    return Budgets(
        agent_within_s=seconds["agent_within_s"],
        agent_keys=counts["agent_keys"],
        menu_options=counts["menu_options"],
        prompt_s=seconds["prompt_s"],
    )


def _read_queue_results(r: _Reader, value: Any) -> dict[str, str]:
    data = r.mapping(value, "queue_results", QUEUE_RESULTS)
    found = {k: r.string(v, f"queue_results.{k}") for k, v in data.items()}
    return {k: v for k, v in found.items() if v is not None}


def _read_labels(r: _Reader, value: Any, languages: tuple[str, ...]) -> dict[str, dict[str, Text]]:
    if not isinstance(value, Mapping):
        r.problem("labels", f"expected a mapping of label groups, got {_kind(value)}")
        return {}
    out: dict[str, dict[str, Text]] = {}
    for group, entries in value.items():
        if not isinstance(entries, Mapping):
            r.problem(f"labels.{group}", f"expected a mapping of labels, got {_kind(entries)}")
            continue
        out[str(group)] = {
            str(k): r.text(v, f"labels.{group}.{k}", languages) for k, v in entries.items()
        }
    return out


def _read_state(r: _Reader, state_id: str, raw: Any, languages: tuple[str, ...]) -> State | None:
    path = f"states.{state_id}"
    if not isinstance(raw, Mapping):
        r.problem(path, f"expected a mapping, got {_kind(raw)}")
        return None
    kind = raw.get("type")
    if kind not in STATE_TYPES:
        got = "missing" if kind is None else f"got {kind!r}"
        r.problem(f"{path}.type", f"expected one of {', '.join(STATE_TYPES)}, {got}")
        return None
    data = r.mapping({k: v for k, v in raw.items() if k != "type"}, path, STATE_KEYS[kind])
    fields = {
        key: _STATE_FIELDS[key](r, value, f"{path}.{key}", languages, kind)
        for key, value in data.items()
    }
    if kind == "entry" and "gather" not in data:
        r.problem(f"{path}.gather", "missing (an entry needs min_digits and max_digits)")
    if kind == "record" and "record" not in data:
        fields["record"] = RecordSpec()
    return State(id=state_id, type=kind, path=path, **fields)


# How each key of a state is read: (reader, value, key path, languages, state type) -> field.
_FieldReader = Callable[[_Reader, Any, str, tuple[str, ...], str], Any]
_STATE_FIELDS: Mapping[str, _FieldReader] = {
    "prompt": lambda r, value, path, languages, kind: r.text(value, path, languages),
    "bilingual": lambda r, value, path, languages, kind: r.boolean(value, path),
    "do": lambda r, value, path, languages, kind: r.calls(value, path),
    "options": lambda r, value, path, languages, kind: _read_options(r, value, path, languages),
    "gather": lambda r, value, path, languages, kind: _read_gather(r, value, path, kind),
    "save_as": lambda r, value, path, languages, kind: r.string(value, path),
    "back": lambda r, value, path, languages, kind: r.string(value, path),
    "queue": lambda r, value, path, languages, kind: r.string(value, path),
    "reason": lambda r, value, path, languages, kind: r.string(value, path),
    "secret": lambda r, value, path, languages, kind: r.boolean(value, path),
    "priority": lambda r, value, path, languages, kind: r.integer(value, path) or 0,
    "next": lambda r, value, path, languages, kind: r.routes(value, path),
    "retry": lambda r, value, path, languages, kind: _read_retry(r, value, path, languages),
    "on_no_input": lambda r, value, path, languages, kind: r.route(value, path),
    "record": lambda r, value, path, languages, kind: _read_record(r, value, path),
    "speech": lambda r, value, path, languages, kind: _read_speech(r, value, path),
}


def _read_speech(r: _Reader, value: Any, path: str) -> str | None:
    if value is False:
        return None
    if value not in SPEECH_MODES:
        r.problem(path, f"expected one of {', '.join(SPEECH_MODES)} (or false), got {value!r}")
        return None
    return str(value)


def _read_options(
    r: _Reader, value: Any, path: str, languages: tuple[str, ...]
) -> tuple[Option, ...]:
    if not isinstance(value, list):
        r.problem(path, f"expected a list of options, got {_kind(value)}")
        return ()
    options: list[Option] = []
    for i, raw in enumerate(value):
        opath = f"{path}[{i}]"
        data = r.mapping(raw, opath, OPTION_KEYS)
        if not isinstance(raw, Mapping):
            continue
        key = r.key(r.require(data, "key", opath), f"{opath}.key")
        label = r.text(r.require(data, "label", opath), f"{opath}.label", languages)
        goto = r.string(r.require(data, "goto", opath), f"{opath}.goto")
        if key is None or goto is None:
            continue
        options.append(
            Option(
                key=key,
                label=label,
                goto=goto,
                do=r.calls(data["do"], f"{opath}.do") if "do" in data else (),
                issue=r.string(data["issue"], f"{opath}.issue") if "issue" in data else None,
                lang=r.string(data["lang"], f"{opath}.lang") if "lang" in data else None,
                synonyms=_read_words(r, data.get("synonyms", {}), f"{opath}.synonyms", languages),
                examples=_read_words(r, data.get("examples", {}), f"{opath}.examples", languages),
                line=r.text(data["line"], f"{opath}.line", languages) if "line" in data else {},
                path=opath,
            )
        )
    return tuple(options)


def _read_words(
    r: _Reader, value: Any, path: str, languages: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """A list of words per language: an option's synonyms, recognition hints."""
    if not isinstance(value, Mapping):
        r.problem(path, f"expected a list of words per language, got {_kind(value)}")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for lang, words in value.items():
        if lang not in languages:
            r.problem(
                f"{path}.{lang}", f"unknown language {lang!r}; allowed: {', '.join(languages)}"
            )
        elif not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            r.problem(f"{path}.{lang}", "expected a list of words")
        else:
            out[str(lang)] = tuple(words)
    return out


def _counts_and_finish_key(
    r: _Reader, data: Mapping[str, Any], path: str, counts: tuple[str, ...]
) -> dict[str, Any]:
    """The whole-number keys (at least 1) and ``finish_on_key`` of a gather or record."""
    fields: dict[str, Any] = {}
    for key in counts:
        if key in data:
            number = r.integer(data[key], f"{path}.{key}", minimum=1)
            if number is not None:
                fields[key] = number
    if "finish_on_key" in data:
        finish = r.key(data["finish_on_key"], f"{path}.finish_on_key")
        if finish is not None:
            fields["finish_on_key"] = finish
    return fields


def _read_gather(r: _Reader, value: Any, path: str, kind: str) -> Gather:
    data = r.mapping(value, path, GATHER_KEYS)
    fields = _counts_and_finish_key(r, data, path, ("timeout", "min_digits", "max_digits"))
    if kind == "entry":
        for key in ("min_digits", "max_digits"):
            if key not in data:
                r.problem(f"{path}.{key}", "missing (an entry needs min_digits and max_digits)")
    gather = Gather(**fields)
    if gather.min_digits > gather.max_digits:
        r.problem(
            path, f"min_digits ({gather.min_digits}) is more than max_digits ({gather.max_digits})"
        )
    return gather


def _read_record(r: _Reader, value: Any, path: str) -> RecordSpec:
    data = r.mapping(value, path, RECORD_KEYS)
    fields = _counts_and_finish_key(r, data, path, ("max_length", "timeout"))
    if "status_callback" in data:
        fields["status_callback"] = r.boolean(data["status_callback"], f"{path}.status_callback")
    return RecordSpec(**fields)
