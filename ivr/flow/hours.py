"""Waiting for an agent: opening hours, wait estimates and each queue's limits.

Owns ``Hours`` (when agents answer, in the line's own timezone, holidays closed all day) and
its flow-file parser, ``estimate_wait_minutes`` (what a waiting caller is told), and
``QueueSettings`` (when to offer a callback instead of more waiting; the service level the
queue is staffed for, which ``ivr capacity`` projects agents from). Pure: the standard
library only, no IO, no clock of its own (callers pass the time), no Flask, no TwiML. The
loader turns the ``ValueError`` s raised here into problems with the file and key path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
DEFAULT_TIMEZONE = "Asia/Shanghai"
CLOSED = "closed"
HOURS_KEYS = ("holidays", "open", "timezone")
QUEUE_KEYS = ("agents", "handle_time_s", "max_size", "priorities", "service_level")
SERVICE_LEVEL_KEYS = ("answer_within_s", "target", "max_abandon")
MINUTES_PER_DAY = 24 * 60
# How far ahead next_opening looks: a year of holidays and a week of closed days is the
# most any real line is shut.
_SEARCH_DAYS = 366 + 7
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True, order=True)
class Window:
    """Open from ``opens`` to ``closes``, in minutes after local midnight (``closes`` may be
    1440, midnight at the end of the day). Windows do not cross midnight."""

    opens: int
    closes: int

    def __post_init__(self) -> None:
        if not 0 <= self.opens < self.closes <= MINUTES_PER_DAY:
            raise ValueError(
                f"{_hhmm(self.opens)}-{_hhmm(self.closes)}: closing must come after opening, "
                "on the same day (00:00-24:00 at most)"
            )

    def __str__(self) -> str:
        return f"{_hhmm(self.opens)}-{_hhmm(self.closes)}"


NINE_TO_NINE = (Window(9 * 60, 21 * 60),)


@dataclass(frozen=True)
class Hours:
    """When agents answer: opening windows per weekday (Monday first), in ``timezone``;
    nobody answers on ``holidays``. The default is 09:00–21:00 every day in Shanghai."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    weekly: tuple[tuple[Window, ...], ...] = (NINE_TO_NINE,) * 7
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError(
                f"weekly needs 7 days of windows (Monday first), not {len(self.weekly)}"
            )

    def is_open(self, at: datetime) -> bool:
        """Whether an agent answers at ``at`` (timezone-aware; any zone)."""
        local = self._local(at)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        return any(w.opens <= minute < w.closes for w in self.weekly[local.weekday()])

    def next_opening(self, at: datetime) -> datetime:
        """The first moment at or after ``at`` when an agent answers, in the hours' timezone.

        While open that is ``at`` itself. Otherwise the next window's opening: later today,
        or on the next day that is not a holiday and has a window. Raises ValueError when the
        line does not open within a year (every day closed, or a year of holidays).
        """
        local = self._local(at)
        if self.is_open(local):
            return local
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if day not in self.holidays:
                for window in self.weekly[day.weekday()]:
                    opening = self._wall_time(day, window.opens)
                    if opening > local:
                        return opening
            day += timedelta(days=1)
        raise ValueError(
            f"the line does not open within {_SEARCH_DAYS} days of {local.isoformat()}"
        )

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError(f"naive datetime {at.isoformat()}: give a timezone-aware time")
        return at.astimezone(self.timezone)

    def _wall_time(self, day: date, minutes: int) -> datetime:
        """``day`` at ``minutes`` past midnight on the local clock. A time skipped by a
        daylight-saving jump is normalised through UTC to the real instant after the jump."""
        naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
        return naive.replace(tzinfo=self.timezone).astimezone(UTC).astimezone(self.timezone)


def parse_hours(data: Mapping[str, Any], path: str) -> Hours:
    """Hours from flow-file data; ``path`` (e.g. ``hours``) prefixes every error message.

    Shapes accepted::

        timezone: Asia/Shanghai          # optional, an IANA name
        open: "09:00-21:00"              # every day; or per day:
        open: {mon-fri: "09:00-21:00", sat: "10:00-18:00", sun: closed}
        holidays: [2026-01-01, 2026-02-17]   # optional, closed all day

    A day key is a day (``mon``), a range (``mon-fri``) or a comma list (``sat,sun``); each
    day must be given exactly once. A value is ``closed``, a range ``HH:MM-HH:MM`` or several
    ranges separated by commas (``09:00-12:00, 13:00-21:00``). ``24:00`` closes at midnight.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping with keys {', '.join(HOURS_KEYS)}")
    _no_unknown_keys(data, HOURS_KEYS, path)
    if "open" not in data:
        raise ValueError(f"{path}: missing key 'open' (e.g. open: \"09:00-21:00\")")
    return Hours(
        timezone=_parse_timezone(data.get("timezone", DEFAULT_TIMEZONE), f"{path}.timezone"),
        weekly=_parse_week(data["open"], f"{path}.open"),
        holidays=_parse_holidays(data.get("holidays", []), f"{path}.holidays"),
    )


def _parse_timezone(value: object, path: str) -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{path}: expected an IANA timezone name such as Asia/Shanghai")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{path}: unknown timezone {value!r}; use an IANA name such as Asia/Shanghai"
        ) from None


def _parse_week(value: object, path: str) -> tuple[tuple[Window, ...], ...]:
    week = _parse_days_and_windows(value, path)
    if not any(week):
        raise ValueError(f"{path}: every day is closed; the line would never open")
    return week


def _parse_days_and_windows(value: object, path: str) -> tuple[tuple[Window, ...], ...]:
    if isinstance(value, str):
        return (_parse_windows(value, path),) * 7
    if not isinstance(value, Mapping):
        raise ValueError(
            f'{path}: expected "HH:MM-HH:MM" (every day) or a mapping of days to hours, '
            'e.g. {mon-fri: "09:00-21:00", sat: closed}'
        )
    week: list[tuple[Window, ...] | None] = [None] * 7
    given_by: dict[int, str] = {}
    for key, spec in value.items():
        key_path = f"{path}.{key}"
        days = _parse_days(key, key_path)
        windows = _parse_windows(spec, key_path)
        for day in days:
            if day in given_by:
                raise ValueError(
                    f"{key_path}: {WEEKDAYS[day]} is already given by {path}.{given_by[day]}"
                )
            given_by[day] = str(key)
            week[day] = windows
    missing = [WEEKDAYS[day] for day, windows in enumerate(week) if windows is None]
    if missing:
        raise ValueError(
            f"{path}: no hours for {', '.join(missing)}; write {missing[0]}: closed "
            "for a day without agents"
        )
    return tuple(w for w in week if w is not None)


def _parse_days(key: object, path: str) -> list[int]:
    allowed = "a day (mon … sun), a range (mon-fri) or a list (sat,sun)"
    if not isinstance(key, str):
        raise ValueError(f"{path}: a day key must be {allowed}")
    days: list[int] = []
    for part in key.split(","):
        names = [name.strip().lower() for name in part.split("-")]
        if len(names) > 2 or any(name not in WEEKDAYS for name in names):
            raise ValueError(f"{path}: {part.strip()!r} is not {allowed}")
        first, last = WEEKDAYS.index(names[0]), WEEKDAYS.index(names[-1])
        if last < first:
            raise ValueError(
                f"{path}: {part.strip()!r} runs backwards; weeks run mon to sun "
                f"(write {names[0]}-sun,mon-{names[-1]})"
            )
        days.extend(range(first, last + 1))
    return days


def _parse_windows(spec: object, path: str) -> tuple[Window, ...]:
    expected = f"'{CLOSED}' or opening hours such as \"09:00-21:00\""
    if not isinstance(spec, str):
        # YAML reads a bare `off`/`no` as false and 09:00 as a number: say what to write.
        raise ValueError(f"{path}: expected {expected}, got {spec!r}")
    text = spec.strip()
    if text.lower() == CLOSED:
        return ()
    windows: list[Window] = []
    for part in text.split(","):
        match = _RANGE.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"{path}: {part.strip()!r} is not {expected}")
        oh, om, ch, cm = (int(g) for g in match.groups())
        if oh > 23 or om > 59 or cm > 59 or ch > 24 or (ch == 24 and cm):
            raise ValueError(f"{path}: {part.strip()!r} is not a time of day (00:00 to 24:00)")
        try:
            windows.append(Window(oh * 60 + om, ch * 60 + cm))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    windows.sort()
    for earlier, later in zip(windows, windows[1:], strict=False):
        if later.opens < earlier.closes:
            raise ValueError(f"{path}: {earlier} and {later} overlap")
    return tuple(windows)


def _parse_holidays(value: object, path: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected a list of dates such as [2026-01-01, 2026-02-17]")
    days: set[date] = set()
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if isinstance(item, datetime):
            raise ValueError(f"{item_path}: {item} has a time of day; a holiday is a whole date")
        if isinstance(item, date):
            day = item
        elif isinstance(item, str):
            try:
                day = date.fromisoformat(item.strip())
            except ValueError:
                raise ValueError(f"{item_path}: {item!r} is not a date like 2026-01-01") from None
        else:
            raise ValueError(f"{item_path}: {item!r} is not a date like 2026-01-01")
        if day in days:
            raise ValueError(f"{item_path}: {day.isoformat()} is listed twice")
        days.add(day)
    return frozenset(days)


def estimate_wait_minutes(
    position: int,
    avg_queue_time_s: int | None,
    *,
    handle_time_s: int,
    agents: int = 1,
    queue_size: int | None = None,
) -> int:
    """Whole minutes a caller at ``position`` (Twilio's QueuePosition, 1 = next) should
    expect to wait, rounded up, at least 1.

    With Twilio's history (``avg_queue_time_s`` = AvgQueueTime > 0, the average time recent
    callers spent in this queue) the estimate follows Little's law: callers leave the queue
    at about ``queue_size / avg_queue_time_s`` per second, so the caller at ``position``
    waits ``avg_queue_time_s × position / queue_size``. ``queue_size`` is Twilio's
    CurrentQueueSize; without it (or when smaller than ``position``) the caller is taken to
    be last in line, and the estimate is the average wait itself.

    Without history (AvgQueueTime 0 or absent: a new queue, or nobody answered yet), each of
    ``agents`` frees up every ``handle_time_s`` seconds on average, so the caller waits
    ``position × handle_time_s / agents``.
    """
    if position < 1:
        raise ValueError(f"position must be 1 or more, not {position}")
    if handle_time_s < 1 or agents < 1:
        raise ValueError("handle_time_s and agents must be 1 or more")
    if avg_queue_time_s is not None and avg_queue_time_s < 0:
        raise ValueError(f"avg_queue_time_s cannot be negative ({avg_queue_time_s})")
    if avg_queue_time_s:
        size = max(queue_size or position, position)
        seconds = avg_queue_time_s * position / size
    else:
        seconds = position * handle_time_s / agents
    return max(1, math.ceil(seconds / 60))


DEFAULT_PRIORITIES: Mapping[int, str] = MappingProxyType({0: "normal", 10: "urgent"})


@dataclass(frozen=True)
class ServiceLevel:
    """The goal a queue is staffed for: ``target`` of callers answered within
    ``answer_within_s`` seconds, and at most ``max_abandon`` of them giving up (None: no
    limit). The default is the classic 80% within 20 seconds."""

    answer_within_s: int = 20
    target: float = 0.8
    max_abandon: float | None = None

    def __post_init__(self) -> None:
        if self.answer_within_s < 0:
            raise ValueError("answer_within_s must be 0 or more")
        if not 0 < self.target < 1:
            raise ValueError("target must be a share between 0 and 1, such as 0.8")
        if self.max_abandon is not None and not 0 < self.max_abandon < 1:
            raise ValueError("max_abandon must be a share between 0 and 1, such as 0.05")


@dataclass(frozen=True)
class QueueSettings:
    """One agent queue's limits.

    ``max_size``: when Twilio's CurrentQueueSize is already at least this, a callback is
    offered at once instead of holding. ``handle_time_s``: the average talk time, used for
    wait estimates until Twilio has history. ``agents``: how many answer this queue.
    ``priorities``: names agents see for priority levels; a level without a name takes the
    name of the highest named level below it. ``service_level``: the goal ``ivr capacity``
    projects agents for.
    """

    max_size: int = 10
    handle_time_s: int = 300
    agents: int = 1
    priorities: Mapping[int, str] = field(default_factory=lambda: DEFAULT_PRIORITIES, hash=False)
    service_level: ServiceLevel = ServiceLevel()

    def __post_init__(self) -> None:
        if self.max_size < 1 or self.handle_time_s < 1 or self.agents < 1:
            raise ValueError("max_size, handle_time_s and agents must be 1 or more")
        if 0 not in self.priorities:
            raise ValueError("priorities must name level 0 (the default priority)")

    def offer_callback(self, current_queue_size: int) -> bool:
        """Whether a caller should be offered a callback instead of joining the queue."""
        return current_queue_size >= self.max_size

    def estimate_wait_minutes(
        self, position: int, avg_queue_time_s: int | None, queue_size: int | None = None
    ) -> int:
        """``estimate_wait_minutes`` with this queue's handle time and agents."""
        return estimate_wait_minutes(
            position,
            avg_queue_time_s,
            handle_time_s=self.handle_time_s,
            agents=self.agents,
            queue_size=queue_size,
        )

    def priority_name(self, priority: int) -> str:
        named = [level for level in self.priorities if level <= priority]
        return self.priorities[max(named)] if named else self.priorities[0]


def parse_queue_settings(data: Mapping[str, Any], path: str) -> QueueSettings:
    """A queue's limits from flow-file data, every key optional::

        max_size: 10          # CurrentQueueSize at which a callback is offered at once
        handle_time_s: 300    # average talk time, for estimates before Twilio has history
        agents: 2
        priorities: {0: normal, 10: urgent}
        service_level: {answer_within_s: 20, target: 0.8, max_abandon: 0.05}

    ``path`` (e.g. ``queues.general``) prefixes every error message.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping with keys {', '.join(QUEUE_KEYS)}")
    _no_unknown_keys(data, QUEUE_KEYS, path)
    numbers: dict[str, int] = {}
    for key in ("max_size", "handle_time_s", "agents"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{path}.{key}: expected a whole number of 1 or more, got {value!r}"
                )
            numbers[key] = value
    priorities = DEFAULT_PRIORITIES
    if "priorities" in data:
        priorities = _parse_priorities(data["priorities"], f"{path}.priorities")
    goal = ServiceLevel()
    if "service_level" in data:
        goal = _parse_service_level(data["service_level"], f"{path}.service_level")
    return QueueSettings(**numbers, priorities=priorities, service_level=goal)


def _parse_service_level(value: object, path: str) -> ServiceLevel:
    """``{answer_within_s: 20, target: 0.8, max_abandon: 0.05}``; every key optional."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{path}: expected a mapping such as "
            "{answer_within_s: 20, target: 0.8, max_abandon: 0.05}"
        )
    _no_unknown_keys(value, SERVICE_LEVEL_KEYS, path)
    seconds = value.get("answer_within_s", ServiceLevel.answer_within_s)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError(
            f"{path}.answer_within_s: expected a whole number of seconds, got {seconds!r}"
        )
    shares: dict[str, float] = {}
    for key in ("target", "max_abandon"):
        if key in value:
            share = value[key]
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
                raise ValueError(
                    f"{path}.{key}: expected a share between 0 and 1 (0.8 for 80%), got {share!r}"
                )
            shares[key] = float(share)
    return ServiceLevel(
        seconds, shares.get("target", ServiceLevel.target), shares.get("max_abandon")
    )


def _parse_priorities(value: object, path: str) -> Mapping[int, str]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(
            f"{path}: expected a mapping of levels to names, e.g. {{0: normal, 10: urgent}}"
        )
    names: dict[int, str] = {}
    for level, name in value.items():
        if isinstance(level, bool) or not isinstance(level, int) or level < 0:
            raise ValueError(f"{path}: level {level!r} is not a whole number of 0 or more")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{path}.{level}: expected a name, got {name!r}")
        names[level] = name.strip()
    if 0 not in names:
        raise ValueError(f"{path}: missing level 0, the name of the default priority")
    return MappingProxyType(dict(sorted(names.items())))


def _no_unknown_keys(data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValueError(f"{path}: unknown key {key!r}; allowed: {', '.join(allowed)}")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
