"""Callback requests, and handoffs that can fail (commit 4246650, "Reaching a human").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Adds ``callback_requests`` and lets ``agent_handoffs.status`` be 'failed' (an agent's phone
that was busy, unanswered or failed). A database made by commit 00cd47e and then served by a
later commit already has ``callback_requests`` (``create_all`` added it) but still the old
CHECK constraint: such a database is at 0001, and this step keeps its callback requests.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_HANDOFF_STATUSES = ("waiting", "bridged", "left", "abandoned")


def _in(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("callback_requests"):
        op.create_table(
            "callback_requests",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("call_sid", sa.String(64), nullable=False, unique=True),
            sa.Column("phone", sa.String(64), nullable=False),
            sa.Column("account_id", sa.Integer),
            sa.Column("issue", sa.Text),
            sa.Column("queue", sa.String(64), nullable=False),
            sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("preferred_at", sa.DateTime(timezone=True)),
            sa.Column("status", sa.String(16), nullable=False),
            sa.CheckConstraint(
                _in("status", "pending", "done", "cancelled"), name="callback_requests_status"
            ),
        )
        op.create_index("ix_callback_requests_status", "callback_requests", ["status"])
    _handoff_statuses(*_HANDOFF_STATUSES, "failed")


def downgrade() -> None:
    op.execute("UPDATE agent_handoffs SET status = 'abandoned' WHERE status = 'failed'")
    _handoff_statuses(*_HANDOFF_STATUSES)
    op.drop_index("ix_callback_requests_status", table_name="callback_requests")
    op.drop_table("callback_requests")


def _handoff_statuses(*allowed: str) -> None:
    with op.batch_alter_table("agent_handoffs") as batch:
        batch.drop_constraint("agent_handoffs_status", type_="check")
        batch.create_check_constraint("agent_handoffs_status", _in("status", *allowed))
