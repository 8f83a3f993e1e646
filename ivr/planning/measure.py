"""What the call records say about each queue, per hour of the week: the inputs of a staffing plan.

Owns ``measure``: calls (rows of ``ivr.stores.traffic``) and the flow → a ``Measurement`` of
each queue's arrival rate, share of calls, handle time and patience in each hour of the week
that had callers, with how many calls each figure rests on. Pure: it reads no database (the
caller queries ``calls_between``) and computes no staffing (``ivr.planning.staffing`` does).

How each figure is measured:

- arrivals: callers queued in that hour of the week, divided by how many times that hour
  occurs in the period (a four-week period has four Mondays 09:00);
- share: those callers over every call that started in the same hours (the rest were
  contained: self-served, or hung up in the menu);
- handle time: the mean of ``left_at - answered_at`` over answered hand-offs;
- patience: with exponential patience the maximum-likelihood mean is the total time callers
  spent waiting (answered or not) over the number who gave up; the plain mean of the
  abandoners' waits would understate it, since the patient ones were answered first.

An hour's handle time or patience resting on fewer than ``min_calls`` calls is replaced by the
queue's figure over the whole period, and that by the flow's ``handle_time_s`` when nothing
was answered; patience without a single abandonment stays unknown (Erlang C is used).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

from ivr.flow.hours import WEEKDAYS
from ivr.flow.spec import Flow
from ivr.stores.traffic import CallTraffic

# Where a figure came from, as the table prints it.
MEASURED = "hour"
POOLED = "queue"
FLOW = "flow"


@dataclass(frozen=True)
class Figure:
    """A measured value (seconds), the calls it rests on and where it came from: this hour
    (``hour``), the queue over the whole period (``queue``) or the flow file (``flow``).
    ``value`` None: not known (no caller ever gave up)."""

    value: float | None
    calls: int
    source: str


@dataclass(frozen=True)
class HourTraffic:
    """One queue in one hour of the week (``weekday`` 0 = Monday, local ``hour``)."""

    queue: str
    weekday: int
    hour: int
    occurrences: int  # how often this hour of the week occurs in the period
    queued: int  # callers who reached the queue in these hours
    calls: int  # every call that started in these hours
    handle_time: Figure
    patience: Figure

    @property
    def calls_per_hour(self) -> float:
        return self.queued / self.occurrences if self.occurrences else 0.0

    @property
    def share(self) -> float:
        """The share of calls that reach this queue (one minus the others and containment)."""
        return self.queued / self.calls if self.calls else 0.0

    @property
    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday].capitalize()} {self.hour:02d}:00"


@dataclass(frozen=True)
class Measurement:
    """Everything measured over ``start``–``end``, hours in ``timezone``."""

    start: datetime
    end: datetime
    timezone: ZoneInfo
    calls: int
    self_served: int
    reached_queue: int
    hours: tuple[HourTraffic, ...]
    handle_times: dict[str, Figure]  # per queue, over the whole period
    patience: dict[str, Figure]

    @property
    def containment(self) -> float:
        return self.self_served / self.calls if self.calls else 0.0

    @property
    def queue_share(self) -> float:
        return self.reached_queue / self.calls if self.calls else 0.0


def measure(
    calls: Sequence[CallTraffic],
    flow: Flow,
    start: datetime,
    end: datetime,
    *,
    min_calls: int = 30,
) -> Measurement:
    """Measure every queue of ``flow`` from ``calls`` (those that started in the period)."""
    zone = flow.hours.timezone
    occurrences = _hours_of_week(start, end, zone)
    started: dict[tuple[int, int], int] = {}
    for call in calls:
        key = _hour_of_week(call.started_at, zone)
        started[key] = started.get(key, 0) + 1
    queued = [c for c in calls if c.queue is not None and c.enqueued_at is not None]
    handle_times: dict[str, Figure] = {}
    patience: dict[str, Figure] = {}
    hours: list[HourTraffic] = []
    for name, queue in sorted(flow.queues.items()):
        mine = [c for c in queued if c.queue == name]
        flow_time = Figure(float(queue.settings.handle_time_s), 0, FLOW)
        handle_times[name] = _handle_time(mine, POOLED, 1) or flow_time
        patience[name] = _patience(mine, POOLED, 1) or Figure(None, 0, POOLED)
        by_hour: dict[tuple[int, int], list[CallTraffic]] = {}
        for call in mine:
            assert call.enqueued_at is not None  # filtered above
            by_hour.setdefault(_hour_of_week(call.enqueued_at, zone), []).append(call)
        for (weekday, hour), here in sorted(by_hour.items()):
            hours.append(
                HourTraffic(
                    queue=name,
                    weekday=weekday,
                    hour=hour,
                    occurrences=occurrences.get((weekday, hour), 0),
                    queued=len(here),
                    calls=max(started.get((weekday, hour), 0), len(here)),
                    handle_time=_handle_time(here, MEASURED, min_calls) or handle_times[name],
                    patience=_patience(here, MEASURED, min_calls) or patience[name],
                )
            )
    return Measurement(
        start=start,
        end=end,
        timezone=zone,
        calls=len(calls),
        self_served=sum(1 for c in calls if c.outcome == "self_served"),
        reached_queue=len(queued),
        hours=tuple(hours),
        handle_times=handle_times,
        patience=patience,
    )


def _handle_time(calls: Iterable[CallTraffic], source: str, least: int) -> Figure | None:
    talks = [
        (c.left_at - c.answered_at).total_seconds()
        for c in calls
        if c.answered_at is not None and c.left_at is not None and c.status == "bridged"
    ]
    if len(talks) < least or not talks:
        return None
    return Figure(sum(talks) / len(talks), len(talks), source)


def _patience(calls: Iterable[CallTraffic], source: str, least: int) -> Figure | None:
    waited = 0.0
    gave_up = 0
    for call in calls:
        assert call.enqueued_at is not None
        if call.status == "abandoned" and call.left_at is not None:
            gave_up += 1
            waited += (call.left_at - call.enqueued_at).total_seconds()
        elif call.status == "bridged" and call.answered_at is not None:
            waited += (call.answered_at - call.enqueued_at).total_seconds()
    if gave_up < least or not gave_up:
        return None
    return Figure(max(1.0, waited / gave_up), gave_up, source)


def _hour_of_week(at: datetime, zone: ZoneInfo) -> tuple[int, int]:
    local = at.astimezone(zone)
    return local.weekday(), local.hour


def _hours_of_week(start: datetime, end: datetime, zone: ZoneInfo) -> dict[tuple[int, int], int]:
    """How many times each (weekday, hour) occurs from ``start`` to ``end``."""
    counts: dict[tuple[int, int], int] = {}
    at = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    while at < end:
        key = (at.weekday(), at.hour)
        counts[key] = counts.get(key, 0) + 1
        at = (at.astimezone(ZoneInfo("UTC")) + timedelta(hours=1)).astimezone(zone)
    return counts
