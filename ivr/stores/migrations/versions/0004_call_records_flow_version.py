"""Each call record keeps the version of the flow it ran on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Adds ``call_records.flow_version`` (``ivr.flow.version``: the first 12 hex digits of the
SHA-256 of the flow file), so the wording a caller heard can be found again. Calls recorded
before this step have none (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("flow_version", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("flow_version")
