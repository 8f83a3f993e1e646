"""When a waiting caller was last seen: ``agent_handoffs.seen_at``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

Set when a caller is queued and each time Twilio fetches their hold page. A waiting handoff
not seen for ``IVR_WAITING_TTL`` is a caller who hung up unnoticed (a ghost): agents never
pick it and ``ivr sessions purge`` marks it 'abandoned'. Existing rows keep NULL, which
counts as seen when enqueued.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_handoffs") as batch:
        batch.add_column(sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_handoffs") as batch:
        batch.drop_column("seen_at")
