"""The demo customers: exactly the rows the demo table promises, relative to the clock, and
``reset_demo`` / ``ensure_demo`` restoring and seeding them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.wallet import DEMO_PIN
from ivr.wallet import Account
from ivr.wallet import DemoSnapshot
from ivr.wallet import PinCheck
from ivr.wallet import Wallet
from ivr.wallet import ensure_demo
from ivr.wallet import reset_demo
from ivr.wallet import seed_demo
from ivr.wallet.tables import WALLET_TABLES
from ivr.wallet.tables import AccountEventRow
from ivr.wallet.tables import AccountRow
from ivr.wallet.tables import PaymentRow
from ivr.wallet.tables import RefundRow
from ivr.wallet.tables import SmsRow
from ivr.wallet.tables import TicketRow
from ivr.wallet.tables import TopUpRow

ZHANG = "+8613800000001"
LI = "+8613800000002"
WANG = "+8613800000003"
LIU = "+8613800000004"


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    Base.metadata.create_all(engine, tables=list(WALLET_TABLES))
    yield engine
    engine.dispose()


@pytest.fixture
def wallet(engine: sa.Engine, clock: ManualClock) -> Wallet:
    seed_demo(engine, clock)
    return Wallet(engine, clock)


def demo_account(wallet: Wallet, phone: str) -> Account:
    account = wallet.find_by_phone(phone)
    assert account is not None
    return account


def without_id(account: Account) -> Account:
    return replace(account, id=0)


def count(engine: sa.Engine, table: type[Base]) -> int:
    with Session(engine) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def test_zhang_wei_is_active_with_his_balance_and_limits(wallet: Wallet) -> None:
    assert without_id(demo_account(wallet, ZHANG)) == Account(
        id=0,
        phone=ZHANG,
        name_zh="张伟",
        name_en="Zhang Wei",
        status="active",
        lock_reason=None,
        lock_detail_zh=None,
        lock_detail_en=None,
        locked_at=None,
        self_unlock_allowed=False,
        failed_password_attempts=0,
        balance_fen=125_000,
        daily_limit_fen=200_000,
        per_payment_limit_fen=500_000,
    )


def test_zhang_wei_has_a_failed_payment_yesterday_and_recent_purchases(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    now = clock.now()
    zhang = demo_account(wallet, ZHANG).id
    with Session(engine) as s:
        rows = s.execute(
            sa.select(
                PaymentRow.amount_fen,
                PaymentRow.merchant_zh,
                PaymentRow.merchant_en,
                PaymentRow.status,
                PaymentRow.failure_reason,
                PaymentRow.created_at,
            )
            .where(PaymentRow.account_id == zhang)
            .order_by(PaymentRow.created_at.desc())
        ).all()

    assert [tuple(row) for row in rows] == [
        (3_850, "瑞幸咖啡", "Luckin Coffee", "succeeded", None, now - timedelta(hours=3)),
        (12_000, "永辉超市", "Yonghui Supermarket", "succeeded", None, now - timedelta(hours=20)),
        (
            300_000,
            "朝阳电器",
            "Chaoyang Electronics",
            "failed",
            "daily_limit_exceeded",
            now - timedelta(days=1),
        ),
        (4_500, "滴滴出行", "DiDi", "succeeded", None, now - timedelta(days=3)),
    ]


def test_zhang_wei_has_one_refund_in_progress(wallet: Wallet, clock: ManualClock) -> None:
    now = clock.now()
    zhang = demo_account(wallet, ZHANG).id

    refunds = wallet.refunds(zhang)

    assert [
        (r.amount_fen, r.merchant_zh, r.merchant_en, r.status, r.requested_at, r.expected_at)
        for r in refunds
    ] == [
        (
            8_990,
            "青叶书店",
            "Greenleaf Books",
            "in_progress",
            now - timedelta(days=2),
            now + timedelta(days=3),
        )
    ]


def test_li_na_is_locked_an_hour_ago_after_five_wrong_passwords(
    wallet: Wallet, clock: ManualClock
) -> None:
    assert without_id(demo_account(wallet, LI)) == Account(
        id=0,
        phone=LI,
        name_zh="李娜",
        name_en="Li Na",
        status="locked",
        lock_reason="password_attempts",
        lock_detail_zh=None,
        lock_detail_en=None,
        locked_at=clock.now() - timedelta(hours=1),
        self_unlock_allowed=True,
        failed_password_attempts=5,
        balance_fen=56_000,
        daily_limit_fen=200_000,
        per_payment_limit_fen=100_000,
    )


def test_wang_fang_has_a_top_up_pending_for_two_hours(wallet: Wallet, clock: ManualClock) -> None:
    wang = demo_account(wallet, WANG)

    topups = wallet.open_topups(wang.id)

    assert (wang.name_zh, wang.name_en, wang.status, wang.balance_fen) == (
        "王芳",
        "Wang Fang",
        "active",
        30_000,
    )
    assert [(t.amount_fen, t.card_last4, t.status, t.created_at) for t in topups] == [
        (20_000, "6789", "pending", clock.now() - timedelta(hours=2))
    ]


def test_wang_fang_has_complaint_ticket_10000001_in_progress(
    wallet: Wallet, clock: ManualClock
) -> None:
    wang = demo_account(wallet, WANG)

    ticket = wallet.ticket("10000001")

    assert ticket is not None
    assert (
        ticket.account_id,
        ticket.kind,
        ticket.status,
        ticket.caller_phone,
        ticket.recording_url,
        ticket.created_at,
    ) == (wang.id, "complaint", "in_progress", WANG, None, clock.now() - timedelta(days=5))
    assert ticket.summary.startswith("Merchant dispute")


def test_liu_yang_is_frozen_by_risk_control_and_may_not_self_unlock(
    wallet: Wallet, clock: ManualClock
) -> None:
    assert without_id(demo_account(wallet, LIU)) == Account(
        id=0,
        phone=LIU,
        name_zh="刘洋",
        name_en="Liu Yang",
        status="frozen",
        lock_reason="risk_control",
        lock_detail_zh="检测到陌生设备登录",
        lock_detail_en="a login from an unrecognised device",
        locked_at=clock.now() - timedelta(hours=3),
        self_unlock_allowed=False,
        failed_password_attempts=0,
        balance_fen=200_000,
        daily_limit_fen=200_000,
        per_payment_limit_fen=100_000,
    )


@pytest.mark.parametrize("phone", [ZHANG, LI, WANG, LIU])
def test_every_demo_pin_is_123456(wallet: Wallet, phone: str) -> None:
    account_id = demo_account(wallet, phone).id

    assert DEMO_PIN == "123456"
    assert wallet.verify_pin(account_id, "123456") == PinCheck(
        ok=True, failures=0, locked_until=None
    )


def test_demo_pins_are_stored_hashed_and_salted(wallet: Wallet, engine: sa.Engine) -> None:
    with Session(engine) as s:
        hashes = s.scalars(sa.select(AccountRow.pin_hash)).all()

    assert len(hashes) == 10
    assert len(set(hashes)) == 10
    assert all(h.startswith("hmac-sha256$") and DEMO_PIN not in h for h in hashes)


def test_demo_has_no_events_sms_or_other_tickets(wallet: Wallet, engine: sa.Engine) -> None:
    assert (
        count(engine, AccountRow),
        count(engine, PaymentRow),
        count(engine, TopUpRow),
        count(engine, RefundRow),
        count(engine, TicketRow),
        count(engine, SmsRow),
        count(engine, AccountEventRow),
    ) == (10, 7, 1, 2, 1, 0, 0)


def test_reset_demo_restores_an_unlocked_account_to_locked(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    li = demo_account(wallet, LI)
    wallet.unlock(li.id, key="call-1:unlock")

    reset_demo(engine, clock)

    after = demo_account(wallet, LI)
    assert (after.status, after.lock_reason, after.self_unlock_allowed) == (
        "locked",
        "password_attempts",
        True,
    )
    assert without_id(after) == without_id(li)


def test_reset_demo_removes_every_change_callers_made(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    zhang = demo_account(wallet, ZHANG).id
    wallet.protective_freeze(zhang, key="call-1:freeze")
    wallet.open_ticket(kind="voicemail", summary="voicemail", key="call-1:voicemail")
    wallet.send_sms(zhang, "hello", key="call-1:sms")
    for _ in range(3):
        wallet.verify_pin(zhang, "000000")

    reset_demo(engine, clock)

    zhang = demo_account(wallet, ZHANG).id
    assert demo_account(wallet, ZHANG).status == "active"
    assert wallet.verify_pin(zhang, DEMO_PIN) == PinCheck(ok=True, failures=0, locked_until=None)
    assert (count(engine, TicketRow), count(engine, SmsRow), count(engine, AccountEventRow)) == (
        1,
        0,
        0,
    )


def test_reset_demo_numbers_the_complaint_ticket_10000001_again(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    wallet.open_ticket(kind="complaint", summary="another", key="call-1:complaint")

    reset_demo(engine, clock)

    complaint = wallet.ticket("10000001")
    assert complaint is not None
    assert (complaint.kind, complaint.status) == ("complaint", "in_progress")
    assert wallet.ticket("10000002") is None


def test_reset_demo_places_the_demo_relative_to_the_new_time(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    clock.advance(7 * 24 * 3600)

    reset_demo(engine, clock)

    assert demo_account(wallet, LI).locked_at == clock.now() - timedelta(hours=1)


def test_ensure_demo_seeds_a_database_without_accounts_once(
    engine: sa.Engine, clock: ManualClock
) -> None:
    first = ensure_demo(engine, clock)
    second = ensure_demo(engine, clock)

    assert (first, second, count(engine, AccountRow)) == (True, False, 10)
    assert Wallet(engine, clock).ticket("10000001") is not None


def test_the_demo_never_creates_tables_the_schema_is_its_callers(
    database_url: str, clock: ManualClock
) -> None:
    engine = make_engine(database_url)
    try:
        with pytest.raises(sa.exc.DBAPIError, match="accounts"):
            ensure_demo(engine, clock)
        with pytest.raises(sa.exc.DBAPIError, match="account_events"):
            reset_demo(engine, clock)
        tables = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()

    assert tables == []


def test_ensure_demo_leaves_an_existing_database_alone(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    li = demo_account(wallet, LI).id
    wallet.unlock(li, key="call-1:unlock")

    assert ensure_demo(engine, clock) is False
    assert wallet.account(li).status == "active"


def every_row(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(t.select().order_by(t.c.id))]
            for t in WALLET_TABLES
        }


def test_a_demo_snapshot_puts_back_exactly_what_was_seeded_and_numbers_new_rows_as_after_a_seed(
    engine: sa.Engine, clock: ManualClock
) -> None:
    snapshot = DemoSnapshot(engine, clock)
    snapshot.restore()
    seeded = every_row(engine)
    wallet = Wallet(engine, clock)
    zhang = demo_account(wallet, ZHANG).id
    wallet.protective_freeze(zhang, key="call-1:freeze")
    wallet.open_ticket(kind="voicemail", summary="voicemail", key="call-1:voicemail")
    wallet.send_sms(zhang, "hello", key="call-1:sms")

    snapshot.restore()
    restored = every_row(engine)
    ticket = wallet.open_ticket(kind="voicemail", summary="again", key="call-2:voicemail")

    assert restored == seeded
    assert ticket.number == "10000002"
    assert wallet.verify_pin(zhang, DEMO_PIN).ok is True


def test_a_demo_snapshot_restored_at_another_time_seeds_for_that_time(
    engine: sa.Engine, clock: ManualClock
) -> None:
    snapshot = DemoSnapshot(engine, clock)
    snapshot.restore()
    clock.advance(3600)

    snapshot.restore()
    wallet = Wallet(engine, clock)

    locked = demo_account(wallet, LI).locked_at
    assert locked == clock.now() - timedelta(hours=1)


def test_a_demo_snapshot_notices_a_single_changed_value_an_added_row_and_a_deleted_one(
    engine: sa.Engine, clock: ManualClock
) -> None:
    """A restore writes nothing when every row is as kept (on SQLite it reads them back
    first): each kind of change, alone, must still be put back."""
    snapshot = DemoSnapshot(engine, clock)
    snapshot.restore()
    seeded = every_row(engine)
    snapshot.restore()  # nothing changed
    changes = [
        # one column of one row, in a table after the first
        sa.update(TopUpRow).values(card_last4="0000"),
        # a row added to a table the demo leaves empty
        sa.insert(SmsRow).values(
            account_id=1, to_phone=ZHANG, body="hello", created_at=clock.now(), idempotency_key="k"
        ),
        # a row gone
        sa.delete(PaymentRow).where(PaymentRow.amount_fen == 3_850),
    ]
    restored = []
    for change in changes:
        with engine.begin() as conn:
            conn.execute(change)
        assert every_row(engine) != seeded
        snapshot.restore()
        restored.append(every_row(engine) == seeded)

    assert restored == [True, True, True]


def test_a_demo_snapshot_on_sqlite_writes_nothing_when_nothing_changed(
    tmp_path: Path, clock: ManualClock
) -> None:
    """SQLite's data_version, read on a connection of its own, moves when another connection
    commits a change: a restore with nothing to put back commits none, one after a change
    does."""
    file = tmp_path / "demo.sqlite3"
    engine = make_engine(f"sqlite:///{file}")
    Base.metadata.create_all(engine, tables=list(WALLET_TABLES))
    snapshot = DemoSnapshot(engine, clock)
    snapshot.restore()
    watcher = sqlite3.connect(file)

    def version() -> int:
        return int(watcher.execute("PRAGMA data_version").fetchone()[0])

    try:
        before = version()
        snapshot.restore()
        unchanged = version()
        with engine.begin() as conn:
            conn.execute(
                sa.update(AccountRow).where(AccountRow.phone == LI).values(status="active")
            )
        changed = version()
        snapshot.restore()
        restored = version()
    finally:
        watcher.close()
        engine.dispose()

    assert unchanged == before
    assert changed != unchanged
    assert restored != changed
