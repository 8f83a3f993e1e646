"""The first released schema (commit 00cd47e): the wallet, call sessions and call records.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out as it was, not from today's models: a database made by that commit matches
this revision exactly, which is how ``ivr.stores.migrate`` recognises one that has no
``alembic_version`` table. Statuses are VARCHARs with named CHECK constraints.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _in(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    _wallet()
    _calls()


def _wallet() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phone", sa.String(20), nullable=False, unique=True),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lock_reason", sa.String(32)),
        sa.Column("lock_detail_zh", sa.Text),
        sa.Column("lock_detail_en", sa.Text),
        sa.Column("locked_at", _when()),
        sa.Column("self_unlock_allowed", sa.Boolean, nullable=False),
        sa.Column("failed_password_attempts", sa.Integer, nullable=False),
        sa.Column("balance_fen", sa.BigInteger, nullable=False),
        sa.Column("daily_limit_fen", sa.BigInteger, nullable=False),
        sa.Column("per_payment_limit_fen", sa.BigInteger, nullable=False),
        sa.Column("pin_failures", sa.Integer, nullable=False),
        sa.Column("pin_locked_until", _when()),
        sa.Column("created_at", _when(), nullable=False),
        sa.CheckConstraint("balance_fen >= 0", name="ck_accounts_balance_not_negative"),
        sa.CheckConstraint("failed_password_attempts >= 0", name="ck_accounts_attempts"),
        sa.CheckConstraint("pin_failures >= 0", name="ck_accounts_pin_failures"),
        sa.CheckConstraint(_in("status", "active", "locked", "frozen"), name="account_status"),
        sa.CheckConstraint(
            _in("lock_reason", "password_attempts", "risk_control", "reported_stolen"),
            name="lock_reason",
        ),
    )
    op.create_table(
        "account_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.CheckConstraint(_in("kind", "unlocked", "protective_freeze"), name="account_event_kind"),
    )
    op.create_index("ix_account_events_account_id", "account_events", ["account_id"])
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("merchant_zh", sa.String(200), nullable=False),
        sa.Column("merchant_en", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.String(32)),
        sa.Column("created_at", _when(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint(_in("status", "succeeded", "failed"), name="payment_status"),
        sa.CheckConstraint(
            _in(
                "failure_reason",
                "insufficient_balance",
                "daily_limit_exceeded",
                "method_not_accepted",
                "network_error",
            ),
            name="payment_failure",
        ),
    )
    op.create_index("ix_payments_account_id", "payments", ["account_id"])
    op.create_index("ix_payments_created_at", "payments", ["created_at"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("merchant_zh", sa.String(200), nullable=False),
        sa.Column("merchant_en", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requested_at", _when(), nullable=False),
        sa.Column("expected_at", _when()),
        sa.CheckConstraint("amount_fen > 0", name="ck_refunds_amount_positive"),
        sa.CheckConstraint(
            _in("status", "in_progress", "completed", "rejected"), name="refund_status"
        ),
    )
    op.create_index("ix_refunds_account_id", "refunds", ["account_id"])
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("to_phone", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    )
    op.create_index("ix_sms_outbox_account_id", "sms_outbox", ["account_id"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id")),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("recording_url", sa.Text),
        sa.Column("caller_phone", sa.String(20)),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.CheckConstraint(
            _in("kind", "complaint", "topup_investigation", "voicemail"), name="ticket_kind"
        ),
        sa.CheckConstraint(_in("status", "open", "in_progress", "resolved"), name="ticket_status"),
    )
    op.create_index("ix_tickets_account_id", "tickets", ["account_id"])
    op.create_table(
        "topups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("card_last4", sa.String(4), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name="ck_topups_amount_positive"),
        sa.CheckConstraint(_in("status", "pending", "failed", "completed"), name="topup_status"),
    )
    op.create_index("ix_topups_account_id", "topups", ["account_id"])
    op.create_index("ix_topups_created_at", "topups", ["created_at"])


def _calls() -> None:
    op.create_table(
        "call_sessions",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("state", sa.String(128), nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("last_reply", sa.Text),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("ended_at", _when()),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_call_sessions_ended_at", "call_sessions", ["ended_at"])
    op.create_index("ix_call_sessions_updated_at", "call_sessions", ["updated_at"])
    op.create_table(
        "call_locks",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
    )
    op.create_table(
        "call_records",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Integer),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("started_at", _when(), nullable=False),
        sa.Column("ended_at", _when()),
        sa.Column("outcome", sa.String(16)),
        sa.Column("reason", sa.Text),
        sa.Column("queue", sa.String(64)),
        sa.Column("duration_s", sa.Integer),
        sa.CheckConstraint(
            _in("outcome", "self_served", "agent", "abandoned", "failed"),
            name="call_records_outcome",
        ),
    )
    op.create_index("ix_call_records_started_at", "call_records", ["started_at"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_sid",
            sa.String(64),
            sa.ForeignKey("call_records.call_sid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("state", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.CheckConstraint(_in("kind", "enter", "input", "note"), name="call_events_kind"),
    )
    op.create_index("ix_call_events_call_sid", "call_events", ["call_sid"])
    op.create_table(
        "agent_handoffs",
        sa.Column(
            "call_sid",
            sa.String(64),
            sa.ForeignKey("call_records.call_sid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("enqueued_at", _when(), nullable=False),
        sa.Column("account_id", sa.Integer),
        sa.Column("caller_name", sa.String(128)),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("issue", sa.Text),
        sa.Column("steps_tried", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.CheckConstraint(
            _in("status", "waiting", "bridged", "left", "abandoned"), name="agent_handoffs_status"
        ),
    )
    op.create_index("ix_agent_handoffs_status", "agent_handoffs", ["status"])


def downgrade() -> None:
    for table in (
        "agent_handoffs",
        "call_events",
        "call_records",
        "call_locks",
        "call_sessions",
        "topups",
        "tickets",
        "sms_outbox",
        "refunds",
        "payments",
        "account_events",
        "accounts",
    ):
        op.drop_table(table)
