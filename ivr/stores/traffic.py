"""The call records as traffic: one row per call that started in a period, for capacity plans.

Owns ``calls_between``, a read-only query over ``call_records`` joined to ``agent_handoffs``
(tables owned by ``ivr.stores.records``): when each call started, how it ended, and, for a
caller handed to an agent, the queue and when they were queued, answered and gone. Writes
nothing and knows nothing of flows, queues' settings or formulas: ``ivr.planning`` turns these
rows into measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ivr.db import from_row
from ivr.stores.records import AgentHandoffRow
from ivr.stores.records import CallRecordRow


@dataclass(frozen=True)
class CallTraffic:
    """One call, as capacity planning sees it. ``queue`` is None for a call that never
    reached an agent queue (self-served, or hung up in the menu)."""

    call_sid: str
    started_at: datetime
    outcome: str | None
    queue: str | None = None
    status: str | None = None  # the handoff's: waiting, bridged, left, abandoned, failed
    enqueued_at: datetime | None = None
    answered_at: datetime | None = None
    left_at: datetime | None = None


def calls_between(engine: sa.Engine, start: datetime, end: datetime) -> list[CallTraffic]:
    """Every call that started at or after ``start`` and before ``end`` (timezone-aware),
    oldest first."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("give timezone-aware start and end times")
    calls = CallRecordRow.__table__
    handoffs = AgentHandoffRow.__table__
    query = (
        sa.select(
            calls.c.call_sid,
            calls.c.started_at,
            calls.c.outcome,
            handoffs.c.queue,
            handoffs.c.status,
            handoffs.c.enqueued_at,
            handoffs.c.answered_at,
            handoffs.c.left_at,
        )
        .select_from(calls.outerjoin(handoffs, handoffs.c.call_sid == calls.c.call_sid))
        .where(calls.c.started_at >= start, calls.c.started_at < end)
        .order_by(calls.c.started_at, calls.c.call_sid)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [from_row(CallTraffic, row) for row in rows]
