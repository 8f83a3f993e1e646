"""Status columns as enums of ``ivr.db.one_of``, JSON columns as ``sa.JSON``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

``agent_handoffs.steps_tried`` and ``call_sessions.data`` held JSON as TEXT; they become JSON
columns (PostgreSQL checks the text is JSON as it converts it). The store tables' status
columns became ``one_of`` enums with the same names and lengths as their CHECK constraints
and VARCHARs, so their DDL is unchanged and they need no step here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_JSON_COLUMNS = (("agent_handoffs", "steps_tried"), ("call_sessions", "data"))


def upgrade() -> None:
    for table, column in _JSON_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sa.Text(),
                type_=sa.JSON(),
                existing_nullable=False,
                postgresql_using=f"{column}::json",
            )


def downgrade() -> None:
    for table, column in _JSON_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sa.JSON(),
                type_=sa.Text(),
                existing_nullable=False,
                postgresql_using=f"{column}::text",
            )
