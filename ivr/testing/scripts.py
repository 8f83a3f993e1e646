"""Call scripts: strict parsing of ``tests/calls/*.yaml`` and running them against a simulator.

Owns the script format (what a non-programmer writes to describe one call: what the caller
does, what the IVR must say, how the call must end and what must have changed), its strict
loader (unknown keys, wrong types and unknown step kinds are a ``ScriptError`` naming the file,
line and key path; the YAML itself is read by ``ivr.yamlstrict``) and ``run_script``, which
drives an ``ivr.simulator.Call`` step by step.

Depends on ``ivr.testing.simulator`` (the public caller API), ``ivr.yamlstrict`` and
``ivr.errors`` only. It must not
import Flask, the engine or the flows: a script only knows what a caller can hear and do.
Reporting (colours, diffs, coverage) lives in ``ivr.testing.replay``.

A script::

    name: Li Na unlocks her locked account, in Chinese
    from: "+8613800000002"
    lang: zh-CN
    steps:
      - expect: 中文服务请按1                 # substring of what the IVR said since the last action
      - press: "1"
      - press: {keys: "2", early: true}       # barge in: cut the Gather's first prompt off
      - expect: {regex: "密码.*6位"}
      - expect: {fuzzy: "您的账户已被锁定", threshold: 0.8}
      - say: 我的账户被锁了
      - wait                                  # silence; `wait: 3` is three silences
      - hold: 2                               # two hold cycles in a queue
      - agent                                 # an agent answers; `agent: {seconds: 90}`
      - agent: {pickup: "/agent/pickup?queue=general"}   # through the agent's pickup URL
      - agent: {result: queue-full}           # the queue ends without an agent
      - record: {seconds: 8, finish: "#"}
      - dial: busy                            # how a <Dial> ended; or {status, duration}
      - expect_state: main_menu
      - hangup
    outcome: {kind: queued, queue: security, recording: true, status: completed}
    effects:
      - account: {phone: "+8613800000002", status: active}
    callback:                                 # after the call: time passes, the dialer runs,
      after: 600                              # (seconds; default 0) and the same person
      answer: human                           # answers (or machine_end_beep, busy, no-answer…)
      steps: [press: "1", agent]
      outcome: {kind: hangup}

A ``callback`` needs a simulator whose ``dialer`` runs the application's callback dialer
(``ivr.testing.factories`` wires one in-process); the call it places to the script's
``from`` number is answered as the section says, and its transcript is reported after the
first call's.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from typing import Literal

from ivr.errors import ScriptError
from ivr.errors import SimulationError
from ivr.errors import YamlError
from ivr.phones import is_caller_id
from ivr.testing.simulator import ANSWERED_BY
from ivr.testing.simulator import NETWORK_STATUSES
from ivr.testing.simulator import QUEUE_ENDINGS
from ivr.testing.simulator import Call
from ivr.testing.simulator import CallResult
from ivr.testing.simulator import Outcome
from ivr.testing.simulator import Simulator
from ivr.yamlstrict import load

# ---------------------------------------------------------------------------------------------
# The script model

ExpectMode = Literal["substring", "regex", "fuzzy"]
OutcomeKind = Literal[
    "hangup", "caller-hangup", "queued", "bridged", "dialed", "rejected", "unanswered"
]

OUTCOME_KINDS: tuple[str, ...] = (
    "hangup",
    "caller-hangup",
    "queued",
    "bridged",
    "dialed",
    "rejected",
    "unanswered",
)
#: The CallStatus a status callback can end a call with (``outcome: {status: ...}``).
CALL_STATUSES: tuple[str, ...] = ("completed", "busy", "no-answer", "failed", "canceled")
DIAL_STATUSES: tuple[str, ...] = (
    "completed",
    "answered",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True)
class Expect:
    """The IVR must have said something (since the caller's last action)."""

    mode: ExpectMode
    text: str
    threshold: float = DEFAULT_THRESHOLD

    def describe(self) -> str:
        if self.mode == "substring":
            return f"expect: {self.text}"
        if self.mode == "regex":
            return f"expect: {{regex: {_quote(self.text)}}}"
        return f"expect: {{fuzzy: {_quote(self.text)}, threshold: {self.threshold:g}}}"


@dataclass(frozen=True)
class ExpectState:
    """The IVR's reported state (``X-IVR-State``) must now be ``state``."""

    state: str

    def describe(self) -> str:
        return f"expect_state: {self.state}"


@dataclass(frozen=True)
class Press:
    keys: str
    early: bool = False  # pressed while the Gather's first prompt still plays (barge-in)

    def describe(self) -> str:
        if self.early:
            return f"press: {{keys: {_quote(self.keys)}, early: true}}"
        return f"press: {_quote(self.keys)}"


@dataclass(frozen=True)
class Say:
    text: str
    confidence: float | None = None
    early: bool = False  # spoken over the Gather's first prompt (barge-in)

    def describe(self) -> str:
        if self.confidence is None and not self.early:
            return f"say: {self.text}"
        parts = [f"text: {_quote(self.text)}"]
        if self.confidence is not None:
            parts.append(f"confidence: {self.confidence:g}")
        if self.early:
            parts.append("early: true")
        return "say: {" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Wait:
    """Silence, ``times`` times in a row."""

    times: int = 1

    def describe(self) -> str:
        return "wait" if self.times == 1 else f"wait: {self.times}"


@dataclass(frozen=True)
class Hold:
    cycles: int = 1
    position: int = 1  # the caller's place in line (QueuePosition, CurrentQueueSize)

    def describe(self) -> str:
        if self.position == 1:
            return f"hold: {self.cycles}"
        return f"hold: {{cycles: {self.cycles}, position: {self.position}}}"


@dataclass(frozen=True)
class Agent:
    """An agent answers the queued caller and talks for ``seconds`` (``None``: the default),
    picking up through ``pickup`` (the agent's TwiML URL) when given; or, with ``result``,
    the queue ends without an agent (``queue-full``, ``error``, ...)."""

    seconds: int | None = None
    pickup: str | None = None
    result: str | None = None

    def describe(self) -> str:
        parts = []
        if self.result is not None:
            parts.append(f"result: {self.result}")
        if self.seconds is not None:
            parts.append(f"seconds: {self.seconds}")
        if self.pickup is not None:
            parts.append(f"pickup: {_quote(self.pickup)}")
        return "agent" if not parts else "agent: {" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Record:
    seconds: int = 5
    finish: str = "#"

    def describe(self) -> str:
        return f"record: {{seconds: {self.seconds}, finish: {_quote(self.finish)}}}"


@dataclass(frozen=True)
class Dial:
    """The party a ``<Dial>`` rang: how it ended and how long it talked."""

    status: str = "completed"
    duration: int | None = None

    def describe(self) -> str:
        if self.duration is None:
            return f"dial: {self.status}"
        return f"dial: {{status: {self.status}, duration: {self.duration}}}"


@dataclass(frozen=True)
class Hangup:
    def describe(self) -> str:
        return "hangup"


Step = Expect | ExpectState | Press | Say | Wait | Hold | Agent | Record | Dial | Hangup


@dataclass(frozen=True)
class OutcomeExpectation:
    """How the call must end. ``None`` fields are not checked."""

    kind: str
    queue: str | None = None
    number: str | None = None
    recording: bool | None = None
    status: str | None = None  # the CallStatus of the final status callback

    def describe(self) -> str:
        parts = [f"kind: {self.kind}"]
        if self.status is not None:
            parts.append(f"status: {self.status}")
        if self.queue is not None:
            parts.append(f"queue: {self.queue}")
        if self.number is not None:
            parts.append(f"number: {_quote(self.number)}")
        if self.recording is not None:
            parts.append(f"recording: {'true' if self.recording else 'false'}")
        return "outcome: {" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class EffectExpectation:
    """A lasting effect, checked after the call by the named check with these arguments."""

    name: str
    args: Mapping[str, Any]

    def describe(self) -> str:
        inner = ", ".join(f"{key}: {value}" for key, value in self.args.items())
        return f"{self.name}: {{{inner}}}"


@dataclass(frozen=True)
class Callback:
    """The call back the caller asked for: ``after`` seconds pass, the dialer runs, and the
    call to the caller is answered by ``answer`` (a person, a machine) or ends as a network
    status (busy, no-answer...); then ``steps`` and ``outcome`` as for the first call."""

    steps: tuple[Step, ...]
    after: int = 0
    answer: str = "human"
    outcome: OutcomeExpectation | None = None


@dataclass(frozen=True)
class Script:
    path: str
    name: str
    from_: str
    lang: str
    steps: tuple[Step, ...]
    outcome: OutcomeExpectation | None = None
    effects: tuple[EffectExpectation, ...] = ()
    at: datetime | None = None  # the (simulated) time the call is placed
    network: str | None = None  # the call ends before the IVR answers: busy, canceled, ...
    callback: Callback | None = None  # after the call: the dialer calls the caller back


# ---------------------------------------------------------------------------------------------
# Loading


_TOP_KEYS = (
    "name",
    "from",
    "lang",
    "at",
    "network",
    "steps",
    "outcome",
    "effects",
    "callback",
)
_CALLBACK_KEYS = ("after", "answer", "outcome", "steps")
_STEP_KINDS = (
    "expect",
    "expect_state",
    "press",
    "say",
    "wait",
    "hold",
    "agent",
    "record",
    "dial",
    "hangup",
)
_BARE_STEPS = ("wait", "hold", "agent", "record", "hangup")
_KEYS_RE = re.compile(r"[0-9*#]+")
_LANG_RE = re.compile(r"[a-z]{2,3}-[A-Z]{2}")


def load_script(path: Path) -> Script:
    """Read and strictly check one call script; any problem is a ``ScriptError``.

    The file is read every time; its text is parsed once (``_parsed``): a replay that runs
    the same scripts round after round (a benchmark, a watch loop) re-reads them, and an
    edited script is parsed afresh because its text changed."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(where, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(where, "", f"cannot be read: {exc}") from None
    return _parsed(where, text)


@functools.lru_cache(maxsize=1024)
def _parsed(where: str, text: str) -> Script:
    """The script ``text`` (read from ``where``): a ``Script`` is immutable, so one parse
    serves every load of the same text from the same place. Errors are not cached."""
    try:
        document = load(text, where)
    except YamlError as exc:
        raise ScriptError(
            where, exc.key, f"not valid YAML: {exc.problem}", line=exc.line, column=exc.column
        ) from None
    try:
        return parse_script(document.data, where)
    except ScriptError as exc:
        # parse_script sees data only: the line of the key it names comes from the file.
        raise ScriptError(
            exc.path, exc.key, exc.message, line=document.lines.line_of(exc.key)
        ) from None


def parse_script(data: object, path: str) -> Script:
    """Check already-loaded YAML data (``path`` only names the file in errors)."""
    top = _mapping(data, path, "", _TOP_KEYS)
    for required in ("name", "from", "steps"):
        if required not in top:
            raise ScriptError(path, required, "is required")
    name = _text(top["name"], path, "name")
    from_ = _text(top["from"], path, "from")
    if not is_caller_id(from_):
        raise ScriptError(
            path, "from", f'{from_!r} is not a phone number; write it quoted, like "+8613800000002"'
        )
    lang = "zh-CN"
    if "lang" in top:
        lang = _text(top["lang"], path, "lang")
        if not _LANG_RE.fullmatch(lang):
            raise ScriptError(
                path, "lang", f"{lang!r} is not a language tag such as zh-CN or en-US"
            )
    raw_steps = top["steps"]
    if not isinstance(raw_steps, list):
        raise ScriptError(path, "steps", f"must be a list of steps, not {_what(raw_steps)}")
    if not raw_steps and "network" not in top:  # a call the network ends has nothing to do
        raise ScriptError(path, "steps", "needs at least one step")
    steps = tuple(_step(item, path, f"steps[{index}]") for index, item in enumerate(raw_steps))
    outcome = _outcome(top["outcome"], path) if "outcome" in top else None
    effects = _effects(top["effects"], path) if "effects" in top else ()
    at = _when(top["at"], path) if "at" in top else None
    network = None
    if "network" in top:
        network = _choice(_text(top["network"], path, "network"), path, "network", NETWORK_STATUSES)
    callback = _callback(top["callback"], path) if "callback" in top else None
    return Script(path, name, from_, lang, steps, outcome, effects, at, network, callback)


def _callback(value: object, path: str) -> Callback:
    spec = _mapping(value, path, "callback", _CALLBACK_KEYS)
    raw_steps = spec.get("steps", [])
    if not isinstance(raw_steps, list):
        raise ScriptError(
            path, "callback.steps", f"must be a list of steps, not {_what(raw_steps)}"
        )
    steps = tuple(
        _step(item, path, f"callback.steps[{index}]") for index, item in enumerate(raw_steps)
    )
    after = 0
    if "after" in spec:
        after = _count(spec["after"], path, "callback.after")
    answer = "human"
    if "answer" in spec:
        answer = _choice(
            _text(spec["answer"], path, "callback.answer"),
            path,
            "callback.answer",
            ANSWERED_BY + NETWORK_STATUSES,
        )
    outcome = None
    if "outcome" in spec:
        outcome = _outcome(spec["outcome"], path, "callback.outcome")
    return Callback(steps, after, answer, outcome)


def _when(value: object, path: str) -> datetime:
    """``at:`` — an ISO 8601 time with its offset, such as 2026-11-23T22:30:00+08:00."""
    found: datetime | None = None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str):
        try:
            found = datetime.fromisoformat(value)
        except ValueError:
            found = None
    if found is None or found.tzinfo is None:
        raise ScriptError(
            path, "at", f"{value!r} is not a time with its offset, like 2026-11-23T22:30:00+08:00"
        )
    return found


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every call script in ``paths``: files as given, folders searched for ``*.yaml``/``*.yml``.

    A path that does not exist is kept, so that loading it reports the problem instead of the
    replay silently passing with one script fewer. Hidden files and folders are skipped.
    """
    found: set[Path] = set()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for candidate in path.rglob("*"):
                relative = candidate.relative_to(path).parts
                if any(part.startswith(".") for part in relative):
                    continue
                if candidate.is_file() and candidate.suffix in (".yaml", ".yml"):
                    found.add(candidate)
        else:
            found.add(path)
    return sorted(found)


def _step(item: object, path: str, key: str) -> Step:
    if isinstance(item, str):
        if item in _BARE_STEPS:
            return _step_value(item, None, path, f"{key}.{item}")
        if item in _STEP_KINDS:
            raise ScriptError(path, f"{key}.{item}", f"needs a value, like `{item}: ...`")
        raise ScriptError(path, key, _unknown("step", item, _STEP_KINDS))
    if not isinstance(item, dict):
        raise ScriptError(path, key, f"a step must be text or a mapping, not {_what(item)}")
    if len(item) != 1:
        names = ", ".join(str(name) for name in item)
        raise ScriptError(
            path, key, f"a step does one thing, found {len(item)} keys ({names}): split them"
        )
    ((kind, value),) = item.items()
    if not isinstance(kind, str) or kind not in _STEP_KINDS:
        raise ScriptError(path, f"{key}.{kind}", _unknown("step", str(kind), _STEP_KINDS))
    return _step_value(kind, value, path, f"{key}.{kind}")


def _step_value(kind: str, value: object, path: str, key: str) -> Step:  # noqa: C901 - one branch per kind
    if kind == "expect":
        return _expect(value, path, key)
    if kind == "expect_state":
        return ExpectState(_text(value, path, key))
    if kind == "press":
        if isinstance(value, dict):
            spec = _mapping(value, path, key, ("early", "keys"))
            if "keys" not in spec:
                raise ScriptError(path, f"{key}.keys", "is required")
            early = _flag(spec.get("early", False), path, f"{key}.early")
            return Press(_keys(spec["keys"], path, f"{key}.keys"), early)
        return Press(_keys(value, path, key))
    if kind == "say":
        return _say(value, path, key)
    if kind == "wait":
        return Wait(1 if value is None else _count(value, path, key))
    if kind == "hold":
        if isinstance(value, dict):
            spec = _mapping(value, path, key, ("cycles", "position"))
            return Hold(
                _count(spec.get("cycles", 1), path, f"{key}.cycles"),
                _count(spec.get("position", 1), path, f"{key}.position"),
            )
        return Hold(1 if value is None else _count(value, path, key))
    if kind == "agent":
        return _agent(value, path, key)
    if kind == "record":
        return _record(value, path, key)
    if kind == "dial":
        return _dial(value, path, key)
    if value is not None:
        raise ScriptError(path, key, f"takes no value (write just `- {kind}`), not {_what(value)}")
    return Hangup()


def _expect(value: object, path: str, key: str) -> Expect:
    if isinstance(value, str):
        return Expect("substring", _text(value, path, key))
    spec = _mapping(value, path, key, ("contains", "fuzzy", "regex", "threshold"))
    modes = [mode for mode in ("contains", "regex", "fuzzy") if mode in spec]
    if len(modes) != 1:
        raise ScriptError(
            path, key, "give exactly one of contains, regex or fuzzy (or just the text to find)"
        )
    (mode,) = modes
    text = _text(spec[mode], path, f"{key}.{mode}")
    if "threshold" in spec and mode != "fuzzy":
        raise ScriptError(path, f"{key}.threshold", "only a fuzzy expectation takes a threshold")
    if mode == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            raise ScriptError(
                path, f"{key}.regex", f"not a valid regular expression: {exc}"
            ) from None
        return Expect("regex", text)
    if mode == "contains":
        return Expect("substring", text)
    threshold = DEFAULT_THRESHOLD
    if "threshold" in spec:
        threshold = _fraction(spec["threshold"], path, f"{key}.threshold")
    return Expect("fuzzy", text, threshold)


def _say(value: object, path: str, key: str) -> Say:
    if isinstance(value, str) or value is None:
        return Say(_text(value, path, key))
    spec = _mapping(value, path, key, ("confidence", "early", "text"))
    if "text" not in spec:
        raise ScriptError(path, f"{key}.text", "is required")
    confidence = None
    if "confidence" in spec:
        confidence = _fraction(spec["confidence"], path, f"{key}.confidence")
    early = _flag(spec.get("early", False), path, f"{key}.early")
    return Say(_text(spec["text"], path, f"{key}.text"), confidence, early)


def _agent(value: object, path: str, key: str) -> Agent:
    if value is None:
        return Agent()
    spec = _mapping(value, path, key, ("pickup", "result", "seconds"))
    seconds = _count(spec["seconds"], path, f"{key}.seconds") if "seconds" in spec else None
    pickup = _text(spec["pickup"], path, f"{key}.pickup") if "pickup" in spec else None
    result = None
    if "result" in spec:
        result = _choice(
            _text(spec["result"], path, f"{key}.result"), path, f"{key}.result", QUEUE_ENDINGS
        )
        if seconds is not None or pickup is not None:
            raise ScriptError(
                path,
                f"{key}.result",
                "a queue that ends without an agent has no talk seconds and no pickup",
            )
    return Agent(seconds, pickup, result)


def _record(value: object, path: str, key: str) -> Record:
    if value is None:
        return Record()
    if isinstance(value, int) and not isinstance(value, bool):
        return Record(_count(value, path, key))
    spec = _mapping(value, path, key, ("finish", "seconds"))
    seconds = _count(spec["seconds"], path, f"{key}.seconds") if "seconds" in spec else 5
    finish = "#"
    if "finish" in spec:
        raw = spec["finish"]
        if raw is None:
            raise ScriptError(
                path,
                f"{key}.finish",
                'must be a key in quotes, like "#" (YAML reads # as a comment)',
            )
        finish = _text(raw, path, f"{key}.finish")
        if finish != "hangup" and not re.fullmatch(r"[0-9*#]", finish):
            raise ScriptError(
                path, f"{key}.finish", f"{finish!r} is not one key (0-9, * or #) or hangup"
            )
    return Record(seconds, finish)


def _dial(value: object, path: str, key: str) -> Dial:
    if isinstance(value, str):
        return Dial(_choice(value, path, key, DIAL_STATUSES))
    spec = _mapping(value, path, key, ("duration", "status"))
    status = "completed"
    if "status" in spec:
        status = _choice(
            _text(spec["status"], path, f"{key}.status"), path, f"{key}.status", DIAL_STATUSES
        )
    duration = _count(spec["duration"], path, f"{key}.duration") if "duration" in spec else None
    return Dial(status, duration)


def _outcome(value: object, path: str, key: str = "outcome") -> OutcomeExpectation:
    spec = _mapping(value, path, key, ("kind", "number", "queue", "recording", "status"))
    if "kind" not in spec:
        raise ScriptError(path, f"{key}.kind", f"is required; one of {', '.join(OUTCOME_KINDS)}")
    kind = _choice(_text(spec["kind"], path, f"{key}.kind"), path, f"{key}.kind", OUTCOME_KINDS)
    queue = _text(spec["queue"], path, f"{key}.queue") if "queue" in spec else None
    number = _text(spec["number"], path, f"{key}.number") if "number" in spec else None
    recording = None
    if "recording" in spec:
        recording = spec["recording"]
        if not isinstance(recording, bool):
            raise ScriptError(
                path, f"{key}.recording", f"must be true or false, not {_what(recording)}"
            )
    status = None
    if "status" in spec:
        status = _choice(
            _text(spec["status"], path, f"{key}.status"), path, f"{key}.status", CALL_STATUSES
        )
    return OutcomeExpectation(kind, queue, number, recording, status)


def _effects(value: object, path: str) -> tuple[EffectExpectation, ...]:
    if not isinstance(value, list):
        raise ScriptError(path, "effects", f"must be a list of checks, not {_what(value)}")
    effects = []
    for index, item in enumerate(value):
        key = f"effects[{index}]"
        if not isinstance(item, dict) or len(item) != 1:
            raise ScriptError(
                path, key, "each effect is one check name with its arguments, like `account: {...}`"
            )
        ((name, args),) = item.items()
        if not isinstance(name, str):
            raise ScriptError(path, key, f"a check name must be text, not {_what(name)}")
        if not isinstance(args, dict) or not all(isinstance(arg, str) for arg in args):
            raise ScriptError(
                path, f"{key}.{name}", f"must be a mapping of arguments, not {_what(args)}"
            )
        effects.append(EffectExpectation(name, MappingProxyType(dict(args))))
    return tuple(effects)


def _mapping(value: object, path: str, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScriptError(
            path, key, f"must be a mapping with keys {', '.join(allowed)}, not {_what(value)}"
        )
    for name in value:
        if not isinstance(name, str) or name not in allowed:
            where = f"{key}.{name}" if key else str(name)
            raise ScriptError(path, where, _unknown("key", str(name), allowed))
    return value


def _text(value: object, path: str, key: str) -> str:
    if not isinstance(value, str):
        raise ScriptError(path, key, f"must be text, not {_what(value)}")
    if not value.strip():
        raise ScriptError(path, key, "must not be empty")
    return value


def _keys(value: object, path: str, key: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ScriptError(
            path, key, f'write the keys in quotes, like "{value}" (YAML reads 0123 as a number)'
        )
    keys = _text(value, path, key)
    if not _KEYS_RE.fullmatch(keys):
        raise ScriptError(path, key, f"{keys!r}: a phone has only the keys 0-9, * and #")
    return keys


def _flag(value: object, path: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise ScriptError(path, key, f"must be true or false, not {_what(value)}")
    return value


def _count(value: object, path: str, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ScriptError(path, key, f"must be a whole number of at least 1, not {_what(value)}")
    return value


def _fraction(value: object, path: str, key: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise ScriptError(path, key, f"must be a number above 0 and at most 1, not {_what(value)}")
    return float(value)


def _choice(value: str, path: str, key: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ScriptError(path, key, _unknown("value", value, allowed))
    return value


def _unknown(what: str, name: str, allowed: tuple[str, ...]) -> str:
    message = f"unknown {what} {name!r}"
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return f"{message}; allowed: {', '.join(sorted(allowed))}"


def _what(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# Matching what was heard

_SPACE_RE = re.compile(r"\s+")
# Han characters, CJK punctuation and full-width forms (，。？).
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_SPACE_RE = re.compile(f"(?<=[{_CJK}]) | (?=[{_CJK}])")


def squash(text: str) -> str:
    """Collapse runs of whitespace to one space, as expectations compare text. A space next to
    Chinese is dropped: Chinese is written without spaces, so one there only marks where two
    turns met (a played recording and a said value: "验证成功， 张伟， 您好。")."""
    return _CJK_SPACE_RE.sub("", _SPACE_RE.sub(" ", text).strip())


def best_match(expected: str, heard: str) -> tuple[float, str]:
    """How closely ``heard`` contains ``expected``: the best ratio (0..1) and the closest stretch.

    The score is difflib's ratio of the best window: windows of about the expected length
    (±10%) slide over the heard text, the earliest wins a tie; exact containment scores 1.0.
    The stretch returned for reading is that window re-aligned with the expected text, so a
    changed ending shows as changed rather than cut off.
    """
    want = squash(expected)
    text = squash(heard)
    if not want:
        return 1.0, ""
    if want in text:
        return 1.0, want
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(want)  # seq2 is the cached side: the expectation stays, windows vary
    if len(text) <= len(want):
        matcher.set_seq1(text)
        return matcher.ratio(), text
    size = len(want)
    slack = max(1, size // 10)
    sizes = [size] + [s for d in range(1, slack + 1) for s in (size - d, size + d) if s >= 1]
    best_ratio, best_start, best_width = -1.0, 0, size
    for width in sizes:
        for start in range(len(text) - width + 1):
            matcher.set_seq1(text[start : start + width])
            if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
                continue
            ratio = matcher.ratio()
            if ratio > best_ratio:
                best_ratio, best_start, best_width = ratio, start, width
    if best_ratio <= 0:
        return 0.0, ""
    margin = max(2, size // 5)
    low = max(0, best_start - margin)
    region = text[low : best_start + best_width + margin]
    return best_ratio, _aligned(want, region)


def _aligned(want: str, region: str) -> str:
    """The part of ``region`` that lines up with ``want``, heard-only ends left out."""
    ops = difflib.SequenceMatcher(None, want, region, autojunk=False).get_opcodes()
    while ops and ops[0][0] == "insert":
        ops.pop(0)
    while ops and ops[-1][0] == "insert":
        ops.pop()
    if not ops:
        return ""
    tag, i1, i2, j1, j2 = ops[0]
    start = max(j1, j2 - (i2 - i1)) if tag == "replace" else j1
    tag, i1, i2, j1, j2 = ops[-1]
    end = min(j2, j1 + (i2 - i1)) if tag == "replace" else j2
    return region[start:end].strip()


# ---------------------------------------------------------------------------------------------
# Running

EffectCheck = Callable[[Mapping[str, Any]], "str | None"]
"""A named check of a lasting effect: ``None`` if it holds, else what is wrong. Besides the
script's arguments it receives ``call_sid``, the call just replayed, for checks about it."""


@dataclass(frozen=True)
class Failure:
    """Why a script failed: at which step (``None``: after the steps), expected against heard.

    ``mode`` says what kind of check failed: ``substring``, ``regex``, ``fuzzy``, ``state``,
    ``outcome``, ``effect``, ``ended`` (an action after the call ended) or ``error`` (the
    simulated call failed). ``closest`` is the stretch of ``heard`` most like ``expected``
    (substring and fuzzy), ``score`` its ratio.
    """

    step_index: int | None
    step: str
    expected: str
    heard: str
    message: str
    mode: str = ""
    closest: str = ""
    score: float | None = None


@dataclass(frozen=True)
class StepLog:
    """A check that ran: step ``step_index`` after ``at_turn`` turns of the transcript."""

    step_index: int
    at_turn: int
    passed: bool


@dataclass
class ScriptResult:
    script: Script
    passed: bool
    failure: Failure | None
    call: CallResult
    outcome: Outcome | None = None
    """How the call ended as the script saw it (queued when left waiting in a queue)."""
    log: list[StepLog] = field(default_factory=list)
    callback: CallResult | None = None
    """The call back (``callback:``), when the dialer placed it."""


def run_script(
    script: Script,
    simulator: Simulator,
    *,
    checks: Mapping[str, EffectCheck] = MappingProxyType({}),
    pause: Callable[[], None] | None = None,
) -> ScriptResult:
    """Dial, run every step, hang up, then check the outcome and the lasting effects.

    The first failed step stops the script. A ``SimulationError`` (a reply Twilio would reject,
    an action the call cannot take) fails the script, it never escapes. ``pause`` is called
    before each thing the caller does (a key, words, silence, a hang-up...), not before checks:
    a load test's think time.
    """
    try:
        if script.at is not None:
            simulator.clock.set(script.at)
        call = simulator.dial(script.from_, network=script.network)
    except SimulationError as exc:
        problem = Failure(None, "dial", "", "", f"the simulated call failed: {exc}", mode="error")
        last = simulator.last_call
        result = last.result if last is not None else CallResult(call_sid="")
        return ScriptResult(script, False, problem, result, result.outcome, [])
    failure, log = _run_steps(script.steps, call, pause)
    outcome = _finish(call)
    if failure is None and isinstance(outcome, Failure):
        failure = outcome
    captured = outcome if isinstance(outcome, Outcome) else call.result.outcome
    if failure is None and script.outcome is not None:
        failure = _check_outcome(script.outcome, captured, call.result)
    if failure is None:
        failure = _check_effects(script.effects, checks, call.call_sid)
    called_back: CallResult | None = None
    if failure is None and script.callback is not None:
        failure, called_back = _call_back(script, script.callback, simulator)
    return ScriptResult(
        script, failure is None, failure, call.result, captured, log, callback=called_back
    )


def _call_back(
    script: Script, spec: Callback, simulator: Simulator
) -> tuple[Failure | None, CallResult | None]:
    """Time passes, the dialer runs, and the call it places to the caller is answered."""
    if simulator.dialer is None:
        message = "this script describes a callback; replay it in-process, where the dialer runs"
        return Failure(None, "callback", "", "", message, "error"), None
    simulator.clock.advance(spec.after)
    placed = [r for r in simulator.dialer() if r.to == script.from_]
    if len(placed) != 1:
        message = f"expected the dialer to call {script.from_} back once, it placed {len(placed)}"
        return Failure(None, "callback", "a call back", "", message, "outcome"), None
    network = spec.answer if spec.answer in NETWORK_STATUSES else None
    answered_by = "human" if network is not None else spec.answer
    try:
        call = simulator.answer(placed[0], answered_by=answered_by, network=network)
    except SimulationError as exc:
        message = f"the simulated call back failed: {exc}"
        return Failure(None, "callback", "", "", message, "error"), None
    failure, _ = _run_steps(spec.steps, call)
    if failure is not None:
        failure = dataclasses.replace(failure, step_index=None, step=f"callback: {failure.step}")
    outcome = _finish(call)
    if failure is None and isinstance(outcome, Failure):
        failure = outcome
    captured = outcome if isinstance(outcome, Outcome) else call.result.outcome
    if failure is None and spec.outcome is not None:
        failure = _check_outcome(spec.outcome, captured, call.result)
        if failure is not None:
            failure = dataclasses.replace(failure, step=f"callback: {failure.step}")
    return failure, call.result


def _run_steps(
    steps: tuple[Step, ...], call: Call, pause: Callable[[], None] | None = None
) -> tuple[Failure | None, list[StepLog]]:
    """Run steps until one fails; the log says where each check was made."""
    log: list[StepLog] = []
    for index, step in enumerate(steps):
        failure: Failure | None
        if pause is not None and not isinstance(step, Expect | ExpectState):
            pause()
        try:
            failure = _perform(step, index, call)
        except SimulationError as exc:
            message = f"the simulated call failed: {exc}"
            failure = Failure(index, step.describe(), "", call.heard(), message, "error")
        if isinstance(step, Expect | ExpectState):
            log.append(StepLog(index, len(call.result.transcript), failure is None))
        if failure is not None:
            return failure, log
    return None, log


def _perform(step: Step, index: int, call: Call) -> Failure | None:  # noqa: C901 - one branch per kind
    if isinstance(step, Expect):
        return _check_expect(step, index, call)
    if isinstance(step, ExpectState):
        if call.state == step.state:
            return None
        message = f"expected the IVR to be in state {step.state!r}, it reports {call.state!r}"
        return Failure(index, step.describe(), step.state, str(call.state), message, "state")
    if call.ended:
        outcome = call.result.outcome
        ended = outcome.kind if outcome is not None else "ended"
        message = f"the call had already ended ({ended}) before this step"
        return Failure(index, step.describe(), "", call.heard(), message, "ended")
    if isinstance(step, Press):
        call.press(step.keys, early=step.early)
    elif isinstance(step, Say):
        if step.confidence is None:
            call.say(step.text, early=step.early)
        else:
            call.say(step.text, confidence=step.confidence, early=step.early)
    elif isinstance(step, Wait):
        return _wait(step, index, call)
    elif isinstance(step, Hold):
        call.hold(step.cycles, position=step.position)
    elif isinstance(step, Agent):
        if step.result is not None:
            call.queue_ends(step.result)
        elif step.seconds is None:
            call.agent_answers(pickup=step.pickup)
        else:
            call.agent_answers(talk_seconds=step.seconds, pickup=step.pickup)
    elif isinstance(step, Record):
        call.record(step.seconds, finish=step.finish)
    elif isinstance(step, Dial):
        if step.duration is None:
            call.dial_result(step.status)
        else:
            call.dial_result(step.status, duration=step.duration)
    else:
        call.hangup()
    return None


def _wait(step: Wait, index: int, call: Call) -> Failure | None:
    for done in range(step.times):
        if call.ended:
            message = f"the call ended after {done} of {step.times} silences"
            return Failure(index, step.describe(), "", call.heard(), message, "ended")
        call.silence()
    return None


def _check_expect(step: Expect, index: int, call: Call) -> Failure | None:
    heard = call.heard()
    text = squash(heard)
    if step.mode == "regex":
        if re.search(step.text, text):
            return None
        message = f"expected the IVR to say something matching /{step.text}/"
        return Failure(index, step.describe(), step.text, heard, message, "regex")
    if step.mode == "substring" and squash(step.text) in text:
        return None  # the closest match is only shown when a step fails
    score, closest = best_match(step.text, heard)
    if step.mode == "substring":
        message = f"expected the IVR to say {step.text!r}"
        return Failure(
            index, step.describe(), step.text, heard, message, "substring", closest, score
        )
    if score >= step.threshold:
        return None
    message = (
        f"expected the IVR to say something like {step.text!r}: "
        f"best match {score:.2f} is below the threshold {step.threshold:.2f}"
    )
    return Failure(index, step.describe(), step.text, heard, message, "fuzzy", closest, score)


def _finish(call: Call) -> Outcome | Failure | None:
    """Hang up a call that is still live (so the status callback runs); return its outcome.

    A caller left waiting in a queue ends ``queued`` (the simulator settles a hang-up in a
    queue that way), which is what a script expecting ``queued`` wants to see.
    """
    if not call.ended:
        try:
            call.hangup()
        except SimulationError as exc:
            message = f"the simulated call failed at hang-up: {exc}"
            return Failure(None, "hangup", "", "", message, "error")
    return call.result.outcome


def _check_outcome(
    expected: OutcomeExpectation, actual: Outcome | None, result: CallResult
) -> Failure | None:
    problems = []
    if actual is None or actual.kind != expected.kind:
        problems.append(f"to end {expected.kind}")
    if expected.queue is not None and (actual is None or actual.queue != expected.queue):
        problems.append(f"in queue {expected.queue!r}")
    if expected.number is not None and (actual is None or actual.number != expected.number):
        problems.append(f"to dial {expected.number!r}")
    if expected.recording is not None and bool(result.recordings) != expected.recording:
        problems.append("a recording" if expected.recording else "no recording")
    if expected.status is not None and result.call_status != expected.status:
        problems.append(f"to be reported {expected.status}")
    if not problems:
        return None
    told = describe_outcome(actual)
    if expected.recording is not None:
        count = len(result.recordings)
        told += f", {count} recording{'s' if count != 1 else ''}"
    if expected.status is not None:
        told += f", reported {result.call_status or 'nothing'}"
    message = f"expected the call {' and '.join(problems)}, but it {told}"
    return Failure(None, expected.describe(), expected.describe(), told, message, "outcome")


def describe_outcome(outcome: Outcome | None) -> str:
    """How a call ended, in words: ``ended queued in 'security'``."""
    if outcome is None:
        return "was still live"
    text = f"ended {outcome.kind}"
    if outcome.queue is not None:
        text += f" in {outcome.queue!r}"
    if outcome.number is not None:
        text += f" to {outcome.number!r}"
    if outcome.detail:
        text += f" ({outcome.detail})"
    return text


def _check_effects(
    effects: tuple[EffectExpectation, ...], checks: Mapping[str, EffectCheck], call_sid: str
) -> Failure | None:
    for index, effect in enumerate(effects):
        step = f"effects[{index}].{effect.name}"
        check = checks.get(effect.name)
        if check is None:
            known = ", ".join(sorted(checks)) or "none"
            message = f"unknown check {effect.name!r}; known checks: {known}"
            return Failure(None, step, effect.describe(), "", message, "effect")
        try:
            problem = check({**effect.args, "call_sid": call_sid})
        except (LookupError, ValueError, TypeError) as exc:
            # A wrong or missing argument (no such account, count: many) is the script's
            # fault, not a crash of the replay.
            problem = f"check {effect.name!r} could not run: {type(exc).__name__}: {exc}"
        if problem is not None:
            message = f"{effect.describe()}: {problem}"
            return Failure(None, step, effect.describe(), problem, message, "effect")
    return None
