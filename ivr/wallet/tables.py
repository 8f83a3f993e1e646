"""The wallet's ORM tables: accounts, payments, top-ups, refunds, tickets, SMS outbox, events.

Owns the wallet's schema on ``ivr.db.Base`` and the allowed values of every status column
(``Literal`` types, enforced by the CHECK constraints of ``ivr.db.one_of``). Money is integer
fen; times are aware UTC (``UtcDateTime``). Holds no behaviour: ``service`` reads and writes
these rows, and nothing outside ``ivr.wallet`` should import this module except
``ivr.stores.schema``. A change here needs a migration (``ivr.stores.migrations``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Literal
from typing import get_args

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ivr.db import Base
from ivr.db import UtcDateTime
from ivr.db import one_of

AccountStatus = Literal["active", "locked", "frozen"]
LockReason = Literal["password_attempts", "risk_control", "reported_stolen"]
PaymentStatus = Literal["succeeded", "failed"]
PaymentFailure = Literal[
    "insufficient_balance", "daily_limit_exceeded", "method_not_accepted", "network_error"
]
TopUpStatus = Literal["pending", "failed", "completed"]
RefundStatus = Literal["in_progress", "completed", "rejected"]
TicketKind = Literal["complaint", "topup_investigation", "voicemail", "callback"]
TicketStatus = Literal["open", "in_progress", "resolved"]
EventKind = Literal["unlocked", "protective_freeze"]

# Ticket numbers are 8 digits derived from the row id: id 1 is "10000001".
TICKET_NUMBER_BASE = 10_000_000


def _choice(values: object, name: str) -> sa.Enum:
    """The status column allowing the values of the ``Literal`` type ``values``."""
    return one_of(get_args(values), name=name)


def _fen() -> Mapped[int]:
    return mapped_column(sa.BigInteger, nullable=False)


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    pin_hash: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[AccountStatus] = mapped_column(_choice(AccountStatus, "account_status"))
    lock_reason: Mapped[LockReason | None] = mapped_column(_choice(LockReason, "lock_reason"))
    lock_detail_zh: Mapped[str | None] = mapped_column(sa.Text)
    lock_detail_en: Mapped[str | None] = mapped_column(sa.Text)
    locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    self_unlock_allowed: Mapped[bool] = mapped_column(default=False)
    failed_password_attempts: Mapped[int] = mapped_column(default=0)
    balance_fen: Mapped[int] = _fen()
    daily_limit_fen: Mapped[int] = _fen()
    per_payment_limit_fen: Mapped[int] = _fen()
    pin_failures: Mapped[int] = mapped_column(default=0)
    pin_locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        sa.CheckConstraint("balance_fen >= 0", name="ck_accounts_balance_not_negative"),
        sa.CheckConstraint("failed_password_attempts >= 0", name="ck_accounts_attempts"),
        sa.CheckConstraint("pin_failures >= 0", name="ck_accounts_pin_failures"),
    )


# An account in good standing, column by column: what a self-service unlock restores and
# what a new demo account starts as.
IN_GOOD_STANDING: Mapping[str, object] = MappingProxyType(
    {
        "status": "active",
        "lock_reason": None,
        "lock_detail_zh": None,
        "lock_detail_en": None,
        "locked_at": None,
        "self_unlock_allowed": False,
        "failed_password_attempts": 0,
    }
)


class PaymentRow(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))  # indexes below
    amount_fen: Mapped[int] = _fen()
    merchant_zh: Mapped[str] = mapped_column(sa.String(200))
    merchant_en: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[PaymentStatus] = mapped_column(_choice(PaymentStatus, "payment_status"))
    failure_reason: Mapped[PaymentFailure | None] = mapped_column(
        _choice(PaymentFailure, "payment_failure")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="ck_payments_amount_positive"),
        # self-help: the latest failed payment, today's spending (account, status, time)
        sa.Index("ix_payments_account_status_created", "account_id", "status", "created_at", "id"),
        # self-help: transactions since a moment (account, time)
        sa.Index("ix_payments_account_created", "account_id", "created_at"),
    )


class TopUpRow(Base):
    __tablename__ = "topups"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))  # indexes below
    amount_fen: Mapped[int] = _fen()
    card_last4: Mapped[str] = mapped_column(sa.String(4))
    status: Mapped[TopUpStatus] = mapped_column(_choice(TopUpStatus, "topup_status"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="ck_topups_amount_positive"),
        # self-help: open top-ups (account, status), transactions since a moment (account, time)
        sa.Index("ix_topups_account_status_created", "account_id", "status", "created_at", "id"),
        sa.Index("ix_topups_account_created", "account_id", "created_at"),
    )


class RefundRow(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))  # indexes below
    amount_fen: Mapped[int] = _fen()
    merchant_zh: Mapped[str] = mapped_column(sa.String(200))
    merchant_en: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[RefundStatus] = mapped_column(_choice(RefundStatus, "refund_status"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="ck_refunds_amount_positive"),
        # self-help: an account's refunds, newest first
        sa.Index("ix_refunds_account_requested", "account_id", "requested_at", "id"),
    )


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Derived from ``id`` inside the inserting transaction (see ``ticket_number``); until then
    # it holds a unique placeholder, so the column can stay NOT NULL.
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))  # index below
    kind: Mapped[TicketKind] = mapped_column(_choice(TicketKind, "ticket_kind"))
    status: Mapped[TicketStatus] = mapped_column(_choice(TicketStatus, "ticket_status"))
    summary: Mapped[str] = mapped_column(sa.Text)
    recording_url: Mapped[str | None] = mapped_column(sa.Text)
    caller_phone: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)

    # self-help: an account's tickets, newest first
    __table_args__ = (sa.Index("ix_tickets_account_created", "account_id", "created_at", "id"),)


class SmsRow(Base):
    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))  # indexes below
    to_phone: Mapped[str] = mapped_column(sa.String(20))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)

    # an account's outbox, oldest first
    __table_args__ = (sa.Index("ix_sms_outbox_account_created", "account_id", "created_at", "id"),)


class AccountEventRow(Base):
    """The audit trail of changes a caller made to an account."""

    __tablename__ = "account_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    kind: Mapped[EventKind] = mapped_column(_choice(EventKind, "account_event_kind"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)


# Every wallet table, parents before children (delete in reverse).
WALLET_TABLES: tuple[sa.Table, ...] = tuple(
    Base.metadata.tables[name]
    for name in (
        "accounts",
        "payments",
        "topups",
        "refunds",
        "tickets",
        "sms_outbox",
        "account_events",
    )
)


def ticket_number(ticket_id: int) -> str:
    """The caller-facing number of ticket ``ticket_id``: 1 → ``"10000001"``."""
    return str(TICKET_NUMBER_BASE + ticket_id)
