"""The demo customers every scenario of the hotline can be tried with, relative to a clock.

Owns the demo data set and how it is (re)loaded: ``seed_demo`` inserts it, ``reset_demo``
wipes every wallet table and seeds again, ``ensure_demo`` seeds a database with no accounts.
Writes only the wallet's rows; never touches call sessions or call records, and never the
schema: the tables must exist already (``create_app`` and ``ivr db upgrade`` make them, through
``ivr.stores.migrate``). Every demo PIN is ``DEMO_PIN``.

===============  ========  ==========================================================
phone            name      situation
===============  ========  ==========================================================
+8613800000001   张伟      active; ¥3,000 payment failed yesterday (daily limit);
                           ¥89.90 refund in progress
+8613800000002   李娜      locked an hour ago after 5 wrong passwords; may self-unlock
+8613800000003   王芳      ¥200 top-up pending 2 hours; complaint ticket 10000001
+8613800000004   刘洋      frozen by risk control (login from an unrecognised device)
===============  ========  ==========================================================
"""

from __future__ import annotations

import functools
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.clock import Clock
from ivr.wallet.pins import hash_pin
from ivr.wallet.tables import WALLET_TABLES
from ivr.wallet.tables import AccountRow
from ivr.wallet.tables import PaymentRow
from ivr.wallet.tables import RefundRow
from ivr.wallet.tables import TicketRow
from ivr.wallet.tables import TopUpRow
from ivr.wallet.tables import ticket_number

DEMO_PIN = "123456"
# The demo customers' phone numbers (see the table above).
ZHANG_WEI = "+8613800000001"
LI_NA = "+8613800000002"
WANG_FANG = "+8613800000003"
LIU_YANG = "+8613800000004"


def seed_demo(engine: sa.Engine, clock: Clock) -> None:
    """Insert the demo customers, with times relative to ``clock.now()``."""
    now = clock.now()
    with Session(engine) as s, s.begin():
        zhang = _account(now, "+8613800000001", "张伟", "Zhang Wei", 125_000, 200_000, 500_000)
        li = _account(now, "+8613800000002", "李娜", "Li Na", 56_000, 200_000, 100_000)
        li.status = "locked"
        li.lock_reason = "password_attempts"
        li.locked_at = now - timedelta(hours=1)
        li.self_unlock_allowed = True
        li.failed_password_attempts = 5
        wang = _account(now, "+8613800000003", "王芳", "Wang Fang", 30_000, 200_000, 100_000)
        liu = _account(now, "+8613800000004", "刘洋", "Liu Yang", 200_000, 200_000, 100_000)
        liu.status = "frozen"
        liu.lock_reason = "risk_control"
        liu.lock_detail_zh = "检测到陌生设备登录"
        liu.lock_detail_en = "a login from an unrecognised device"
        liu.locked_at = now - timedelta(hours=3)
        s.add_all([zhang, li, wang, liu])
        s.flush()

        s.add_all(
            [
                PaymentRow(
                    account_id=zhang.id,
                    amount_fen=300_000,
                    merchant_zh="朝阳电器",
                    merchant_en="Chaoyang Electronics",
                    status="failed",
                    failure_reason="daily_limit_exceeded",
                    created_at=now - timedelta(days=1),
                ),
                _paid(zhang.id, 3_850, "瑞幸咖啡", "Luckin Coffee", now - timedelta(hours=3)),
                _paid(
                    zhang.id, 12_000, "永辉超市", "Yonghui Supermarket", now - timedelta(hours=20)
                ),
                _paid(zhang.id, 4_500, "滴滴出行", "DiDi", now - timedelta(days=3)),
                RefundRow(
                    account_id=zhang.id,
                    amount_fen=8_990,
                    merchant_zh="青叶书店",
                    merchant_en="Greenleaf Books",
                    status="in_progress",
                    requested_at=now - timedelta(days=2),
                    expected_at=now + timedelta(days=3),
                ),
                TopUpRow(
                    account_id=wang.id,
                    amount_fen=20_000,
                    card_last4="6789",
                    status="pending",
                    created_at=now - timedelta(hours=2),
                ),
            ]
        )
        complaint = TicketRow(
            number="pending-demo-complaint",
            account_id=wang.id,
            kind="complaint",
            status="in_progress",
            summary="Merchant dispute: 美味餐厅 (Meiwei Restaurant) charged ¥68.00 twice",
            recording_url=None,
            caller_phone=wang.phone,
            created_at=now - timedelta(days=5),
            updated_at=now - timedelta(days=4),
            idempotency_key=None,
        )
        s.add(complaint)
        s.flush()
        complaint.number = ticket_number(complaint.id)


def reset_demo(engine: sa.Engine, clock: Clock) -> None:
    """Delete every wallet row, restart the ids (so ticket numbers repeat) and seed again."""
    with engine.begin() as conn:
        for table in reversed(WALLET_TABLES):
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            # SQLite reuses ids of an emptied table by itself; PostgreSQL's sequences do not.
            for table in WALLET_TABLES:
                conn.execute(
                    sa.text("SELECT setval(pg_get_serial_sequence(:table, 'id'), 1, false)"),
                    {"table": table.name},
                )
    seed_demo(engine, clock)


def ensure_demo(engine: sa.Engine, clock: Clock) -> bool:
    """Seed the demo customers if there are no accounts yet; True if it seeded."""
    with Session(engine) as s:
        if s.scalar(sa.select(AccountRow.id).limit(1)) is not None:
            return False
    try:
        seed_demo(engine, clock)
    except IntegrityError:
        return False  # another process seeded it between our check and our insert
    return True


def _account(
    now: datetime,
    phone: str,
    name_zh: str,
    name_en: str,
    balance_fen: int,
    daily_limit_fen: int,
    per_payment_limit_fen: int,
) -> AccountRow:
    return AccountRow(
        phone=phone,
        name_zh=name_zh,
        name_en=name_en,
        pin_hash=_demo_pin_hash(phone),
        status="active",
        lock_reason=None,
        lock_detail_zh=None,
        lock_detail_en=None,
        locked_at=None,
        self_unlock_allowed=False,
        failed_password_attempts=0,
        balance_fen=balance_fen,
        daily_limit_fen=daily_limit_fen,
        per_payment_limit_fen=per_payment_limit_fen,
        pin_failures=0,
        pin_locked_until=None,
        created_at=now - timedelta(days=400),
    )


def _paid(account_id: int, amount_fen: int, zh: str, en: str, at: datetime) -> PaymentRow:
    return PaymentRow(
        account_id=account_id,
        amount_fen=amount_fen,
        merchant_zh=zh,
        merchant_en=en,
        status="succeeded",
        failure_reason=None,
        created_at=at,
    )


@functools.cache
def _demo_pin_hash(phone: str) -> str:
    """The demo PIN hashed once per account and process (each with its own salt): scrypt is
    slow on purpose, and replays reset the demo data before every scripted call."""
    return hash_pin(DEMO_PIN)
