"""Callback requests: callers who chose to be called back rather than wait for an agent.

Owns the ``callback_requests`` table and ``CallbackBook``, the only writer and reader of it.
One request per call (``call_sid`` is unique): a webhook delivered twice, or two deliveries
racing, leave one request, and both get it back. Stores the caller's number raw, as
``ivr.stores.records`` does (``ivr.phones.mask_phone`` masks it for logs and views). Knows
nothing about flows, queues' hours, TwiML or Flask: the engine decides when to offer a callback
and passes the preferred time (e.g. ``Hours.next_opening`` when the line is closed). A change to the
table needs a migration (``ivr/stores/migrations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ivr.clock import Clock
from ivr.db import Base
from ivr.db import UtcDateTime
from ivr.db import from_row
from ivr.db import one_of

CALLBACK_STATUSES = ("pending", "done", "cancelled")


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


@dataclass(frozen=True)
class CallbackRequest:
    """A caller to ring back on ``phone``, for ``queue``, not before ``preferred_at``
    (None: as soon as an agent is free)."""

    id: int
    call_sid: str
    phone: str
    account_id: int | None
    issue: str | None
    queue: str
    requested_at: datetime
    preferred_at: datetime | None
    status: str


class CallbackBook:
    """Writes and reads callback requests. Every method is one short transaction."""

    def __init__(self, engine: sa.Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def request(
        self,
        call_sid: str,
        *,
        phone: str,
        account_id: int | None,
        issue: str | None,
        queue: str,
        preferred_at: datetime | None = None,
    ) -> CallbackRequest:
        """Book a callback for the call, or return the one it already has.

        The first request for a call wins: a repeat (a duplicate webhook, or a race between
        two deliveries) changes nothing and returns the stored request, whatever its status.
        """
        if not phone:
            raise ValueError("a callback needs the caller's phone number")
        existing = self.get(call_sid)
        if existing is not None:
            return existing
        row = {
            "call_sid": call_sid,
            "phone": phone,
            "account_id": account_id,
            "issue": issue,
            "queue": queue,
            "requested_at": self._clock.now(),
            "preferred_at": preferred_at,
            "status": "pending",
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(CallbackRequestRow).values(row))
        except sa.exc.IntegrityError:
            # A concurrent delivery inserted first (the unique call_sid stopped this one).
            pass
        stored = self.get(call_sid)
        if stored is None:  # the IntegrityError was something else
            raise RuntimeError(f"call {call_sid}: the callback request could not be stored")
        return stored

    def get(self, call_sid: str) -> CallbackRequest | None:
        """The call's callback request, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(CallbackRequestRow.__table__).where(
                    CallbackRequestRow.call_sid == call_sid
                )
            ).one_or_none()
        return None if row is None else from_row(CallbackRequest, row)

    def pending(self) -> list[CallbackRequest]:
        """Requests still to call back: earliest preferred time first (a request with none
        counts from when it was made), then in the order they were made."""
        table = CallbackRequestRow
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.__table__)
                .where(table.status == "pending")
                .order_by(sa.func.coalesce(table.preferred_at, table.requested_at), table.id)
            ).all()
        return [from_row(CallbackRequest, row) for row in rows]

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
