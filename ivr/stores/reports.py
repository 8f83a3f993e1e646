"""What callers do, read back from the call records: the figures of `ivr report` and `/dashboard`.

Owns ``report``: read-only SQL (SQLAlchemy Core) over ``call_records``, ``call_events`` and
``agent_handoffs`` (tables owned by ``ivr.stores.records``), and the figures it makes of them:
calls and outcomes; containment (self-served, and no call from the same number within the
next 24 hours); drop-off by state (where callers hang up in the menus, and where they press 0);
abandonment in the menus against in the queue; time to an agent and time in the queue (median
and p90); no-input and no-match answers per state (each one a reprompt, or the transfer after
the last); speech against keys; survey scores. Every figure is given for all calls and again
per issue type, per language and per flow version (``Report.as_json``: one document the
command line and the dashboard both print). Writes nothing; knows nothing of Flask or flows.

Five queries, each grouped by issue, language and flow version at once (every call is in one
such group, so the total and each split are sums of the groups): one narrow row per call
(its outcome, whether it was contained, its handoff), from which outcomes, queues, waits,
hours and the timeline are tallied here (medians, p90s and local hours are not alike in
SQLite and PostgreSQL SQL); and the events counted in SQL per state (entered, the last state
of a caller who hung up, answers) and per survey score. The indexes the queries lean on are
made by migration 0007 (``bench/report.py`` times them on a million events).

How the records say it: an input event's detail is ``<event> <keys>`` (``key_1 1``,
``no_match 9``, ``entered ******``), ``<event> (speech)`` when the caller spoke
(``ivr.engine.inputs.SPOKEN``), ``no_input`` for silence; ``agent_key`` is the caller pressing
(or saying) 0. A survey answer is a note ``satisfaction N/5`` (``SURVEY_NOTE``).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from datetime import tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from ivr.db import UtcDateTime
from ivr.engine.inputs import SPOKEN
from ivr.engine.step import SPEECH
from ivr.stores.records import OUTCOMES
from ivr.stores.records import SURVEY_NOTE
from ivr.stores.records import AgentHandoffRow
from ivr.stores.records import CallEventRow
from ivr.stores.records import CallRecordRow

# The outcomes as the report names them: a call Twilio reported failed is an error.
OUTCOME_NAMES = {"self_served": "self_served", "agent": "agent", "abandoned": "abandoned",
                 "failed": "error"}  # fmt: skip
REPORTED_OUTCOMES = (*(OUTCOME_NAMES[o] for o in OUTCOMES), "open")  # open: no outcome yet
SPLITS = ("issue", "lang", "version")
NONE = "none"  # the group of calls without an issue (or a flow version)
REPEAT_WITHIN = timedelta(hours=24)
TIMELINE_HOURLY_UP_TO = timedelta(days=2)  # longer periods are drawn day by day
_calls = CallRecordRow.__table__
_events = CallEventRow.__table__
_handoffs = AgentHandoffRow.__table__
# The three splits of every figure, as columns of ``call_records``: each query groups by all
# three, and ``report`` adds the groups up into the total and into each split. Plain columns
# (no expression to evaluate per event row): ``_key`` names a NULL ``NONE``.
_GROUP = (
    _calls.c.issue.label("issue"),
    _calls.c.lang.label("lang"),
    _calls.c.flow_version.label("version"),
)
Combination = tuple[str, str, str]  # issue, language, flow version


@dataclass(frozen=True)
class Filters:
    """Which calls count: started at or after ``since`` and before ``until`` (timezone-aware;
    None: no bound), on ``flow`` (None: every flow)."""

    since: datetime | None = None
    until: datetime | None = None
    flow: str | None = None

    def __post_init__(self) -> None:
        for bound in (self.since, self.until):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("give timezone-aware since and until times")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError(f"until {self.until.isoformat()} is not after since {self.since}")


def period(since: str | None, until: str | None, zone: tzinfo) -> tuple[datetime | None, ...]:
    """``since`` and ``until`` as typed (a day ``2026-11-23`` in ``zone``, or an ISO time,
    zone-less read in ``zone``) → bounds; ``until`` as a day includes that whole day."""

    def bound(text: str | None, name: str, *, end: bool) -> datetime | None:
        if text is None or not text.strip():
            return None
        clean = text.strip()
        try:
            day = date.fromisoformat(clean)
        except ValueError:
            pass
        else:
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), tzinfo=zone)
        try:
            when = datetime.fromisoformat(clean)
        except ValueError:
            raise ValueError(
                f"{name} {text!r} is neither a day (2026-11-23) nor a time (2026-11-23T09:00)"
            ) from None
        return when if when.tzinfo is not None else when.replace(tzinfo=zone)

    return bound(since, "since", end=False), bound(until, "until", end=True)


@dataclass(frozen=True)
class Spread:
    """Seconds over ``n`` calls: the median, and the p90 (the nearest-rank 90th percentile:
    the smallest value at least 90% of the calls are at or under)."""

    n: int
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Spread:
        values = sorted(seconds)
        if not values:
            return cls(0, None, None)
        p90 = values[math.ceil(0.9 * len(values)) - 1]
        return cls(len(values), round(statistics.median(values), 1), round(p90, 1))


@dataclass
class StateFigures:
    """One state of the flow: calls that entered it, callers who hung up there (their last
    state, in a call that ended without an outcome), their answers there."""

    entered: int = 0
    hung_up: int = 0
    pressed_0: int = 0
    answers: int = 0
    no_match: int = 0
    no_input: int = 0

    @property
    def drop_off(self) -> float | None:
        return _share(self.hung_up, self.entered)


@dataclass
class Figures:
    """Every figure of one group of calls (all of them, one issue, one language...)."""

    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPORTED_OUTCOMES, 0))
    contained: int = 0
    queued: int = 0  # handed to an agent queue
    answered: int = 0  # of those, bridged to an agent
    abandoned_in_queue: int = 0  # hung up while waiting
    left_queue: int = 0  # left the queue for a callback or voicemail
    to_agent_s: list[float] = field(default_factory=list)  # from the call's start to the agent
    in_queue_s: list[float] = field(default_factory=list)  # from the queue to the agent
    states: dict[str, StateFigures] = field(default_factory=dict)
    keys: int = 0
    speech: int = 0
    survey: dict[int, int] = field(default_factory=dict)  # score → answers

    @property
    def time_to_agent(self) -> Spread:
        return Spread.of(self.to_agent_s)

    @property
    def time_in_queue(self) -> Spread:
        return Spread.of(self.in_queue_s)

    def state(self, name: str) -> StateFigures:
        return self.states.setdefault(name, StateFigures())

    def add(self, other: Figures) -> Figures:
        """Count ``other``'s calls in too (groups of different calls: every count adds up)."""
        self.calls += other.calls
        for name, n in other.outcomes.items():
            self.outcomes[name] += n
        self.contained += other.contained
        self.queued += other.queued
        self.answered += other.answered
        self.abandoned_in_queue += other.abandoned_in_queue
        self.left_queue += other.left_queue
        self.to_agent_s.extend(other.to_agent_s)
        self.in_queue_s.extend(other.in_queue_s)
        for name, theirs in other.states.items():
            mine = self.state(name)
            for attribute in vars(theirs):
                setattr(mine, attribute, getattr(mine, attribute) + getattr(theirs, attribute))
        self.keys += other.keys
        self.speech += other.speech
        for score, n in other.survey.items():
            self.survey[score] = self.survey.get(score, 0) + n
        return self

    def as_json(self) -> dict[str, Any]:
        answers = sum(self.survey.values())
        total = sum(score * n for score, n in self.survey.items())
        return {
            "calls": self.calls,
            "outcomes": dict(self.outcomes),
            "contained": self.contained,
            "containment": _share(self.contained, self.calls),
            "abandonment": {
                "in_ivr": self.outcomes["abandoned"],
                "in_ivr_share": _share(self.outcomes["abandoned"], self.calls),
                "queued": self.queued,
                "answered": self.answered,
                "in_queue": self.abandoned_in_queue,
                "in_queue_share": _share(self.abandoned_in_queue, self.queued),
                "left_queue": self.left_queue,
            },
            "time_to_agent_s": _spread(self.time_to_agent),
            "time_in_queue_s": _spread(self.time_in_queue),
            "input": {
                "keys": self.keys,
                "speech": self.speech,
                "speech_share": _share(self.speech, self.keys + self.speech),
            },
            "survey": {
                "answers": answers,
                "mean": None if not answers else round(total / answers, 2),
                "scores": {str(score): self.survey.get(score, 0) for score in range(1, 6)},
            },
            "states": [
                {
                    "state": name,
                    "entered": s.entered,
                    "hung_up": s.hung_up,
                    "drop_off": s.drop_off,
                    "pressed_0": s.pressed_0,
                    "answers": s.answers,
                    "no_match": s.no_match,
                    "no_input": s.no_input,
                    "reprompt_share": _share(s.no_match + s.no_input, s.answers),
                }
                for name, s in sorted(self.states.items(), key=lambda kv: (-kv[1].entered, kv[0]))
            ],
        }


@dataclass(frozen=True)
class Moment:
    """One hour (or day) of the timeline: calls started then and what became of them."""

    start: datetime
    calls: int
    contained: int
    abandoned_in_ivr: int
    queued: int
    abandoned_in_queue: int

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "calls": self.calls,
            "contained": self.contained,
            "containment": _share(self.contained, self.calls),
            "abandoned_in_ivr": self.abandoned_in_ivr,
            "in_ivr_share": _share(self.abandoned_in_ivr, self.calls),
            "queued": self.queued,
            "abandoned_in_queue": self.abandoned_in_queue,
            "in_queue_share": _share(self.abandoned_in_queue, self.queued),
        }


@dataclass(frozen=True)
class Report:
    """The figures of every call that passed ``filters``, and split three ways."""

    filters: Filters
    timezone: str
    total: Figures
    splits: Mapping[str, Mapping[str, Figures]]  # issue / lang / version → group → figures
    by_hour: tuple[int, ...]  # calls by hour of the line's day, 0 to 23
    timeline: tuple[Moment, ...]
    step: str  # "hour" or "day": the timeline's step

    def as_json(self) -> dict[str, Any]:
        f = self.filters
        return {
            "filters": {
                "since": None if f.since is None else f.since.isoformat(),
                "until": None if f.until is None else f.until.isoformat(),
                "flow": f.flow,
            },
            "timezone": self.timezone,
            **self.total.as_json(),
            "by_hour": list(self.by_hour),
            "timeline": {"step": self.step, "points": [m.as_json() for m in self.timeline]},
            "by": {
                split: {name: figures.as_json() for name, figures in sorted(groups.items())}
                for split, groups in self.splits.items()
            },
        }


def report(engine: sa.Engine, filters: Filters, zone: tzinfo) -> Report:
    """Every figure of the calls that pass ``filters``; hours and days in ``zone``.

    Each query groups by the three splits at once (issue, language, flow version): every
    call is in one such group, so the total and each split are sums of those groups."""
    where = _where(filters)
    with engine.connect() as conn:
        calls = conn.execute(
            sa.select(
                *_GROUP,
                _calls.c.started_at,
                _calls.c.outcome,
                _contained().label("contained"),
                _handoffs.c.status,
                _handoffs.c.enqueued_at,
                _handoffs.c.answered_at,
            )
            .select_from(_calls.outerjoin(_handoffs, _handoffs.c.call_sid == _calls.c.call_sid))
            .where(where)
        ).all()
        groups: dict[Combination, Figures] = defaultdict(Figures)
        for row in calls:
            _count_call(groups[_key((row.issue, row.lang, row.version))], row)
        _states(conn, where, groups)
        _surveys(conn, where, groups)
    total = Figures()
    splits: dict[str, dict[str, Figures]] = {split: {} for split in SPLITS}
    for combination, figures in groups.items():
        total.add(figures)
        for split, name in zip(SPLITS, combination, strict=True):
            splits[split].setdefault(name, Figures()).add(figures)
    by_hour = [0] * 24
    for row in calls:
        by_hour[row.started_at.astimezone(zone).hour] += 1
    step, timeline = _timeline(calls, zone)
    return Report(
        filters=filters,
        timezone=str(zone),
        total=total,
        splits=splits,
        by_hour=tuple(by_hour),
        timeline=timeline,
        step=step,
    )


def latest_start(engine: sa.Engine, flow: str | None = None) -> datetime | None:
    """When the latest recorded call (of ``flow``, if given) started; None with no calls.
    Read from ``started_at``'s index."""
    query = sa.select(sa.func.max(_calls.c.started_at))
    if flow is not None:
        query = query.where(_calls.c.flow == flow)
    with engine.connect() as conn:
        latest: datetime | None = conn.execute(query).scalar()
    return latest


def _count_call(figures: Figures, row: Any) -> None:
    """One call's outcome, containment, queue and waits (a row of ``report``'s first query)."""
    figures.calls += 1
    figures.outcomes[OUTCOME_NAMES.get(row.outcome, "open")] += 1
    figures.contained += int(row.contained or 0)
    if row.status is None:
        return
    figures.queued += 1
    figures.answered += row.status == "bridged"
    figures.abandoned_in_queue += row.status == "abandoned"
    figures.left_queue += row.status == "left"
    if row.answered_at is not None:
        figures.to_agent_s.append(max(0.0, (row.answered_at - row.started_at).total_seconds()))
        figures.in_queue_s.append(max(0.0, (row.answered_at - row.enqueued_at).total_seconds()))


# -- the queries --------------------------------------------------------------------------------


def _where(filters: Filters) -> sa.ColumnElement[bool]:
    clauses: list[sa.ColumnElement[bool]] = []
    if filters.since is not None:
        clauses.append(_calls.c.started_at >= sa.literal(filters.since, UtcDateTime()))
    if filters.until is not None:
        clauses.append(_calls.c.started_at < sa.literal(filters.until, UtcDateTime()))
    if filters.flow is not None:
        clauses.append(_calls.c.flow == filters.flow)
    return sa.and_(sa.true(), *clauses)


class _DayLater(FunctionElement[datetime]):
    """A timestamp column plus ``REPEAT_WITHIN``, in each backend's own date arithmetic."""

    type = UtcDateTime()
    inherit_cache = True


@compiles(_DayLater)
def _day_later(element: _DayLater, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    hours = int(REPEAT_WITHIN.total_seconds() // 3600)
    return f"({compiler.process(column, **kw)} + INTERVAL '{hours} hours')"


@compiles(_DayLater, "sqlite")
def _day_later_sqlite(element: _DayLater, compiler: Any, **kw: Any) -> str:
    # The same text SQLAlchemy stores a DateTime as in SQLite, so the comparison is textual.
    (column,) = element.clauses
    hours = int(REPEAT_WITHIN.total_seconds() // 3600)
    return f"strftime('%Y-%m-%d %H:%M:%f000', {compiler.process(column, **kw)}, '+{hours} hours')"


def _contained() -> sa.ColumnElement[int]:
    """1 for a self-served call with no later call from the same number within a day."""
    repeat = _calls.alias("repeat")
    again = sa.exists().where(
        repeat.c.caller == _calls.c.caller,
        repeat.c.started_at > _calls.c.started_at,
        repeat.c.started_at < _DayLater(_calls.c.started_at),
    )
    return sa.case((sa.and_(_calls.c.outcome == "self_served", sa.not_(again)), 1), else_=0)


def _states(
    conn: sa.Connection, where: sa.ColumnElement[bool], groups: dict[Combination, Figures]
) -> None:
    """Per state: calls that entered, callers who hung up there, their answers there."""
    joined = _calls.join(_events, _events.c.call_sid == _calls.c.call_sid)
    entered = conn.execute(
        sa.select(*_GROUP, _events.c.state, sa.func.count(sa.distinct(_events.c.call_sid)))
        .select_from(joined)
        .where(where, _events.c.kind == "enter")
        .group_by(*_GROUP, _events.c.state)
    ).all()
    for *combination, state, n in entered:
        groups[_key(combination)].state(state).entered = n
    # The state a caller who hung up was last in: their call's last 'enter' event.
    gone = (
        sa.select(_events.c.call_sid, sa.func.max(_events.c.id).label("last"))
        .select_from(joined)
        .where(where, _calls.c.outcome == "abandoned", _events.c.kind == "enter")
        .group_by(_events.c.call_sid)
        .subquery("gone")
    )
    last = _events.alias("last")
    hung_up = conn.execute(
        sa.select(*_GROUP, last.c.state, sa.func.count())
        .select_from(
            _calls.join(gone, gone.c.call_sid == _calls.c.call_sid).join(
                last, last.c.id == gone.c.last
            )
        )
        .group_by(*_GROUP, last.c.state)
    ).all()
    for *combination, state, n in hung_up:
        groups[_key(combination)].state(state).hung_up = n
    detail = _events.c.detail

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    spoken = sa.or_(detail.like(f"% {SPOKEN}"), detail.like(f"% {SPEECH} {{%"))
    answers = conn.execute(
        sa.select(
            *_GROUP,
            _events.c.state,
            sa.func.count(),
            count(detail.like("no_match%")),
            count(detail.like("no_input%")),
            count(detail.like("agent_key%")),
            count(spoken),
            count(sa.and_(detail.like("% %"), sa.not_(spoken), detail.not_like("recorded %"))),
        )
        .select_from(joined)
        .where(where, _events.c.kind == "input")
        .group_by(*_GROUP, _events.c.state)
    ).all()
    for issue, lang, version, state, n, no_match, no_input, pressed_0, speech, keys in answers:
        figures = groups[_key((issue, lang, version))]
        figures.speech += int(speech)
        figures.keys += int(keys)
        s = figures.state(state)
        s.answers, s.no_match, s.no_input, s.pressed_0 = n, no_match, no_input, pressed_0


def _surveys(
    conn: sa.Connection, where: sa.ColumnElement[bool], groups: dict[Combination, Figures]
) -> None:
    rows = conn.execute(
        sa.select(*_GROUP, _events.c.detail, sa.func.count())
        .select_from(_calls.join(_events, _events.c.call_sid == _calls.c.call_sid))
        .where(where, _events.c.kind == "note", _events.c.detail.like(f"{SURVEY_NOTE} %"))
        .group_by(*_GROUP, _events.c.detail)
    ).all()
    for issue, lang, version, detail, n in rows:
        score = _score(detail)
        if score is not None:
            survey = groups[_key((issue, lang, version))].survey
            survey[score] = survey.get(score, 0) + n


def _key(values: Sequence[str | None]) -> Combination:
    """A group's name in each split: NULL (no issue chosen, no flow version) is ``NONE``."""
    issue, lang, version = values
    return issue or NONE, lang or NONE, version or NONE


def _score(detail: str) -> int | None:
    """``satisfaction 4/5`` → 4; anything else (a hand-edited row) → None."""
    text = detail.removeprefix(SURVEY_NOTE).strip().partition("/")[0]
    return int(text) if text.isdigit() and 1 <= int(text) <= 5 else None


# -- in Python: the line's hours and days --------------------------------------------------------


def _timeline(rows: Iterable[Any], zone: tzinfo) -> tuple[str, tuple[Moment, ...]]:
    """Calls per hour (a period of up to two days) or per day, every step in between shown."""
    rows = sorted(rows, key=lambda row: row.started_at)
    if not rows:
        return "hour", ()
    first = rows[0].started_at.astimezone(zone)
    last = rows[-1].started_at.astimezone(zone)
    hourly = last - first <= TIMELINE_HOURLY_UP_TO
    step = timedelta(hours=1) if hourly else timedelta(days=1)

    def bucket(when: datetime) -> datetime:
        local = when.astimezone(zone)
        if hourly:
            return local.replace(minute=0, second=0, microsecond=0)
        return datetime.combine(local.date(), time(), tzinfo=zone)

    counts: dict[datetime, Counter[str]] = defaultdict(Counter)
    for row in rows:
        tally = counts[bucket(row.started_at)]
        tally["calls"] += 1
        tally["contained"] += int(row.contained or 0)
        tally["abandoned_in_ivr"] += row.outcome == "abandoned"
        tally["queued"] += row.status is not None
        tally["abandoned_in_queue"] += row.status == "abandoned"
    moments = []
    at, end = bucket(first), bucket(last)
    while at <= end:
        tally = counts.get(at, Counter())
        moments.append(
            Moment(
                at,
                tally["calls"],
                tally["contained"],
                tally["abandoned_in_ivr"],
                tally["queued"],
                tally["abandoned_in_queue"],
            )
        )
        # a day later in wall time: past a DST change, ``bucket`` lands on the next midnight
        at = bucket(at + step + (timedelta() if hourly else timedelta(hours=3)))
    return ("hour" if hourly else "day"), tuple(moments)


def _share(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


def _spread(spread: Spread) -> dict[str, Any]:
    return {"calls": spread.n, "median": spread.median_s, "p90": spread.p90_s}
