"""The callback dialer (issue 14): attempts, retries, leases, and what the first call knew.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

``callback_requests`` gains the statuses ``dialing`` (claimed by a dialer, a call in
progress) and ``failed`` (out of attempts: a ticket was opened), the first call's language,
verification and steps tried, and the dialer's bookkeeping (attempt count, next try, lease,
ticket). ``callback_attempts`` keeps every attempt with its outcome. Existing requests keep
their status and start with no attempts. A ticket may be of kind ``callback`` (the callback
that could not be made).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OLD_STATUSES = ("pending", "done", "cancelled")
_STATUSES = ("pending", "dialing", "done", "cancelled", "failed")
_OUTCOMES = ("answered", "machine", "busy", "no-answer", "failed", "canceled", "lost")
_OLD_TICKET_KINDS = ("complaint", "topup_investigation", "voicemail")


def _in(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    with op.batch_alter_table("callback_requests") as batch:
        batch.drop_constraint("callback_requests_status", type_="check")
        batch.create_check_constraint("callback_requests_status", _in("status", *_STATUSES))
        batch.add_column(sa.Column("lang", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ticket", sa.String(32), nullable=True))
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "request_id",
            sa.Integer,
            sa.ForeignKey("callback_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("dialer", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=True, unique=True),
        sa.Column("answered_by", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_in("outcome", *_OUTCOMES), name="callback_attempts_outcome"),
    )
    op.create_index("ix_callback_attempts_request_id", "callback_attempts", ["request_id"])
    _ticket_kinds(*_OLD_TICKET_KINDS, "callback")


def _ticket_kinds(*allowed: str) -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("ticket_kind", type_="check")
        batch.create_check_constraint("ticket_kind", _in("kind", *allowed))


def downgrade() -> None:
    op.execute("UPDATE tickets SET kind = 'complaint' WHERE kind = 'callback'")
    _ticket_kinds(*_OLD_TICKET_KINDS)
    op.drop_index("ix_callback_attempts_request_id", table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.execute("UPDATE callback_requests SET status = 'pending' WHERE status = 'dialing'")
    op.execute("UPDATE callback_requests SET status = 'cancelled' WHERE status = 'failed'")
    with op.batch_alter_table("callback_requests") as batch:
        for column in (
            "ticket",
            "lease_until",
            "claimed_by",
            "next_try_at",
            "attempts",
            "steps",
            "verified",
            "lang",
        ):
            batch.drop_column(column)
        batch.drop_constraint("callback_requests_status", type_="check")
        batch.create_check_constraint("callback_requests_status", _in("status", *_OLD_STATUSES))
