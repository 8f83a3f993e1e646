"""When a handoff was answered and when it left the queue (issue 16, ``ivr capacity``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Adds ``agent_handoffs.answered_at`` (enqueued_at + Twilio's QueueTime, for a bridged call)
and ``agent_handoffs.left_at`` (when the caller was out of the queue for good), both
nullable: handoffs recorded before this revision have neither, and ``ivr capacity`` falls
back to the queue's ``handle_time_s`` for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ("answered_at", "left_at")


def upgrade() -> None:
    with op.batch_alter_table("agent_handoffs") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_handoffs") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
