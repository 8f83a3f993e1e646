"""Composite indexes for every query self-help runs (issue 13, the hot path).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

With 20k payments on one account, "payment failed" read them all through the account's index
and sorted them; PostgreSQL chose plans of 0.3-0.6 s. Each query now finds its rows, in its
order, in one index: payments and top-ups by (account, status, time, id) and (account, time);
refunds, tickets and the SMS outbox by (account, time, id). The single-column account
indexes they begin with go: each is a prefix of a composite one, and cost every insert.
tests/test_indexes.py reads the plans on PostgreSQL.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# name: (table, columns)
_INDEXES = {
    "ix_payments_account_status_created": (
        "payments",
        ["account_id", "status", "created_at", "id"],
    ),
    "ix_payments_account_created": ("payments", ["account_id", "created_at"]),
    "ix_topups_account_status_created": ("topups", ["account_id", "status", "created_at", "id"]),
    "ix_topups_account_created": ("topups", ["account_id", "created_at"]),
    "ix_refunds_account_requested": ("refunds", ["account_id", "requested_at", "id"]),
    "ix_tickets_account_created": ("tickets", ["account_id", "created_at", "id"]),
    "ix_sms_outbox_account_created": ("sms_outbox", ["account_id", "created_at", "id"]),
}


# the account indexes of 0001 that the composite ones make redundant
_REPLACED = ("payments", "topups", "refunds", "tickets", "sms_outbox")


def upgrade() -> None:
    for name, (table, columns) in _INDEXES.items():
        op.create_index(name, table, columns)
    for table in _REPLACED:
        op.drop_index(f"ix_{table}_account_id", table_name=table)


def downgrade() -> None:
    for table in _REPLACED:
        op.create_index(f"ix_{table}_account_id", table, ["account_id"])
    for name, (table, _columns) in reversed(_INDEXES.items()):
        op.drop_index(name, table_name=table)
