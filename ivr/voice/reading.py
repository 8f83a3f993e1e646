"""Speech: turning call data into the words a caller hears, in Mandarin (zh-CN) and English (en-US).

Owns the value types that actions put into prompt templates (``Money``, ``When``, ``DateOnly``,
``DigitString``, ``PhoneNumber``, ``Localized``, ``Count``, ``LabelRef``, ``Duration``,
``OpeningHours``), their tagged JSON form
(the call session is stored as JSON), and how each is spoken: ``say_value``, ``fill``,
``placeholders``, ``say_key`` and ``ssml``.

Pure: imports only the standard library, the kernel's ``ivr.phones`` (for phone numbers) and
``ivr.voice.languages``, whose ``Language.rules`` names the rule set below a language is read by
(``zh`` or ``en``). It knows nothing of flows, TwiML, Twilio or Flask; labels defined in a flow
file reach it only through the ``labels`` lookup its caller passes. Times are read on the
caller's calendar (``tz``, default Asia/Shanghai), which comes from the system time-zone
database (on Windows, install the ``tzdata`` package).

How values are read, and why:

- ``Money`` (integer fen). zh-CN: digits with 元/角/分, which Mandarin voices read as an amount:
  300000 → "3000元", 8990 → "89元9角", 1005 → "10元零5分" (零 for the missing 角, as people say
  it), 5 → "5分", 0 → "0元"; no thousands separator ("1000000元" is read 一百万元). en-US:
  "3,000 yuan", "89 yuan and 90 fen", "1 yuan", "5 fen", "0 yuan"; not "89.90 yuan", which some
  voices read as "eighty-nine point nine zero". Neither word takes a plural. Below zero:
  "负" / "minus".
- ``When`` (an instant): the caller's day relative to ``now``, then the clock time.
  zh-CN: 前天/昨天/今天/明天, else "11月20日" ("2025年11月20日" in another year), then 24-hour
  "14点30分", "9点05分". en-US: yesterday/today/tomorrow, else "on November 20"
  ("on November 20, 2025"), then "at 2:30 PM" (midnight "12:00 AM", noon "12:00 PM").
- ``DateOnly`` (the caller's calendar day of an instant): 今天/明天 or today/tomorrow, else the
  date as for ``When``.
- ``DigitString``: digit by digit, "1 0 0 0 0 0 0 1", in both languages.
- ``PhoneNumber``: digit by digit in the groups ``ivr.phones.spoken_groups`` gives, the same in
  both languages: a number in China as it is written there, trunk 0 included ("1 3 8, 0 0 0 0,
  0 0 0 1"; Beijing "0 1 0, 1 2 3 4, 5 6 7 8"), another country's with its country code
  ("1, 2 3 4, 9 0 1, 3 0 3 0"), a service number such as 95188 as given.
- ``Duration`` (whole minutes): "30分钟", "1小时30分钟" / "30 minutes", "1 hour and 30 minutes".
- ``OpeningHours`` (windows per weekday): runs of days sharing their hours, "每天9点到21点" /
  "from 9 AM to 9 PM every day", "Monday to Friday from 9 AM to 6 PM, and Saturday from
  10 AM to 4 PM"; generated from a flow's ``hours:``, never written into prompts by hand.
- ``Localized``: its zh or en text. ``Count``, plain ``str`` and ``int``: ``str(value)``.
  ``LabelRef``: ``labels(group, key, lang)``.

JSON: ``to_json(Money(300000))`` is ``{"t": "money", "v": 300000}``; plain str and int pass
through unchanged, and ``from_json`` turns either back into an equal value.
"""

from __future__ import annotations

import string
from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import tzinfo
from typing import ClassVar
from typing import Self
from typing import TypeAlias
from typing import TypeVar
from zoneinfo import ZoneInfo

from ivr import phones
from ivr.voice.languages import CODES
from ivr.voice.languages import Language
from ivr.voice.languages import Rules
from ivr.voice.languages import language

SHANGHAI = ZoneInfo("Asia/Shanghai")

Labels: TypeAlias = Callable[[str, str, str], str]
"""``labels(group, key, lang)``: the text of a label defined in the flow file."""

JsonValue: TypeAlias = dict[str, object] | str | int
"""What ``to_json`` returns and ``from_json`` reads."""

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_PHONE_KEYS: dict[str, dict[Rules, str]] = {
    "*": {"zh": "星号键", "en": "star"},
    "#": {"zh": "井号键", "en": "pound"},
}
# Days from today (on the caller's calendar) that are spoken as a word rather than a date.
_WHEN_DAYS: dict[Rules, dict[int, str]] = {
    "zh": {-2: "前天", -1: "昨天", 0: "今天", 1: "明天"},
    "en": {-1: "yesterday", 0: "today", 1: "tomorrow"},
}
_DATE_DAYS: dict[Rules, dict[int, str]] = {
    "zh": {0: "今天", 1: "明天"},
    "en": {0: "today", 1: "tomorrow"},
}
_DIGITS = frozenset("0123456789")

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Context:
    """Everything a value needs to be spoken: the language and the caller's calendar."""

    lang: str
    rules: Rules  # the language's rule set: what the value types below dispatch on
    now: datetime  # already in ``tz``
    tz: tzinfo
    labels: Labels | None


class _Spoken(ABC):
    """Base of the value types: each knows its JSON tag, its payload and how it is said."""

    tag: ClassVar[str]

    @abstractmethod
    def _say(self, ctx: _Context) -> str: ...

    @abstractmethod
    def _payload(self) -> object: ...

    def _ssml(self) -> str | None:
        return None


@dataclass(frozen=True)
class Money(_Spoken):
    """An amount in integer fen (1 yuan = 100 fen)."""

    fen: int
    tag: ClassVar[str] = "money"

    def __post_init__(self) -> None:
        _check_int(self.fen, "Money.fen")

    def _say(self, ctx: _Context) -> str:
        yuan, rest = divmod(abs(self.fen), 100)
        jiao, fen = divmod(rest, 10)
        if ctx.rules == "zh":
            text = f"{yuan}元" if yuan or not rest else ""
            if jiao:
                text += f"{jiao}角"
            elif fen and yuan:
                text += "零"
            if fen:
                text += f"{fen}分"
            return "负" + text if self.fen < 0 else text
        words = []
        if yuan or not rest:
            words.append(f"{yuan:,} yuan")
        if rest:
            words.append(f"{rest} fen")
        text = " and ".join(words)
        return "minus " + text if self.fen < 0 else text

    def _payload(self) -> object:
        return self.fen

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        return cls(_expect(v, int))


@dataclass(frozen=True)
class When(_Spoken):
    """An instant, said relative to now on the caller's calendar. Stored in UTC."""

    at: datetime
    tag: ClassVar[str] = "when"

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _aware_utc(self.at, "When.at"))

    def _say(self, ctx: _Context) -> str:
        at = self.at.astimezone(ctx.tz)
        day = _say_day(at, ctx, _WHEN_DAYS)
        if ctx.rules == "zh":
            return f"{day}{at.hour}点{at.minute:02d}分"
        meridiem = "AM" if at.hour < 12 else "PM"
        return f"{day} at {at.hour % 12 or 12}:{at.minute:02d} {meridiem}"

    def _payload(self) -> object:
        return self.at.isoformat()

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        return cls(datetime.fromisoformat(_expect(v, str)))


@dataclass(frozen=True)
class DateOnly(_Spoken):
    """The caller's calendar day of an instant (a due date, a refund date). Stored in UTC."""

    at: datetime
    tag: ClassVar[str] = "date"

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _aware_utc(self.at, "DateOnly.at"))

    def _say(self, ctx: _Context) -> str:
        return _say_day(self.at.astimezone(ctx.tz), ctx, _DATE_DAYS)

    def _payload(self) -> object:
        return self.at.isoformat()

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        return cls(datetime.fromisoformat(_expect(v, str)))


@dataclass(frozen=True)
class DigitString(_Spoken):
    """Digits read one by one: a ticket number, a card's last four."""

    digits: str
    tag: ClassVar[str] = "digits"

    def __post_init__(self) -> None:
        if not isinstance(self.digits, str) or not self.digits or set(self.digits) - _DIGITS:
            raise ValueError(f"DigitString.digits must be one or more digits 0-9: {self.digits!r}")

    def _say(self, ctx: _Context) -> str:
        return " ".join(self.digits)

    def _payload(self) -> object:
        return self.digits

    def _ssml(self) -> str | None:
        return f'<say-as interpret-as="digits">{self.digits}</say-as>'

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        return cls(_expect(v, str))


@dataclass(frozen=True)
class PhoneNumber(_Spoken):
    """A phone number as given ("13800000001" or E.164 "+8613800000001"), read back in groups."""

    number: str
    tag: ClassVar[str] = "phone"

    def __post_init__(self) -> None:
        try:
            self.groups()
        except (TypeError, ValueError):
            raise ValueError(
                f"PhoneNumber.number must be digits, optionally after '+': {self.number!r}"
            ) from None

    def groups(self) -> tuple[str, ...]:
        """The digit groups, left to right: ("138", "0000", "0001"); see ``ivr.phones``."""
        return phones.spoken_groups(self.number)

    def _say(self, ctx: _Context) -> str:
        return ", ".join(" ".join(group) for group in self.groups())

    def _payload(self) -> object:
        return self.number

    def _ssml(self) -> str | None:
        return '<break time="300ms"/>'.join(
            f'<say-as interpret-as="digits">{group}</say-as>' for group in self.groups()
        )

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        return cls(_expect(v, str))


@dataclass(frozen=True)
class Localized(_Spoken):
    """Text that differs by language, such as a merchant's name."""

    zh: str
    en: str
    tag: ClassVar[str] = "localized"

    def __post_init__(self) -> None:
        _expect(self.zh, str)
        _expect(self.en, str)

    def _say(self, ctx: _Context) -> str:
        return self.zh if ctx.rules == "zh" else self.en

    def _payload(self) -> object:
        return {"zh": self.zh, "en": self.en}

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        fields = _fields(v, "zh", "en")
        return cls(_expect(fields["zh"], str), _expect(fields["en"], str))


@dataclass(frozen=True)
class Count(_Spoken):
    """A number of things; the template carries the measure word or noun."""

    n: int
    tag: ClassVar[str] = "count"

    def __post_init__(self) -> None:
        _check_int(self.n, "Count.n")

    def _say(self, ctx: _Context) -> str:
        return str(self.n)

    def _payload(self) -> object:
        return self.n

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        return cls(_expect(v, int))


@dataclass(frozen=True)
class LabelRef(_Spoken):
    """A label defined in the flow file (``labels.<group>.<key>``), looked up when said."""

    group: str
    key: str
    tag: ClassVar[str] = "label"

    def __post_init__(self) -> None:
        _expect(self.group, str)
        _expect(self.key, str)

    def _say(self, ctx: _Context) -> str:
        if ctx.labels is None:
            raise ValueError(f"label {self.group}.{self.key} cannot be said without labels")
        return ctx.labels(self.group, self.key, ctx.lang)

    def _payload(self) -> object:
        return {"group": self.group, "key": self.key}

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        fields = _fields(v, "group", "key")
        return cls(_expect(fields["group"], str), _expect(fields["key"], str))


@dataclass(frozen=True)
class Duration(_Spoken):
    """A length of time in whole minutes (rounded up by whoever makes it): "30分钟",
    "1小时30分钟" / "30 minutes", "1 hour and 30 minutes", "1 minute"."""

    minutes: int
    tag: ClassVar[str] = "duration"

    def __post_init__(self) -> None:
        _check_int(self.minutes, "Duration.minutes")
        if self.minutes < 1:
            raise ValueError(f"Duration.minutes must be at least 1: {self.minutes}")

    def _say(self, ctx: _Context) -> str:
        hours, minutes = divmod(self.minutes, 60)
        if ctx.rules == "zh":
            return (f"{hours}小时" if hours else "") + (f"{minutes}分钟" if minutes else "")
        words = [_plural(hours, "hour"), _plural(minutes, "minute")]
        return " and ".join(w for w in words if w)

    def _payload(self) -> object:
        return self.minutes

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        return cls(_expect(v, int))


@dataclass(frozen=True)
class OpeningHours(_Spoken):
    """When a line is open: for each weekday, Monday first, its (opens, closes) windows in
    minutes after local midnight. Said with runs of days that share their hours: "每天9点到21点",
    "周一至周五9点到18点，周六10点到16点" / "from 9 AM to 9 PM every day", "Monday to Friday
    from 9 AM to 6 PM, and Saturday from 10 AM to 4 PM". Closed days are left out."""

    weekly: tuple[tuple[tuple[int, int], ...], ...]
    tag: ClassVar[str] = "hours"

    def __post_init__(self) -> None:
        weekly = tuple(tuple((int(a), int(b)) for a, b in day) for day in self.weekly)
        if len(weekly) != 7 or not any(weekly):
            raise ValueError(f"OpeningHours needs 7 days, at least one open: {self.weekly!r}")
        object.__setattr__(self, "weekly", weekly)

    def _say(self, ctx: _Context) -> str:
        runs: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []
        for day, windows in enumerate(self.weekly):
            if runs and runs[-1][2] == windows and runs[-1][1] == day - 1:
                runs[-1] = (runs[-1][0], day, windows)
            else:
                runs.append((day, day, windows))
        said = [_say_run(first, last, windows, ctx) for first, last, windows in runs if windows]
        if ctx.rules == "zh":
            return "，".join(said)
        return said[0] if len(said) == 1 else ", ".join(said[:-1]) + ", and " + said[-1]

    def _payload(self) -> object:
        return [[list(w) for w in day] for day in self.weekly]

    @classmethod
    def _from_payload(cls, v: object) -> Self:
        days = _expect(v, list)
        return cls(tuple(tuple((w[0], w[1]) for w in _expect(day, list)) for day in days))


_WEEKDAYS: dict[Rules, tuple[str, ...]] = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def _say_run(first: int, last: int, windows: tuple[tuple[int, int], ...], ctx: _Context) -> str:
    """One run of weekdays that share their hours, with those hours."""
    names = _WEEKDAYS[ctx.rules]
    if ctx.rules == "zh":
        days = "每天" if (first, last) == (0, 6) else names[first]
        if last != first and (first, last) != (0, 6):
            days += f"至{names[last]}"
        return days + "和".join(f"{_zh_clock(a)}到{_zh_clock(b)}" for a, b in windows)
    spans = " and ".join(f"from {_en_clock(a)} to {_en_clock(b)}" for a, b in windows)
    if (first, last) == (0, 6):
        return f"{spans} every day"
    days = names[first] if first == last else f"{names[first]} to {names[last]}"
    return f"{days} {spans}"


def _zh_clock(minutes: int) -> str:
    hour, minute = divmod(minutes, 60)
    return f"{hour}点" + (f"{minute:02d}分" if minute else "")


def _en_clock(minutes: int) -> str:
    hour, minute = divmod(minutes % (24 * 60), 60)
    if minutes in (0, 24 * 60):
        return "midnight"
    if minutes == 12 * 60:
        return "noon"
    meridiem = "AM" if hour < 12 else "PM"
    return f"{hour % 12 or 12}{f':{minute:02d}' if minute else ''} {meridiem}"


def _plural(n: int, noun: str) -> str:
    return "" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


SpokenValue: TypeAlias = (
    Money
    | When
    | DateOnly
    | DigitString
    | PhoneNumber
    | Localized
    | Count
    | LabelRef
    | Duration
    | OpeningHours
    | str
    | int
)
"""Everything ``say_value`` can say and ``to_json`` can store."""

_READERS: dict[str, Callable[[object], SpokenValue]] = {
    Money.tag: Money._from_payload,
    When.tag: When._from_payload,
    DateOnly.tag: DateOnly._from_payload,
    DigitString.tag: DigitString._from_payload,
    PhoneNumber.tag: PhoneNumber._from_payload,
    Localized.tag: Localized._from_payload,
    Count.tag: Count._from_payload,
    LabelRef.tag: LabelRef._from_payload,
    Duration.tag: Duration._from_payload,
    OpeningHours.tag: OpeningHours._from_payload,
}


def say_value(
    value: object,
    lang: str,
    *,
    now: datetime,
    tz: tzinfo = SHANGHAI,
    labels: Labels | None = None,
) -> str:
    """The words for ``value`` in ``lang``; times are read relative to ``now`` in ``tz``."""
    return _say(value, _context(lang, now, tz, labels))


def fill(
    template: str,
    values: Mapping[str, object],
    lang: str,
    *,
    now: datetime,
    tz: tzinfo = SHANGHAI,
    labels: Labels | None = None,
) -> str:
    """``template`` with each ``{name}`` replaced by ``say_value(values[name], ...)``.

    Raises ``KeyError(name)`` for a placeholder without a value and ``ValueError`` for a
    malformed template (see ``placeholders``). ``{{`` and ``}}`` are literal braces.
    """
    ctx = _context(lang, now, tz, labels)
    pieces: list[str] = []
    for literal, name in _parse(template):
        pieces.append(literal)
        if name is not None:
            if name not in values:
                raise KeyError(name)
            pieces.append(_say(values[name], ctx))
    return "".join(pieces)


def placeholders(template: str) -> set[str]:
    """The names of the ``{name}`` placeholders in ``template``.

    Raises ``ValueError`` naming the template for an unbalanced brace, and for a placeholder
    that is not a plain name: ``{}``, ``{0}``, ``{a.b}``, ``{a[0]}``, ``{a!r}``, ``{a:>5}``.
    """
    return {name for _, name in _parse(template) if name is not None}


def say_key(key: str, lang: str) -> str:
    """How a phone key is named in a menu: "1" is "1"; "*" is 星号键 / star; "#" 井号键 / pound."""
    rules = _check_lang(lang).rules
    if key in _PHONE_KEYS:
        return _PHONE_KEYS[key][rules]
    if len(key) == 1 and key in _DIGITS:
        return key
    raise ValueError(f"not a phone key: {key!r}; keys are 0-9, * and #")


def ssml(value: object, lang: str) -> str | None:
    """An SSML fragment for Polly voices where it reads better than the text, else None.

    ``DigitString`` → ``<say-as interpret-as="digits">…</say-as>``; ``PhoneNumber`` → one such
    element per group with a short ``<break>`` between. Other values: None.
    """
    _check_lang(lang)
    if isinstance(value, _Spoken):
        return value._ssml()
    _check_plain(value)
    return None


def to_json(value: object) -> JsonValue:
    """The JSON form of a spoken value: ``{"t": tag, "v": payload}``; str and int unchanged."""
    if isinstance(value, _Spoken):
        return {"t": value.tag, "v": value._payload()}
    return _check_plain(value)


def from_json(data: object) -> SpokenValue:
    """The value ``to_json`` stored; ``ValueError`` for anything it could not have written."""
    if isinstance(data, str | int) and not isinstance(data, bool):
        return data
    if not isinstance(data, dict) or set(data) != {"t", "v"} or data["t"] not in _READERS:
        raise ValueError(
            f"not a stored spoken value: {data!r}; expected a str, an int or "
            f'{{"t": tag, "v": payload}} with tag one of {", ".join(sorted(_READERS))}'
        )
    try:
        return _READERS[data["t"]](data["v"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a stored spoken value: {data!r}: {exc}") from None


def _say(value: object, ctx: _Context) -> str:
    if isinstance(value, _Spoken):
        return value._say(ctx)
    return str(_check_plain(value))


def _say_day(at: datetime, ctx: _Context, near: dict[Rules, dict[int, str]]) -> str:
    """The caller's day of ``at`` (already in ``ctx.tz``): a word when close, else the date."""
    word = near[ctx.rules].get((at.date() - ctx.now.date()).days)
    if word is not None:
        return word
    other_year = at.year != ctx.now.year
    if ctx.rules == "zh":
        return (f"{at.year}年" if other_year else "") + f"{at.month}月{at.day}日"
    return f"on {_MONTHS[at.month - 1]} {at.day}" + (f", {at.year}" if other_year else "")


def _parse(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) pairs, the template checked on the way."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"malformed template {template!r}: {exc} (write {{{{ or }}}} for a literal brace)"
        ) from None
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in fields:
        if name is None:
            parts.append((literal, None))
            continue
        if not name.isidentifier() or conversion is not None or spec:
            written = "{" + name + (f"!{conversion}" if conversion else "")
            written += (f":{spec}" if spec else "") + "}"
            raise ValueError(
                f"malformed template {template!r}: placeholder {written} is not a plain name "
                "like {amount}"
            )
        parts.append((literal, name))
    return parts


def _context(lang: str, now: datetime, tz: tzinfo, labels: Labels | None) -> _Context:
    rules = _check_lang(lang).rules
    if now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware: {now!r}")
    return _Context(lang, rules, now.astimezone(tz), tz, labels)


def _check_lang(lang: str) -> Language:
    """The language of a flow's language code. Only codes: a value is read in the language
    of the flow's text it fills, never in one of Twilio's names for it."""
    if lang not in CODES:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(CODES)}")
    return language(lang)


def _check_plain(value: object) -> str | int:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise TypeError(
        f"cannot say {type(value).__name__} {value!r}: use a str, an int or a value type of "
        "ivr.voice.reading (Money, When, DateOnly, DigitString, PhoneNumber, Localized, Count, "
        "LabelRef, Duration, OpeningHours)"
    )


def _check_int(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int: {value!r}")


def _aware_utc(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime: {value!r}")
    if value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware: {value!r}")
    return value.astimezone(UTC)


def _expect(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _fields(value: object, *names: str) -> dict[str, object]:
    if not isinstance(value, dict) or set(value) != set(names):
        raise ValueError(f"expected an object with keys {', '.join(names)}: {value!r}")
    return value
