"""Callback requests and the attempts to call them back.

Owns the ``callback_requests`` and ``callback_attempts`` tables and ``CallbackBook``, the only
writer and reader of them. One request per call (``call_sid`` is unique): a webhook delivered
twice, or two deliveries racing, leave one request, and both get it back. Stores the caller's
number raw, as ``ivr.stores.records`` does (``ivr.phones.mask_phone`` masks it for logs and
views). Knows nothing about flows, queues' hours, TwiML, Twilio or Flask: the engine decides
when to offer a callback and passes the preferred time (``Hours.next_opening`` when the line
is closed); the dialer (``ivr.hotline.dialer``) decides which requests are due and passes
that decision in as a predicate.

A request's life: ``pending`` → (claimed by a dialer) ``dialing`` → ``done`` (a person
answered), ``cancelled`` (they pressed 2, or an agent cancelled it), ``pending`` again with
``next_try_at`` (busy, no answer, failed, a machine), or ``failed`` after the last attempt
(the dialer then opens a ticket and notes its number here). Every attempt is a row of
``callback_attempts`` with its outcome.

Claims are safe with several dialers on PostgreSQL: candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` (a row another dialer is claiming is skipped, never waited for or
taken twice), and a transaction-level advisory lock serialises the per-queue count of calls
in progress, so the concurrency cap holds across dialers too. A claim carries a lease
(``claimed_by``, ``lease_until``): SQLite has no row locks, and one dialer there is safe
because its writes are serialised. A change to the tables needs a migration
(``ivr/stores/migrations``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
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
from ivr.db import UtcDateTime
from ivr.db import dialect_insert
from ivr.db import from_row
from ivr.db import one_of
from ivr.db import one_statement

CALLBACK_STATUSES = ("pending", "dialing", "done", "cancelled", "failed")
#: What became of one attempt. ``answered``: a person took the call; ``machine``: an
#: answering machine or fax (a message was left); ``busy``, ``no-answer``, ``failed``,
#: ``canceled``: Twilio's final CallStatus before anyone answered; ``lost``: the dialer died
#: before Twilio took the call (its lease ran out with no call placed).
ATTEMPT_OUTCOMES = (
    "answered",
    "machine",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "lost",
)
# Outcomes after which the request is done: somebody (a person) picked up.
REACHED = frozenset({"answered"})
# PostgreSQL advisory lock key serialising claims (the per-queue count of calls in progress).
_CLAIM_LOCK = 0x1CA11BAC


class CallbackRequestRow(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    # No foreign key to call_records: a request outlives the call's record being purged.
    call_sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    phone: Mapped[str] = mapped_column(sa.String(64))
    account_id: Mapped[int | None] = mapped_column(sa.Integer)
    issue: Mapped[str | None] = mapped_column(sa.Text)
    queue: Mapped[str] = mapped_column(sa.String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    preferred_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(
        one_of(CALLBACK_STATUSES, name="callback_requests_status", length=16), index=True
    )
    # What the first call knew, for the callback's greeting and the agent's screen.
    lang: Mapped[str | None] = mapped_column(sa.String(16))
    verified: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    steps: Mapped[list[str] | None] = mapped_column(sa.JSON)
    # The dialer's bookkeeping.
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    next_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ticket: Mapped[str | None] = mapped_column(sa.String(32))


class CallbackAttemptRow(Base):
    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("callback_requests.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(sa.Integer)  # 1 for the first attempt
    dialer: Mapped[str] = mapped_column(sa.String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    call_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    answered_by: Mapped[str | None] = mapped_column(sa.String(32))
    outcome: Mapped[str | None] = mapped_column(
        one_of(ATTEMPT_OUTCOMES, name="callback_attempts_outcome", length=16)
    )
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class CallbackRequest:
    """A caller to ring back on ``phone``, for ``queue``, not before ``preferred_at``
    (None: as soon as an agent is free) nor before ``next_try_at`` (a retry's delay)."""

    id: int
    call_sid: str
    phone: str
    account_id: int | None
    issue: str | None
    queue: str
    requested_at: datetime
    preferred_at: datetime | None
    status: str
    lang: str | None = None
    verified: bool = False
    steps: tuple[str, ...] = ()
    attempts: int = 0
    next_try_at: datetime | None = None
    claimed_by: str | None = None
    lease_until: datetime | None = None
    ticket: str | None = None

    def earliest(self) -> datetime:
        """The first moment this request may be dialled, hours aside."""
        moments = [m for m in (self.preferred_at, self.next_try_at) if m is not None]
        return max(moments) if moments else self.requested_at


@dataclass(frozen=True)
class CallbackAttempt:
    """One outbound call placed (or about to be) for a request."""

    id: int
    request_id: int
    number: int
    dialer: str
    started_at: datetime
    call_sid: str | None
    answered_by: str | None
    outcome: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Claim:
    """A request this dialer now holds (status ``dialing``) and the attempt to make."""

    request: CallbackRequest
    attempt: CallbackAttempt


@dataclass(frozen=True)
class Settled:
    """What ``settle`` did: the attempt's outcome and the request's new status. ``last``:
    the request ran out of attempts (the caller of ``settle`` opens a ticket)."""

    request: CallbackRequest
    attempt: CallbackAttempt
    outcome: str
    status: str

    @property
    def last(self) -> bool:
        return self.status == "failed"


def _request(row: object) -> CallbackRequest:
    steps = getattr(row, "steps", None) or ()
    return from_row(CallbackRequest, row, steps=tuple(str(s) for s in steps))


class CallbackBook:
    """Writes and reads callback requests and attempts. Every method is one short
    transaction. Reads by key and the booking of a request are one statement each, built
    once, run on ``ivr.db.one_statement`` (autocommit on PostgreSQL). SQLite and PostgreSQL
    only (``ConfigError`` otherwise)."""

    def __init__(self, engine: sa.Engine, clock: Clock) -> None:
        self._engine = engine
        self._one = one_statement(engine)  # for work that is one statement
        self._insert_request = _insert_request(engine.dialect.name)
        self._clock = clock

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        call_sid: str,
        *,
        phone: str,
        account_id: int | None,
        issue: str | None,
        queue: str,
        preferred_at: datetime | None = None,
        lang: str | None = None,
        verified: bool = False,
        steps: Sequence[str] = (),
    ) -> CallbackRequest:
        """Book a callback for the call, or return the one it already has.

        The first request for a call wins: a repeat (a duplicate webhook, or a race between
        two deliveries) changes nothing and returns the stored request, whatever its status.
        ``lang``, ``verified`` and ``steps`` are what the first call knew: the callback is
        made in that language and the agent sees them.
        """
        if not phone:
            raise ValueError("a callback needs the caller's phone number")
        existing = self.get(call_sid)
        if existing is not None:
            return existing
        row = {
            "b_call_sid": call_sid,
            "b_phone": phone,
            "b_account_id": account_id,
            "b_issue": issue,
            "b_queue": queue,
            "b_now": self._clock.now(),
            "b_preferred_at": preferred_at,
            "b_lang": lang,
            "b_verified": verified,
            "b_steps": list(steps),
        }
        with self._one.begin() as conn:  # ON CONFLICT DO NOTHING RETURNING: one statement
            inserted = conn.execute(self._insert_request, row).one_or_none()
        if inserted is not None:
            return _request(inserted)
        stored = self.get(call_sid)  # a concurrent delivery inserted first
        if stored is None:  # pragma: no cover - it was deleted in between
            raise RuntimeError(f"call {call_sid}: the callback request could not be stored")
        return stored

    def get(self, call_sid: str) -> CallbackRequest | None:
        """The call's callback request, or None."""
        return self._request_by(_REQUEST_BY_SID, {"b_call_sid": call_sid})

    def by_id(self, request_id: int) -> CallbackRequest | None:
        return self._request_by(_REQUEST_BY_ID, {"b_id": request_id})

    def _request_by(self, query: sa.Select[Any], params: dict[str, Any]) -> CallbackRequest | None:
        with self._one.connect() as conn:
            row = conn.execute(query, params).one_or_none()
        return None if row is None else _request(row)

    def pending(self) -> list[CallbackRequest]:
        """Requests still to call back: earliest preferred time first (a request with none
        counts from when it was made), then in the order they were made."""
        return self.listed(("pending",))

    def listed(self, statuses: Sequence[str] = CALLBACK_STATUSES) -> list[CallbackRequest]:
        """Requests in ``statuses``, in the order ``pending`` gives."""
        table = CallbackRequestRow
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.__table__)
                .where(table.status.in_(list(statuses)))
                .order_by(sa.func.coalesce(table.preferred_at, table.requested_at), table.id)
            ).all()
        return [_request(row) for row in rows]

    def mark(self, call_sid: str, status: str) -> bool:
        """Set the request's status ('done' when called back, 'cancelled', or 'pending'
        again); False if the call has no request."""
        if status not in CALLBACK_STATUSES:
            raise ValueError(
                f"unknown callback status {status!r}; allowed: {', '.join(CALLBACK_STATUSES)}"
            )
        with self._engine.begin() as conn:
            found = conn.execute(
                sa.update(CallbackRequestRow)
                .where(CallbackRequestRow.call_sid == call_sid)
                .values(status=status)
                .returning(CallbackRequestRow.id)
            ).first()
        return found is not None

    def cancel(self, request_id: int) -> bool:
        """The person no longer wants the callback (pressed 2): cancelled, unless it was
        already settled otherwise. The attempt in progress stays open for its status
        callback. False when nothing changed."""
        with self._engine.begin() as conn:
            found = conn.execute(
                sa.update(CallbackRequestRow)
                .where(
                    CallbackRequestRow.id == request_id,
                    CallbackRequestRow.status.in_(("pending", "dialing")),
                )
                .values(status="cancelled")
                .returning(CallbackRequestRow.id)
            ).first()
        return found is not None

    def clear(self) -> int:
        """Forget every request and attempt (a demo or replay reset); how many requests."""
        with self._engine.begin() as conn:
            conn.execute(sa.delete(CallbackAttemptRow))
            return conn.execute(sa.delete(CallbackRequestRow)).rowcount

    def note_ticket(self, request_id: int, number: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(CallbackRequestRow)
                .where(CallbackRequestRow.id == request_id)
                .values(ticket=number)
            )

    # -- the dialer -------------------------------------------------------------------------

    def claim(
        self,
        dialer: str,
        *,
        lease: timedelta,
        due: Callable[[CallbackRequest], bool],
        cap: Callable[[str], int],
        limit: int = 1,
    ) -> list[Claim]:
        """Take up to ``limit`` due requests for ``dialer``: each becomes ``dialing`` under a
        lease until now + ``lease``, with a new attempt row.

        A request is a candidate when it is pending and neither its preferred time nor its
        retry time is in the future; ``due`` decides the rest (the queue's hours). ``cap``
        gives a queue's limit of calls in progress (its agents): a queue with that many
        requests dialing gets no more.
        """
        now = self._clock.now()
        table = CallbackRequestRow
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CLAIM_LOCK)))
            busy: dict[str, int] = dict(
                conn.execute(
                    sa.select(table.queue, sa.func.count())
                    .where(table.status == "dialing")
                    .group_by(table.queue)
                ).all()
            )
            rows = conn.execute(
                sa.select(table.__table__)
                .where(
                    table.status == "pending",
                    sa.or_(table.preferred_at.is_(None), table.preferred_at <= now),
                    sa.or_(table.next_try_at.is_(None), table.next_try_at <= now),
                )
                .order_by(
                    sa.func.coalesce(table.next_try_at, table.preferred_at, table.requested_at),
                    table.id,
                )
                .with_for_update(skip_locked=True)
            ).all()
            claims: list[Claim] = []
            for row in rows:
                if len(claims) >= limit:
                    break
                request = _request(row)
                if busy.get(request.queue, 0) >= cap(request.queue) or not due(request):
                    continue
                busy[request.queue] = busy.get(request.queue, 0) + 1
                number = request.attempts + 1
                conn.execute(
                    sa.update(table)
                    .where(table.id == request.id)
                    .values(
                        status="dialing",
                        claimed_by=dialer,
                        lease_until=now + lease,
                        attempts=number,
                    )
                )
                attempt_id = conn.execute(
                    sa.insert(CallbackAttemptRow)
                    .values(request_id=request.id, number=number, dialer=dialer, started_at=now)
                    .returning(CallbackAttemptRow.id)
                ).scalar_one()
                claimed = CallbackRequest(
                    **{
                        **request.__dict__,
                        "status": "dialing",
                        "claimed_by": dialer,
                        "lease_until": now + lease,
                        "attempts": number,
                    }
                )
                attempt = CallbackAttempt(
                    attempt_id, request.id, number, dialer, now, None, None, None, None
                )
                claims.append(Claim(claimed, attempt))
        return claims

    def placed(self, attempt_id: int, call_sid: str) -> None:
        """Twilio took the call: its CallSid, so a status callback or a later look-up
        finds the attempt."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(CallbackAttemptRow)
                .where(CallbackAttemptRow.id == attempt_id, CallbackAttemptRow.call_sid.is_(None))
                .values(call_sid=call_sid)
            )

    def answered(
        self, attempt_id: int, call_sid: str, answered_by: str | None, *, lease: timedelta
    ) -> CallbackAttempt | None:
        """The outbound call was answered (its first webhook): by a person, or by a machine
        (``answered_by`` starts with ``machine`` or is ``fax``). The lease is extended to
        cover the call; the request stays ``dialing`` until the status callback."""
        outcome = "machine" if is_machine(answered_by) else "answered"
        now = self._clock.now()
        with self._engine.begin() as conn:
            attempt = conn.execute(
                sa.select(CallbackAttemptRow.__table__).where(CallbackAttemptRow.id == attempt_id)
            ).one_or_none()
            if attempt is None:
                return None
            if attempt.outcome is None:
                conn.execute(
                    sa.update(CallbackAttemptRow)
                    .where(CallbackAttemptRow.id == attempt_id)
                    .values(
                        call_sid=attempt.call_sid or call_sid,
                        answered_by=answered_by,
                        outcome=outcome,
                    )
                )
                conn.execute(
                    sa.update(CallbackRequestRow)
                    .where(
                        CallbackRequestRow.id == attempt.request_id,
                        CallbackRequestRow.status == "dialing",
                    )
                    .values(lease_until=now + lease)
                )
        return self.attempt(attempt_id)

    def settle(
        self,
        attempt_id: int,
        call_status: str,
        *,
        retry_after: timedelta,
        max_attempts: int,
        call_sid: str | None = None,
    ) -> Settled | None:
        """The attempt is over (Twilio's final ``call_status``, or ``lost``):
        record its outcome and move the request on. None when the attempt is unknown or was
        settled already (a duplicate status callback changes nothing).

        An answered call makes the request ``done``; anything else makes it pending again,
        ``retry_after`` from now, or ``failed`` once ``max_attempts`` were made. A ``lost``
        attempt (no call was ever placed) does not count against the limit and is retried
        at once. A request cancelled meanwhile stays cancelled.
        """
        now = self._clock.now()
        with self._engine.begin() as conn:
            attempt = conn.execute(
                sa.select(CallbackAttemptRow.__table__)
                .where(CallbackAttemptRow.id == attempt_id)
                .with_for_update()
            ).one_or_none()
            if attempt is None or attempt.ended_at is not None:
                return None
            outcome = attempt.outcome or _outcome_of(call_status)
            conn.execute(
                sa.update(CallbackAttemptRow)
                .where(CallbackAttemptRow.id == attempt_id)
                .values(outcome=outcome, ended_at=now, call_sid=attempt.call_sid or call_sid)
            )
            request = _request(
                conn.execute(
                    sa.select(CallbackRequestRow.__table__)
                    .where(CallbackRequestRow.id == attempt.request_id)
                    .with_for_update()
                ).one()
            )
            values: dict[str, object] = {"claimed_by": None, "lease_until": None}
            status = request.status
            if request.status == "dialing":
                if outcome in REACHED:
                    status = "done"
                elif outcome == "lost":
                    status = "pending"
                    values["attempts"] = max(0, request.attempts - 1)
                    values["next_try_at"] = now
                elif request.attempts >= max_attempts:
                    status = "failed"
                else:
                    status = "pending"
                    values["next_try_at"] = now + retry_after
            values["status"] = status
            conn.execute(
                sa.update(CallbackRequestRow)
                .where(CallbackRequestRow.id == request.id)
                .values(values)
            )
        settled_request = self.by_id(request.id)
        settled_attempt = self.attempt(attempt_id)
        assert settled_request is not None
        assert settled_attempt is not None
        return Settled(settled_request, settled_attempt, outcome, status)

    def extend(self, request_id: int, *, lease: timedelta) -> None:
        """Keep a claim whose call is still going on."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(CallbackRequestRow)
                .where(CallbackRequestRow.id == request_id, CallbackRequestRow.status == "dialing")
                .values(lease_until=self._clock.now() + lease)
            )

    def expired(self) -> list[Claim]:
        """Claims whose lease ran out: the dialer holding them died (or the status callback
        never came). Each with its open attempt."""
        now = self._clock.now()
        req, att = CallbackRequestRow, CallbackAttemptRow
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(req.__table__, att.id.label("attempt_id"))
                .join(att, sa.and_(att.request_id == req.id, att.number == req.attempts))
                .where(req.status == "dialing", req.lease_until < now, att.ended_at.is_(None))
                .order_by(req.lease_until, req.id)
            ).all()
        claims = []
        for row in rows:
            attempt = self.attempt(row.attempt_id)
            assert attempt is not None
            claims.append(Claim(_request(row), attempt))
        return claims

    def attempt(self, attempt_id: int) -> CallbackAttempt | None:
        with self._one.connect() as conn:
            row = conn.execute(_ATTEMPT_BY_ID, {"b_id": attempt_id}).one_or_none()
        return None if row is None else from_row(CallbackAttempt, row)

    def attempts(self, request_id: int | None = None) -> list[CallbackAttempt]:
        """Every attempt (of one request), oldest first."""
        query = sa.select(CallbackAttemptRow.__table__).order_by(CallbackAttemptRow.id)
        if request_id is not None:
            query = query.where(CallbackAttemptRow.request_id == request_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [from_row(CallbackAttempt, row) for row in rows]

    def in_progress(self) -> Mapping[str, int]:
        """Requests dialing (calls in progress) per queue."""
        table = CallbackRequestRow
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.queue, sa.func.count())
                .where(table.status == "dialing")
                .group_by(table.queue)
            ).all()
        return {str(queue): int(n) for queue, n in rows}


def is_machine(answered_by: str | None) -> bool:
    """Twilio's AnsweredBy: ``human``, ``unknown``, ``fax``, ``machine_start``,
    ``machine_end_beep``, ``machine_end_silence``, ``machine_end_other``. ``unknown`` is taken
    for a person (a greeting is better than a message to a person)."""
    return answered_by is not None and (answered_by.startswith("machine") or answered_by == "fax")


def _outcome_of(call_status: str) -> str:
    """A final CallStatus (or ``lost``) → an attempt outcome. ``completed``
    without an answer recorded means someone answered and the answer webhook was lost."""
    if call_status == "completed":
        return "answered"
    if call_status in ATTEMPT_OUTCOMES:
        return call_status
    raise ValueError(
        f"not a final call status: {call_status!r}; expected completed, busy, no-answer, "
        "failed, canceled (or lost)"
    )


# The look-ups and the booking of every callback, built once with bound parameters
# (building and keying a statement per call cost more CPU than running it).
_REQUESTS = cast(sa.Table, CallbackRequestRow.__table__)
_ATTEMPTS = cast(sa.Table, CallbackAttemptRow.__table__)
_REQUEST_BY_SID = sa.select(_REQUESTS).where(
    _REQUESTS.c.call_sid == sa.bindparam("b_call_sid", type_=sa.String())
)
_REQUEST_BY_ID = sa.select(_REQUESTS).where(
    _REQUESTS.c.id == sa.bindparam("b_id", type_=sa.Integer())
)
_ATTEMPT_BY_ID = sa.select(_ATTEMPTS).where(
    _ATTEMPTS.c.id == sa.bindparam("b_id", type_=sa.Integer())
)


@functools.cache
def _insert_request(dialect: str) -> sa.Insert:
    """The booking of a request in ``dialect``: the new row, or none when the call has one
    already (its unique ``call_sid``: a duplicate delivery, or two racing)."""
    insert = dialect_insert(dialect, "callback requests")
    columns = _REQUESTS.c
    given = ("call_sid", "phone", "account_id", "issue", "queue", "preferred_at", "lang")
    return cast(
        sa.Insert,
        insert(_REQUESTS)
        .values(
            requested_at=sa.bindparam("b_now", type_=UtcDateTime()),
            status="pending",
            attempts=0,
            verified=sa.bindparam("b_verified", type_=sa.Boolean()),
            steps=sa.bindparam("b_steps", type_=columns.steps.type),
            **{name: sa.bindparam(f"b_{name}", type_=columns[name].type) for name in given},
        )
        .on_conflict_do_nothing(index_elements=[columns.call_sid])
        .returning(*columns),
    )
