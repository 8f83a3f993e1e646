"""The issue each call was about, and the indexes ``ivr report`` reads by (issue 12).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

Adds ``call_records.issue`` (nullable: calls recorded before this revision, and calls whose
caller never chose, have none) and two indexes: ``call_records (caller, started_at)``, so
containment finds a caller's repeat call within a day by one index probe, and
``call_events (call_sid, kind, state, detail)``, so the report's per-state counts read the index
alone instead of the table (``bench/report.py`` measures both).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("issue", sa.String(64), nullable=True))
    op.create_index("ix_call_records_caller_started", "call_records", ["caller", "started_at"])
    op.create_index("ix_call_events_report", "call_events", ["call_sid", "kind", "state", "detail"])


def downgrade() -> None:
    op.drop_index("ix_call_events_report", table_name="call_events")
    op.drop_index("ix_call_records_caller_started", table_name="call_records")
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("issue")
