"""The demo customers every scenario of the hotline can be tried with, relative to a clock.

Owns the demo data set and how it is (re)loaded: ``seed_demo`` inserts it, ``reset_demo``
wipes every wallet table and seeds again, ``ensure_demo`` seeds a database with no accounts,
``DemoSnapshot`` puts back a copy kept in memory (fast enough to do before every call).
Writes only the wallet's rows; never touches call sessions or call records, and never the
schema: the tables must exist already (``create_app`` and ``ivr db upgrade`` make them, through
``ivr.stores.migrate``). Every demo PIN is ``DEMO_PIN``, hashed with the ``PinKeys`` given
(the development key when none are).

===============  ========  ==========================================================
phone            name      situation
===============  ========  ==========================================================
+8613800000001   张伟      active; ¥3,000 payment failed yesterday (daily limit);
                           ¥89.90 refund in progress
+8613800000002   李娜      locked an hour ago after 5 wrong passwords; may self-unlock
+8613800000003   王芳      ¥200 top-up pending 2 hours; complaint ticket 10000001
+8613800000004   刘洋      frozen by risk control (login from an unrecognised device)
+8613800000005   赵敏      active; ¥450 payment failed 2 hours ago (insufficient balance)
+8613800000006   陈杰      active; ¥168 payment failed yesterday (method not accepted)
+8613800000007   杨静      active; ¥59.90 payment failed 30 minutes ago (network error)
+8613800000008   周强      frozen a day ago at his request (reported stolen); ¥120 refund
                           rejected, with no expected date
+8613800000009   吴磊      locked after 5 wrong passwords; self-unlock not allowed
+8613800000010   孙丽      active; phone PIN checks locked for 20 more minutes
===============  ========  ==========================================================
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.clock import Clock
from ivr.wallet.pins import PinKeys
from ivr.wallet.tables import IN_GOOD_STANDING
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
ZHAO_MIN = "+8613800000005"
CHEN_JIE = "+8613800000006"
YANG_JING = "+8613800000007"
ZHOU_QIANG = "+8613800000008"
WU_LEI = "+8613800000009"
SUN_LI = "+8613800000010"


def seed_demo(engine: sa.Engine, clock: Clock, pins: PinKeys | None = None) -> None:
    """Insert the demo customers, with times relative to ``clock.now()``."""
    now = clock.now()
    keys = pins or PinKeys.for_development()
    with Session(engine) as s, s.begin():
        zhang = _account(
            keys, now, "+8613800000001", "张伟", "Zhang Wei", 125_000, 200_000, 500_000
        )
        li = _account(keys, now, "+8613800000002", "李娜", "Li Na", 56_000, 200_000, 100_000)
        li.status = "locked"
        li.lock_reason = "password_attempts"
        li.locked_at = now - timedelta(hours=1)
        li.self_unlock_allowed = True
        li.failed_password_attempts = 5
        wang = _account(keys, now, "+8613800000003", "王芳", "Wang Fang", 30_000, 200_000, 100_000)
        liu = _account(keys, now, "+8613800000004", "刘洋", "Liu Yang", 200_000, 200_000, 100_000)
        liu.status = "frozen"
        liu.lock_reason = "risk_control"
        liu.lock_detail_zh = "检测到陌生设备登录"
        liu.lock_detail_en = "a login from an unrecognised device"
        liu.locked_at = now - timedelta(hours=3)
        # One failed payment per failure reason, so a call can hear each piece of advice.
        zhao = _account(keys, now, ZHAO_MIN, "赵敏", "Zhao Min", 12_000, 200_000, 100_000)
        chen = _account(keys, now, CHEN_JIE, "陈杰", "Chen Jie", 80_000, 200_000, 100_000)
        yang = _account(keys, now, YANG_JING, "杨静", "Yang Jing", 66_000, 200_000, 100_000)
        # The states no other customer reaches: a freeze the caller asked for, a failure
        # reason the wallet does not know, a refund with no date, an unlock not allowed.
        zhou = _account(keys, now, ZHOU_QIANG, "周强", "Zhou Qiang", 5_000, 200_000, 100_000)
        zhou.status = "frozen"
        zhou.lock_reason = "reported_stolen"
        zhou.locked_at = now - timedelta(days=1)
        wu = _account(keys, now, WU_LEI, "吴磊", "Wu Lei", 9_000, 200_000, 100_000)
        wu.status = "locked"
        wu.lock_reason = "password_attempts"
        wu.locked_at = now - timedelta(hours=2)
        wu.failed_password_attempts = 5
        sun = _account(keys, now, SUN_LI, "孙丽", "Sun Li", 15_000, 200_000, 100_000)
        sun.pin_failures = 3
        sun.pin_locked_until = now + timedelta(minutes=20)
        s.add_all([zhang, li, wang, liu, zhao, chen, yang, zhou, wu, sun])
        s.flush()
        s.add_all(
            [
                _failed(zhao.id, 45_000, "盒马鲜生", "Freshippo", "insufficient_balance", now, 2),
                _failed(
                    chen.id, 16_800, "星光影城", "Starlight Cinema", "method_not_accepted", now, 24
                ),
                _failed(yang.id, 5_990, "美团外卖", "Meituan Delivery", "network_error", now, 0.5),
                RefundRow(
                    account_id=zhou.id,
                    amount_fen=12_000,
                    merchant_zh="优品服饰",
                    merchant_en="Youpin Apparel",
                    status="rejected",
                    requested_at=now - timedelta(days=6),
                    expected_at=None,
                ),
            ]
        )

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


def reset_demo(engine: sa.Engine, clock: Clock, pins: PinKeys | None = None) -> None:
    """Delete every wallet row, restart the ids (so ticket numbers repeat) and seed again."""
    with engine.begin() as conn:
        _wipe(conn)
        _restart_ids(conn)
    seed_demo(engine, clock, pins)


class DemoSnapshot:
    """The demo data as seeded at one moment, kept in memory and put back by ``restore``: one
    transaction of a delete and a multi-row insert per table, instead of seeding afresh (what
    replays do before every call). A restore at another time than the snapshot's seeds
    afresh and snapshots that. The ids come back as they were, so ticket numbers repeat.

    On SQLite the rows are kept as the database stores them and written back through the
    driver's own cursor: the same values, without SQLAlchemy's work per statement. There a
    restore first reads the tables back and writes nothing when every row is as kept (most
    calls change no wallet data): reading a few dozen rows costs a fraction of rewriting
    them and committing."""

    def __init__(self, engine: sa.Engine, clock: Clock, pins: PinKeys | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._pins = pins
        self._taken_at: datetime | None = None
        self._rows: dict[str, list[dict[str, Any]]] = {}
        # SQLite: per table (in insert order), its name, the SELECT that reads its rows back
        # (in rowid order), the INSERT that puts them back and the rows as stored
        self._stored: list[tuple[str, str, str, list[tuple[Any, ...]]]] | None = None

    def restore(self) -> None:
        """Put the demo data back as it was seeded at ``clock.now()``."""
        now = self._clock.now()
        if self._taken_at != now:
            self._take(now)
            return
        with self._engine.begin() as conn:
            if self._stored is not None:
                cursor = conn.connection.cursor()
                try:
                    if all(
                        cursor.execute(select).fetchall() == stored
                        for _, select, _, stored in self._stored
                    ):
                        return  # nothing changed since the last restore
                    for name, _, _, _ in reversed(self._stored):
                        cursor.execute(f"DELETE FROM {name}")
                    for _, _, insert, stored in self._stored:
                        if stored:
                            cursor.executemany(insert, stored)
                finally:
                    cursor.close()
                return
            _wipe(conn)
            for table in WALLET_TABLES:
                if rows := self._rows[table.name]:
                    conn.execute(table.insert(), rows)
            _restart_ids(conn, after_max=True)

    def _take(self, now: datetime) -> None:
        reset_demo(self._engine, self._clock, self._pins)
        with self._engine.connect() as conn:
            self._rows = {
                t.name: [dict(r) for r in conn.execute(t.select()).mappings()]
                for t in WALLET_TABLES
            }
            if conn.dialect.name == "sqlite":
                self._stored = []
                cursor = conn.connection.cursor()
                try:
                    for table in WALLET_TABLES:
                        columns = ", ".join(column.name for column in table.columns)
                        marks = ", ".join("?" for _ in table.columns)
                        insert = f"INSERT INTO {table.name} ({columns}) VALUES ({marks})"
                        select = f"SELECT {columns} FROM {table.name} ORDER BY rowid"
                        rows = cursor.execute(select).fetchall()
                        self._stored.append((table.name, select, insert, rows))
                finally:
                    cursor.close()
        self._taken_at = now


def _wipe(conn: sa.Connection) -> None:
    for table in reversed(WALLET_TABLES):
        conn.execute(table.delete())


def _restart_ids(conn: sa.Connection, *, after_max: bool = False) -> None:
    """Number new rows from 1 (or after the largest id present). SQLite does this by itself
    (its ids follow the largest present); PostgreSQL's sequences need telling."""
    if conn.dialect.name != "postgresql":
        return
    for table in WALLET_TABLES:
        if after_max:
            statement = (
                f"SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
            )
        else:
            statement = "SELECT setval(pg_get_serial_sequence(:table, 'id'), 1, false)"
        conn.execute(sa.text(statement), {"table": table.name})


def ensure_demo(engine: sa.Engine, clock: Clock, pins: PinKeys | None = None) -> bool:
    """Seed the demo customers if there are no accounts yet; True if it seeded."""
    with Session(engine) as s:
        if s.scalar(sa.select(AccountRow.id).limit(1)) is not None:
            return False
    try:
        seed_demo(engine, clock, pins)
    except IntegrityError:
        return False  # another process seeded it between our check and our insert
    return True


def _account(
    pins: PinKeys,
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
        pin_hash=pins.hash(DEMO_PIN),
        **IN_GOOD_STANDING,
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


def _failed(
    account_id: int, amount_fen: int, zh: str, en: str, reason: str, now: datetime, hours: float
) -> PaymentRow:
    return PaymentRow(
        account_id=account_id,
        amount_fen=amount_fen,
        merchant_zh=zh,
        merchant_en=en,
        status="failed",
        failure_reason=reason,
        created_at=now - timedelta(hours=hours),
    )
