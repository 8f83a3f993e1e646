"""What happened on each call: the call record, its step-by-step events, the agent handoff.

Owns the ``call_records``, ``call_events`` and ``agent_handoffs`` tables and ``CallRecorder``,
the only writer and reader of them. Stores what it is given: the caller's number is kept raw
(``ivr.phones.mask_phone`` masks it for logs and views) and keyed-in digits arrive already masked.
Knows nothing about flows, TwiML or Flask; the engine and the webhooks decide what to record.
Status columns are ``ivr.db.one_of`` enums, and every method refuses a value outside them
first, with a ``ValueError`` naming the allowed ones. A change to these tables needs a
migration (``ivr/stores/migrations``).

A call's record is written in this order: ``start`` on the first webhook, ``event`` for each
step, ``update`` when the caller is identified or switches language, ``finish`` when the
flow reaches an outcome, ``handoff`` when the caller is queued for an agent, and ``close``
when Twilio's status callback says the call is over.

A caller waiting for an agent is "seen" each time Twilio fetches their hold page
(``seen``). Both of Twilio's notifications of a hang-up in the queue (the Enqueue action and
the status callback) can be lost; a waiting handoff not seen for ``waiting_ttl`` is then a
ghost: ``waiting`` leaves it out, so an agent never picks it, and ``expire_waiting`` marks it
'abandoned'. A restart of a call the IVR lost track of is noted as an event (``note_restart``)
so that it happens at most once per call.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ivr.clock import Clock
from ivr.db import Base
from ivr.db import Ctes
from ivr.db import UtcDateTime
from ivr.db import dialect_insert
from ivr.db import from_row
from ivr.db import one_of
from ivr.db import one_statement
from ivr.db import pg_param

OUTCOMES = ("self_served", "agent", "abandoned", "failed")
EVENT_KINDS = ("enter", "input", "note")
SURVEY_NOTE = "satisfaction"  # a survey answer's note: ``satisfaction 4/5`` (``ivr report``)
RESTART_NOTE = "restart"  # the detail of the event that notes a call's one restart
HANDOFF_STATUSES = ("waiting", "bridged", "left", "abandoned", "failed")
# Twilio's final CallStatus values, and the outcome of a call that ended without one.
_UNSERVED_OUTCOME = {
    "completed": "abandoned",
    "canceled": "abandoned",
    "no-answer": "abandoned",
    "busy": "abandoned",
    "failed": "failed",
}


class CallRecordRow(Base):
    __tablename__ = "call_records"

    call_sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    flow: Mapped[str] = mapped_column(sa.String(64))
    caller: Mapped[str] = mapped_column(sa.String(64))
    account_id: Mapped[int | None] = mapped_column(sa.Integer)
    lang: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(
        one_of(OUTCOMES, name="call_records_outcome", length=16)
    )
    reason: Mapped[str | None] = mapped_column(sa.Text)
    queue: Mapped[str | None] = mapped_column(sa.String(64))
    duration_s: Mapped[int | None] = mapped_column(sa.Integer)
    # The flow's version (``ivr.flow.version``) the call ran on; None for calls before 0004.
    # Last, where the migration adds it, so a migrated table and a new one are the same.
    flow_version: Mapped[str | None] = mapped_column(sa.String(16))
    # What the caller chose to call about (a key of the flow's ``issues``); None until they
    # chose. Added by 0007 for ``ivr report``'s figures per issue type.
    issue: Mapped[str | None] = mapped_column(sa.String(64))

    # ``ivr report``: a repeat call from the same caller within a day (containment).
    __table_args__ = (sa.Index("ix_call_records_caller_started", "caller", "started_at"),)


class CallEventRow(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("call_records.call_sid", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[str] = mapped_column(one_of(EVENT_KINDS, name="call_events_kind", length=8))
    detail: Mapped[str] = mapped_column(sa.Text)

    # ``ivr report``: the per-state counts of a period's calls read this index, not the table.
    __table_args__ = (sa.Index("ix_call_events_report", "call_sid", "kind", "state", "detail"),)


class AgentHandoffRow(Base):
    __tablename__ = "agent_handoffs"

    call_sid: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("call_records.call_sid", ondelete="CASCADE"), primary_key=True
    )
    queue: Mapped[str] = mapped_column(sa.String(64))
    priority: Mapped[int] = mapped_column(sa.Integer)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    account_id: Mapped[int | None] = mapped_column(sa.Integer)
    caller_name: Mapped[str | None] = mapped_column(sa.String(128))
    verified: Mapped[bool] = mapped_column(sa.Boolean)
    issue: Mapped[str | None] = mapped_column(sa.Text)
    steps_tried: Mapped[list[str]] = mapped_column(sa.JSON)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(
        one_of(HANDOFF_STATUSES, name="agent_handoffs_status", length=16), index=True
    )
    # When the caller was last known to be on the line: queued, or fetching the hold page.
    seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When an agent answered (enqueued_at + Twilio's QueueTime) and when the caller left the
    # queue for good (after the talk, on hanging up, or on leaving): what `ivr capacity`
    # measures handle times and patience from.
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class CallEvent:
    """One thing that happened at step ``seq``: a state entered, an input, or a note."""

    seq: int
    at: datetime
    state: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Handoff:
    """What the agent sees before picking up: who, how urgent, what was already tried."""

    call_sid: str
    queue: str
    priority: int
    enqueued_at: datetime
    account_id: int | None
    caller_name: str | None
    verified: bool
    issue: str | None
    steps_tried: list[str]
    reason: str | None
    status: str
    answered_at: datetime | None = None
    left_at: datetime | None = None


@dataclass(frozen=True)
class CallRecord:
    """One call from start to end, with its events in step order and its handoff if any."""

    call_sid: str
    flow: str
    caller: str
    account_id: int | None
    lang: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    reason: str | None
    queue: str | None
    duration_s: int | None
    events: list[CallEvent]
    handoff: Handoff | None
    flow_version: str | None = None  # which wording the caller heard: ``ivr diff`` compares
    issue: str | None = None  # what the caller chose to call about (a key of the flow's issues)


# built once: a webhook's events are written with it (keying a new statement costs CPU)
_INSERT_EVENTS = sa.insert(CallEventRow)
# the columns of an event row as ``event`` and ``events`` make it
_EVENT_COLUMNS = ("call_sid", "seq", "at", "state", "kind", "detail")


class _HeldEvents(threading.local):
    """What a webhook holds back (``CallRecorder.holding_events``), per call, per thread:
    event rows, and the changes to call records (merged: one UPDATE per call)."""

    def __init__(self) -> None:
        self.depth = 0
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.updates: dict[str, dict[str, Any]] = {}

    def update(self, call_sid: str, values: dict[str, Any]) -> None:
        """Hold ``values`` for the call's record: a later value replaces an earlier one,
        except ``outcome``, where the first stays (as ``_record_update`` keeps it)."""
        merged = self.updates.setdefault(call_sid, {})
        for name, value in values.items():
            if name != "outcome" or name not in merged:
                merged[name] = value


class CallRecorder:
    """Writes and reads call records. Every method is one short transaction; most are one
    statement, run on ``ivr.db.one_statement`` (autocommit on PostgreSQL: no BEGIN, COMMIT
    or ROLLBACK round trips). Every statement of the hot path is built once, at import
    (building and keying a statement per call cost more CPU than running it).

    Methods that change a call which has no record (``start`` never ran) change nothing,
    except ``event`` and ``handoff``, which need the record and fail loudly without it.
    SQLite and PostgreSQL only (``ConfigError`` otherwise), as the session store.
    """

    def __init__(
        self, engine: sa.Engine, clock: Clock, *, waiting_ttl: timedelta | None = None
    ) -> None:
        self._engine = engine
        self._one = one_statement(engine)  # for work that is one statement
        self._statements = _DialectStatements.of(engine.dialect.name)
        self._clock = clock
        self._waiting_ttl = waiting_ttl  # None: a waiting caller is never taken for gone
        self._held = _HeldEvents()

    @contextmanager
    def holding_events(self) -> Iterator[None]:
        """Within the block, events (``event``, ``events``) and changes to call records
        (``update``, ``finish``) are held in this thread rather than written at once: the SQL
        session store writes them in the transaction that saves the session (``write_held``,
        then ``held_written``), so a webhook costs one write fewer. Whatever is still held
        when the block ends (another store, no save) is written then, in one transaction: a
        webhook's record-keeping costs one transaction, however many things it noted. On
        PostgreSQL that is one statement (a data-modifying ``WITH``: the events' INSERT, then
        the record's UPDATE), run in autocommit."""
        held = self._held
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and (held.rows or held.updates):
                rows = [row for rows in held.rows.values() for row in rows]
                updates = held.updates
                held.rows, held.updates = {}, {}
                self._write_now(rows, updates)

    def write_held(self, conn: sa.Connection, call_sid: str) -> None:
        """Write what is held for ``call_sid`` on ``conn``, in the caller's transaction."""
        held = self._held
        rows = held.rows.get(call_sid, [])
        update = held.updates.get(call_sid)
        _write(conn, rows, {call_sid: update} if update else {})

    def held_ctes(self, call_sid: str, only_if: str) -> Ctes | None:
        """What is held for ``call_sid`` as parts of another PostgreSQL statement (the SQL
        session store's save), each writing only if the SQL condition ``only_if`` holds: the
        event rows' INSERT (``held_events``) and the record's UPDATE (``held_record``); None
        when nothing is held. Like ``write_held``, followed by ``held_written`` once the
        statement has run."""
        held = self._held
        rows = held.rows.get(call_sid, [])
        update = held.updates.get(call_sid) or {}
        if not rows and not update:
            return None
        texts, binds = _held_ctes(len(rows), tuple(sorted(update)), only_if)
        params = _event_params(rows)
        if update:
            params.update(_update_params(call_sid, update, "h"))
        return Ctes(texts, binds, params)

    def held_written(self, call_sid: str) -> None:
        """The transaction ``write_held`` wrote in has committed: what it wrote is stored."""
        self._held.rows.pop(call_sid, None)
        self._held.updates.pop(call_sid, None)

    def _write_held_now(self, call_sid: str) -> None:
        """Write what is held for ``call_sid`` now (a read of its record must see it)."""
        held = self._held
        if call_sid in held.rows or call_sid in held.updates:
            update = held.updates.get(call_sid)
            self._write_now(held.rows.get(call_sid, []), {call_sid: update} if update else {})
            self.held_written(call_sid)

    def _write_now(self, rows: list[dict[str, Any]], updates: dict[str, dict[str, Any]]) -> None:
        """Write event ``rows`` and record ``updates`` now: in autocommit when that is one
        statement, else in one transaction."""
        cte = self._engine.dialect.name == "postgresql"
        single = len(updates) <= 1 if cte else len(updates) + (1 if rows else 0) <= 1
        with (self._one if single else self._engine).begin() as conn:
            _write(conn, rows, updates)

    def start(
        self, call_sid: str, *, flow: str, caller: str, lang: str, flow_version: str | None = None
    ) -> None:
        """Open the call's record, with the version of the flow it runs on. A second start
        for the same call (a retry) does nothing."""
        row = {
            "b_call_sid": call_sid,
            "b_flow": flow,
            "b_flow_version": flow_version,
            "b_caller": caller,
            "b_lang": lang,
            "b_now": self._clock.now(),
        }
        # one statement: ON CONFLICT DO NOTHING (a failed INSERT would cost a read after it)
        with self._one.begin() as conn:
            conn.execute(self._statements.start, row)

    def event(self, call_sid: str, *, seq: int, state: str, kind: str, detail: str = "") -> None:
        """Append an event. ``detail`` is stored as given: mask inputs before passing them."""
        _check(kind, EVENT_KINDS, "event kind")
        row = {
            "call_sid": call_sid,
            "seq": seq,
            "at": self._clock.now(),
            "state": state,
            "kind": kind,
            "detail": detail,
        }
        if self._held.depth:
            self._held.rows.setdefault(call_sid, []).append(row)
            return
        with self._one.begin() as conn:
            conn.execute(_INSERT_EVENTS, row)

    def speech_inputs(self, marker: str) -> list[tuple[str, str, str]]:
        """(the call's language, state, detail) of every input event whose detail holds
        ``marker``, oldest first: what callers said and what it was matched to, as the engine
        noted it (``ivr intents review`` reads them)."""
        events, records = (
            sa.inspect(CallEventRow).local_table,
            sa.inspect(CallRecordRow).local_table,
        )
        query = (
            sa.select(records.c.lang, events.c.state, events.c.detail)
            .join(records, records.c.call_sid == events.c.call_sid)
            .where(events.c.kind == "input", events.c.detail.contains(marker, autoescape=True))
            .order_by(events.c.id)
        )
        with self._one.connect() as conn:
            return [(str(a), str(b), str(c)) for a, b, c in conn.execute(query)]

    def events(self, call_sid: str, events: Sequence[tuple[int, str, str, str]]) -> None:
        """Append several events, each ``(seq, state, kind, detail)``, in one transaction:
        a webhook's whole path costs one write."""
        if not events:
            return
        now = self._clock.now()
        rows = []
        for seq, state, kind, detail in events:
            _check(kind, EVENT_KINDS, "event kind")
            rows.append(
                {
                    "call_sid": call_sid,
                    "seq": seq,
                    "at": now,
                    "state": state,
                    "kind": kind,
                    "detail": detail,
                }
            )
        if self._held.depth:
            self._held.rows.setdefault(call_sid, []).extend(rows)
            return
        with self._one.begin() as conn:
            _write(conn, rows, {})

    def update(
        self,
        call_sid: str,
        *,
        account_id: int | None = None,
        lang: str | None = None,
        issue: str | None = None,
    ) -> None:
        """Set the identified account, the language and/or the issue the caller chose; None
        leaves a field as it is."""
        values: dict[str, Any] = {}
        if account_id is not None:
            values["account_id"] = account_id
        if lang is not None:
            values["lang"] = lang
        if issue is not None:
            values["issue"] = issue
        if values:
            self._update_record(call_sid, values)

    def finish(
        self,
        call_sid: str,
        *,
        outcome: str | None = None,
        reason: str | None = None,
        queue: str | None = None,
    ) -> None:
        """Record how the call turned out. The first outcome stays; a later one is ignored.

        ``reason`` and ``queue`` replace earlier values when given. The call is not ended
        here: ``close`` does that when Twilio reports the call over.
        """
        values: dict[str, Any] = {}
        if outcome is not None:
            _check(outcome, OUTCOMES, "outcome")
            values["outcome"] = outcome  # the first outcome stays (``_update_record``)
        if reason is not None:
            values["reason"] = reason
        if queue is not None:
            values["queue"] = queue
        if values:
            self._update_record(call_sid, values)

    def close(self, call_sid: str, *, duration_s: int | None, status: str) -> None:
        """Twilio's status callback: the call is over with final CallStatus ``status``.

        A call that reached no outcome is 'failed' if Twilio says so and 'abandoned' otherwise
        (the caller hung up first). A handoff still waiting becomes 'abandoned'. A repeated
        callback keeps the first end time. One statement on PostgreSQL (the handoff's UPDATE
        in a ``WITH``), run in autocommit; two in one transaction on SQLite.
        """
        _check(status, tuple(_UNSERVED_OUTCOME), "final call status")
        params = {
            "b_call_sid": call_sid,
            "b_now": self._clock.now(),
            "b_duration_s": duration_s,
            "b_outcome": _UNSERVED_OUTCOME[status],
        }
        close = self._statements.close
        if close is not None:
            with self._one.begin() as conn:
                conn.execute(close, params)
            return
        with self._engine.begin() as conn:
            conn.execute(_CLOSE_RECORD, params)
            conn.execute(_ABANDON_WAITING, params)

    def handoff(
        self,
        call_sid: str,
        *,
        queue: str,
        priority: int,
        account_id: int | None,
        caller_name: str | None,
        verified: bool,
        issue: str | None,
        steps_tried: Sequence[str],
        reason: str | None,
    ) -> None:
        """Queue the call for an agent, or refresh its handoff if it is already there.

        A duplicate delivery updates the one row and keeps the caller's place in the queue
        (``enqueued_at``); a handoff that had left the queue waits again from now. One
        statement (INSERT ... ON CONFLICT DO UPDATE), so two deliveries racing meet in the
        database, never in an error.
        """
        params = {
            "b_call_sid": call_sid,
            "b_queue": queue,
            "b_priority": priority,
            "b_account_id": account_id,
            "b_caller_name": caller_name,
            "b_verified": verified,
            "b_issue": issue,
            "b_steps_tried": list(steps_tried),
            "b_reason": reason,
            "b_now": self._clock.now(),
        }
        with self._one.begin() as conn:
            conn.execute(self._statements.handoff, params)

    def handoff_status(self, call_sid: str, status: str, *, waited_s: int | None = None) -> None:
        """Move the handoff on: 'bridged' to an agent, 'left' the queue, or 'abandoned'.

        ``waited_s`` is Twilio's QueueTime on the Enqueue action, which Twilio calls when the
        caller is out of the queue for good (for a bridged call: after the talk). With it,
        the handoff keeps when it was answered and when it ended; without it (an agent just
        dequeued the caller) only the status changes.
        """
        _check(status, HANDOFF_STATUSES, "handoff status")
        params: dict[str, Any] = {"b_call_sid": call_sid, "b_status": status}
        statement = _HANDOFF_STATUS
        if waited_s is not None:
            now = self._clock.now()
            params["b_left_at"] = now
            statement = _HANDOFF_LEFT
            enqueued_at = self._enqueued_at(call_sid) if status == "bridged" else None
            if enqueued_at is not None:
                answered = min(enqueued_at + timedelta(seconds=max(0, waited_s)), now)
                params["b_answered_at"] = answered
                statement = _HANDOFF_ANSWERED
        with self._one.begin() as conn:
            conn.execute(statement, params)

    def _enqueued_at(self, call_sid: str) -> datetime | None:
        with self._one.connect() as conn:
            found: datetime | None = conn.execute(
                _ENQUEUED_AT, {"b_call_sid": call_sid}
            ).scalar_one_or_none()
        return found

    def record(self, call_sid: str) -> CallRecord | None:
        """The call's record with its events in step order, or None if it never started
        (what this thread holds for it written first)."""
        self._write_held_now(call_sid)
        params = {"b_call_sid": call_sid}
        with self._one.connect() as conn:  # three reads, each its own snapshot as before
            row = conn.execute(_RECORD, params).one_or_none()
            if row is None:
                return None
            events = conn.execute(_EVENTS_OF, params).all()
            handoff = conn.execute(_HANDOFF_OF, params).one_or_none()
        return from_row(
            CallRecord,
            row,
            events=[from_row(CallEvent, event) for event in events],
            handoff=None if handoff is None else from_row(Handoff, handoff),
        )

    def seen(self, call_sid: str) -> None:
        """The waiting caller is still on the line (Twilio fetched their hold page)."""
        with self._one.begin() as conn:
            conn.execute(_SEEN, {"b_call_sid": call_sid, "b_now": self._clock.now()})

    def waiting(self) -> list[Handoff]:
        """Callers waiting for an agent, ghosts left out: most urgent first, then longest
        waiting first."""
        return self._handoffs("waiting", self._alive())

    def expire_waiting(self) -> int:
        """Mark the ghosts 'abandoned': waiting callers not seen for ``waiting_ttl``. The
        count; 0 when no ``waiting_ttl`` was given."""
        if self._waiting_ttl is None:
            return 0
        with self._engine.begin() as conn:
            expired: int = conn.execute(
                sa.update(AgentHandoffRow)
                .where(AgentHandoffRow.status == "waiting", sa.not_(self._alive()))
                .values(status="abandoned")
            ).rowcount
        return expired

    def _alive(self) -> sa.ColumnElement[bool]:
        """A waiting handoff seen within ``waiting_ttl`` (any, without one)."""
        if self._waiting_ttl is None:
            return sa.true()
        table = AgentHandoffRow
        since = sa.literal(self._clock.now() - self._waiting_ttl, UtcDateTime())
        return sa.func.coalesce(table.seen_at, table.enqueued_at) >= since

    def note_restart(self, call_sid: str) -> bool:
        """Note that the IVR starts the call over; False when it already did once (or the
        call has no record), so the caller goes to an agent instead of round again."""
        table = CallEventRow
        with self._engine.begin() as conn:
            if not conn.execute(
                sa.select(CallRecordRow.call_sid).where(CallRecordRow.call_sid == call_sid)
            ).first():
                return True  # nothing known of the call: starting over is all there is
            done = conn.execute(
                sa.select(table.id).where(
                    table.call_sid == call_sid,
                    table.kind == "note",
                    table.detail == RESTART_NOTE,
                )
            ).first()
            if done is not None:
                return False
            conn.execute(
                sa.insert(table).values(
                    call_sid=call_sid,
                    seq=0,
                    at=self._clock.now(),
                    state="_restart",
                    kind="note",
                    detail=RESTART_NOTE,
                )
            )
        return True

    def handoffs(self, *, status: str | None = None) -> list[Handoff]:
        """Every handoff (or those with ``status``): most urgent first, then oldest first."""
        return self._handoffs(status, sa.true())

    def _handoffs(self, status: str | None, where: sa.ColumnElement[bool]) -> list[Handoff]:
        query = sa.select(AgentHandoffRow.__table__).where(where)
        if status is not None:
            _check(status, HANDOFF_STATUSES, "handoff status")
            query = query.where(AgentHandoffRow.status == status)
        with self._one.connect() as conn:
            rows = conn.execute(
                query.order_by(
                    AgentHandoffRow.priority.desc(),
                    AgentHandoffRow.enqueued_at,
                    AgentHandoffRow.call_sid,
                )
            ).all()
        return [from_row(Handoff, row) for row in rows]

    def _update_record(self, call_sid: str, values: dict[str, Any]) -> None:
        """Set ``values`` on the call's record; an ``outcome`` only where none is set yet.
        Held while ``holding_events``."""
        if self._held.depth:
            self._held.update(call_sid, values)
            return
        with self._one.begin() as conn:
            _write(conn, [], {call_sid: values})


def _write(
    conn: sa.Connection, rows: list[dict[str, Any]], updates: dict[str, dict[str, Any]]
) -> None:
    """Insert event ``rows`` and apply ``updates`` (call sid -> values) to call records.
    Several rows go in one INSERT with a VALUES list, never as an executemany: psycopg runs
    an executemany in pipeline mode, which spent ~0.4 ms of CPU per webhook waiting. On
    PostgreSQL, the rows and one record's update are one statement (``_events_and_update``)."""
    if rows and len(updates) == 1 and conn.dialect.name == "postgresql":
        ((call_sid, values),) = updates.items()
        params = {**_event_params(rows), **_update_params(call_sid, values, "b")}
        conn.execute(_events_and_update(len(rows), tuple(sorted(values))), params)
        return
    if len(rows) == 1:
        conn.execute(_INSERT_EVENTS, rows[0])
    elif rows:
        conn.execute(_insert_events(len(rows)), _event_params(rows))
    for call_sid, values in updates.items():
        conn.execute(_record_update(tuple(sorted(values))), _update_params(call_sid, values, "b"))


def _event_params(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The bound parameters (``<column>_<row>``) of event ``rows`` in one VALUES list."""
    return {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}


def _update_params(call_sid: str, values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The bound parameters (``<prefix>_<column>``, ``<prefix>_call_sid``) of the update of
    ``call_sid``'s record to ``values``."""
    params = {f"{prefix}_{name}": value for name, value in values.items()}
    params[f"{prefix}_call_sid"] = call_sid
    return params


def _check(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")


@functools.lru_cache(maxsize=64)
def _insert_events(count: int) -> sa.TextClause:
    """The INSERT of ``count`` event rows in one VALUES list, from bound parameters
    ``<column>_<row>`` typed as the columns are; built once per count. Written as text:
    SQLAlchemy compiles a VALUES list of an ``insert()`` again on every execution."""
    sql, params = _events_values(count)
    return sa.text(sql).bindparams(*params)


def _events_values(count: int) -> tuple[str, list[sa.BindParameter[Any]]]:
    """The text of the INSERT of ``count`` event rows, and its typed bound parameters."""
    names, rows, params = _event_rows(count, lambda name, column: f":{name}")
    return f"INSERT INTO {_EVENTS_T.name} ({names}) VALUES {rows}", params


def _event_rows(
    count: int, param: Callable[[str, sa.Column[Any]], str]
) -> tuple[str, str, list[sa.BindParameter[Any]]]:
    """For ``count`` event rows: their columns' names, the rows of a VALUES list (each
    parameter ``<column>_<row>`` written by ``param``) and the typed bound parameters."""
    columns = [_EVENTS_T.c[name] for name in _EVENT_COLUMNS]
    rows = ", ".join(
        "(" + ", ".join(param(f"{c.name}_{i}", c) for c in columns) + ")" for i in range(count)
    )
    names = ", ".join(c.name for c in columns)
    params = [sa.bindparam(f"{c.name}_{i}", type_=c.type) for i in range(count) for c in columns]
    return names, rows, params


def _record_sets(names: tuple[str, ...], prefix: str) -> tuple[str, list[sa.BindParameter[Any]]]:
    """The SET list of a call record's update of the columns ``names`` from parameters
    ``<prefix>_<column>`` (``outcome`` keeps a set one), and the typed bound parameters, the
    ``<prefix>_call_sid`` of its WHERE included."""
    sets = ", ".join(
        f"{name} = coalesce({name}, :{prefix}_{name})"
        if name == "outcome"
        else f"{name} = :{prefix}_{name}"
        for name in names
    )
    params = [sa.bindparam(f"{prefix}_{name}", type_=_RECORDS.c[name].type) for name in names]
    params.append(sa.bindparam(f"{prefix}_call_sid", type_=_RECORDS.c.call_sid.type))
    return sets, params


@functools.cache
def _record_update(names: tuple[str, ...]) -> sa.Update:
    """The UPDATE of a call record setting the columns ``names`` from bound parameters
    (``b_<name>``), built once per set of columns; ``outcome`` keeps a set one."""
    values: dict[str, Any] = {name: sa.bindparam(f"b_{name}") for name in names}
    if "outcome" in values:
        values["outcome"] = sa.func.coalesce(CallRecordRow.outcome, values["outcome"])
    where = CallRecordRow.call_sid == sa.bindparam("b_call_sid")
    return sa.update(CallRecordRow).where(where).values(values)


@functools.cache
def _held_ctes(
    count: int, names: tuple[str, ...], only_if: str
) -> tuple[tuple[str, ...], tuple[sa.BindParameter[Any], ...]]:
    """``CallRecorder.held_ctes``' texts and typed parameters, built once per shape: the
    INSERT of ``count`` event rows (``_insert_events``' parameters, selected from a VALUES
    list so that a WHERE can hold them back) and the UPDATE of one call record setting
    ``names`` (parameters ``h_<name>`` and ``h_call_sid``; ``outcome`` keeps a set one), each
    only when ``only_if`` holds."""
    texts: list[str] = []
    binds: list[sa.BindParameter[Any]] = []
    if count:
        listed, rows, params = _event_rows(count, pg_param)
        texts.append(
            f"held_events AS (INSERT INTO {_EVENTS_T.name} ({listed}) SELECT * FROM "
            f"(VALUES {rows}) AS held ({listed}) WHERE {only_if})"
        )
        binds += params
    if names:
        sets, params = _record_sets(names, "h")
        texts.append(
            f"held_record AS (UPDATE {_RECORDS.name} SET {sets} "
            f"WHERE call_sid = :h_call_sid AND {only_if})"
        )
        binds += params
    return tuple(texts), tuple(binds)


@functools.cache
def _events_and_update(count: int, names: tuple[str, ...]) -> sa.TextClause:
    """PostgreSQL's one statement for a webhook's held writes: the INSERT of ``count`` event
    rows (``_insert_events``' parameters) in a data-modifying ``WITH``, then the UPDATE of
    one call record setting ``names`` (``_record_update``'s parameters; ``outcome`` keeps a
    set one). Built once per shape; one statement, so it may run in autocommit."""
    sets, updated = _record_sets(names, "b")
    insert, params = _events_values(count)
    return sa.text(
        f"WITH new_events AS ({insert}) "
        f"UPDATE {_RECORDS.name} SET {sets} WHERE call_sid = :b_call_sid"
    ).bindparams(*params, *updated)


# The statements of every call's hot path, built once with bound parameters (building and
# keying a statement per call cost more CPU than the database took to run it).
_RECORDS = cast(sa.Table, CallRecordRow.__table__)
_EVENTS_T = cast(sa.Table, CallEventRow.__table__)
_HANDOFFS = cast(sa.Table, AgentHandoffRow.__table__)
_SID: sa.BindParameter[str] = sa.bindparam("b_call_sid", type_=sa.String())
_NOW: sa.BindParameter[datetime] = sa.bindparam("b_now", type_=UtcDateTime())
_RECORD = sa.select(_RECORDS).where(_RECORDS.c.call_sid == _SID)
_EVENTS_OF = (
    sa.select(_EVENTS_T)
    .where(_EVENTS_T.c.call_sid == _SID)
    .order_by(_EVENTS_T.c.seq, _EVENTS_T.c.id)
)
_HANDOFF_OF = sa.select(_HANDOFFS).where(_HANDOFFS.c.call_sid == _SID)
_ENQUEUED_AT = sa.select(_HANDOFFS.c.enqueued_at).where(_HANDOFFS.c.call_sid == _SID)
_WAITING = sa.and_(_HANDOFFS.c.call_sid == _SID, _HANDOFFS.c.status == "waiting")
_SEEN = sa.update(_HANDOFFS).where(_WAITING).values(seen_at=_NOW)
# ``close``: the first end time and the first outcome stay; a handoff still waiting is left.
_CLOSE_RECORD = (
    sa.update(_RECORDS)
    .where(_RECORDS.c.call_sid == _SID)
    .values(
        ended_at=sa.func.coalesce(_RECORDS.c.ended_at, _NOW),
        duration_s=sa.bindparam("b_duration_s", type_=sa.Integer()),
        outcome=sa.func.coalesce(
            _RECORDS.c.outcome, sa.bindparam("b_outcome", type_=_RECORDS.c.outcome.type)
        ),
    )
)
_ABANDON_WAITING = sa.update(_HANDOFFS).where(_WAITING).values(status="abandoned", left_at=_NOW)
# ``handoff_status``: the status; with it when the caller left; and when an agent answered.
_HANDOFF_STATUS = (
    sa.update(_HANDOFFS)
    .where(_HANDOFFS.c.call_sid == _SID)
    .values(status=sa.bindparam("b_status", type_=_HANDOFFS.c.status.type))
)
_HANDOFF_LEFT = _HANDOFF_STATUS.values(left_at=sa.bindparam("b_left_at", type_=UtcDateTime()))
_HANDOFF_ANSWERED = _HANDOFF_LEFT.values(
    answered_at=sa.bindparam("b_answered_at", type_=UtcDateTime())
)


@dataclass(frozen=True)
class _DialectStatements:
    """The statements that say ON CONFLICT, in one database's dialect, and on PostgreSQL
    ``close`` as one statement (a data-modifying ``WITH``, which SQLite lacks)."""

    start: sa.Insert
    handoff: sa.Insert
    close: sa.Update | None = None

    @classmethod
    @functools.cache
    def of(cls, dialect: str) -> _DialectStatements:
        insert = dialect_insert(dialect, "call records")
        # A retried start (a webhook delivered twice) meets the row and does nothing.
        start = (
            insert(_RECORDS)
            .values(
                call_sid=_SID,
                flow=sa.bindparam("b_flow", type_=sa.String()),
                flow_version=sa.bindparam("b_flow_version", type_=sa.String()),
                caller=sa.bindparam("b_caller", type_=sa.String()),
                lang=sa.bindparam("b_lang", type_=sa.String()),
                started_at=_NOW,
            )
            .on_conflict_do_nothing(index_elements=[_RECORDS.c.call_sid])
        )
        columns = _HANDOFFS.c
        details = (
            *("queue", "priority", "account_id", "caller_name", "verified", "issue"),
            *("steps_tried", "reason"),
        )
        handoff = insert(_HANDOFFS).values(
            call_sid=_SID,
            enqueued_at=_NOW,
            seen_at=_NOW,
            status="waiting",
            **{name: sa.bindparam(f"b_{name}", type_=columns[name].type) for name in details},
        )
        # A duplicate refreshes the row; SET reads the old row: a caller still waiting keeps
        # their place, one who had left waits again from now.
        handoff = handoff.on_conflict_do_update(
            index_elements=[columns.call_sid],
            set_={
                **{name: handoff.excluded[name] for name in details},
                "enqueued_at": sa.case(
                    (columns.status == "waiting", columns.enqueued_at),
                    else_=handoff.excluded.enqueued_at,
                ),
                "status": "waiting",
                "seen_at": handoff.excluded.seen_at,
                "answered_at": None,
                "left_at": None,
            },
        )
        if dialect != "postgresql":
            return cls(start, handoff)
        return cls(start, handoff, _CLOSE_RECORD.add_cte(_ABANDON_WAITING.cte("left_queue")))
