"""The wallet service on a real database (SQLite file and PostgreSQL): reads, idempotent
changes, PIN lockout, and that changes last beyond one ``Wallet`` object."""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import fields
from datetime import timedelta
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.errors import AccountNotFound
from ivr.wallet import DEMO_PIN
from ivr.wallet import Limits
from ivr.wallet import PinCheck
from ivr.wallet import Wallet
from ivr.wallet import normalize_phone
from ivr.wallet import seed_demo
from ivr.wallet.service import Account
from ivr.wallet.tables import WALLET_TABLES
from ivr.wallet.tables import AccountEventRow
from ivr.wallet.tables import RefundRow
from ivr.wallet.tables import SmsRow
from ivr.wallet.tables import TicketRow
from ivr.wallet.tables import TopUpRow

ZHANG = "+8613800000001"
LI = "+8613800000002"
WANG = "+8613800000003"
LIU = "+8613800000004"

T = TypeVar("T")


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


def account_id(wallet: Wallet, phone: str) -> int:
    account = wallet.find_by_phone(phone)
    assert account is not None
    return account.id


def count_rows(engine: sa.Engine, stmt: sa.Select[int]) -> int:
    with Session(engine) as s:
        return s.scalar(stmt) or 0


def run_in_threads(count: int, work: Callable[[], T]) -> list[T]:
    """Run ``work`` in ``count`` threads released together; return results, re-raise errors."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            result = work()
        except BaseException as exc:  # handed to the main thread below
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# -- phone numbers and accounts -------------------------------------------------------------


def test_caller_gives_the_account_and_its_pin_lock_from_one_statement(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    for _ in range(3):
        wallet.verify_pin(zhang, "000000")
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))

    caller = wallet.caller("138 0000 0001")
    assert caller is not None
    assert (caller.account, caller.pin_locked_until) == (
        wallet.account(zhang),
        clock.now() + timedelta(minutes=30),
    )
    assert len(sent) == 2  # the caller, then wallet.account above

    clock.advance(30 * 60)  # a lock that has run out is no lock
    again = wallet.caller(ZHANG)
    assert again is not None
    assert again.pin_locked_until is None
    assert wallet.pin_locked_until(zhang) is None
    assert wallet.caller("+8613900000009") is None
    assert wallet.caller("anonymous") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+8613800000001", "+8613800000001"),
        ("8613800000001", "+8613800000001"),
        ("13800000001", "+8613800000001"),
        ("138 0000 0001", "+8613800000001"),
        ("138-0000-0001", "+8613800000001"),
        ("+86 138-0000 0001", "+8613800000001"),
        ("+14155550100", "+14155550100"),
        ("12800000001", None),
        ("1380000000", None),
        ("138000000012", None),
        ("03800000001", None),
        ("+86 138 0000 000x", None),
        ("１３８０００００００１", None),
        ("", None),
        ("anonymous", None),
    ],
)
def test_phone_numbers_are_normalised_to_e164(text: str, expected: str | None) -> None:
    assert normalize_phone(text) == expected


@pytest.mark.parametrize(
    "spelling",
    ["+8613800000001", "8613800000001", "13800000001", "138 0000 0001", "+86-138-0000-0001"],
)
def test_find_by_phone_accepts_every_spelling_of_a_mainland_mobile(
    wallet: Wallet, spelling: str
) -> None:
    account = wallet.find_by_phone(spelling)

    assert account is not None
    assert (account.phone, account.name_en) == (ZHANG, "Zhang Wei")


@pytest.mark.parametrize("spelling", ["13900000009", "+14155550100", "1380000000", "", "abc"])
def test_find_by_phone_returns_none_for_unknown_or_malformed_numbers(
    wallet: Wallet, spelling: str
) -> None:
    assert wallet.find_by_phone(spelling) is None


def test_account_returns_the_account_by_id(wallet: Wallet) -> None:
    li = wallet.account(account_id(wallet, LI))

    assert (li.phone, li.name_zh, li.status, li.lock_reason) == (
        LI,
        "李娜",
        "locked",
        "password_attempts",
    )


def test_account_for_an_unknown_id_raises_account_not_found(wallet: Wallet) -> None:
    with pytest.raises(AccountNotFound) as caught:
        wallet.account(999)

    assert caught.value.account_id == 999


def test_account_carries_no_pin_hash(wallet: Wallet) -> None:
    zhang = wallet.account(account_id(wallet, ZHANG))

    assert [f.name for f in fields(Account) if "pin" in f.name] == []
    assert "scrypt" not in repr(zhang)


# -- PIN verification -----------------------------------------------------------------------


def test_right_pin_verifies(wallet: Wallet) -> None:
    check = wallet.verify_pin(account_id(wallet, ZHANG), DEMO_PIN)

    assert check == PinCheck(ok=True, failures=0, locked_until=None)


def test_wrong_pin_three_times_locks_verification_for_thirty_minutes(
    wallet: Wallet, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    until = clock.now() + timedelta(minutes=30)

    checks = [wallet.verify_pin(zhang, "000000") for _ in range(3)]

    assert checks == [
        PinCheck(ok=False, failures=1, locked_until=None),
        PinCheck(ok=False, failures=2, locked_until=None),
        PinCheck(ok=False, failures=3, locked_until=until),
    ]


def test_right_pin_is_refused_while_verification_is_locked(
    wallet: Wallet, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    for _ in range(3):
        wallet.verify_pin(zhang, "000000")
    until = clock.now() + timedelta(minutes=30)
    clock.advance(29 * 60 + 59)

    assert wallet.verify_pin(zhang, DEMO_PIN) == PinCheck(ok=False, failures=3, locked_until=until)


def test_pin_lockout_expires_after_thirty_minutes(wallet: Wallet, clock: ManualClock) -> None:
    zhang = account_id(wallet, ZHANG)
    for _ in range(3):
        wallet.verify_pin(zhang, "000000")
    clock.advance(30 * 60)

    assert wallet.verify_pin(zhang, DEMO_PIN) == PinCheck(ok=True, failures=0, locked_until=None)


def test_wrong_pin_after_an_expired_lockout_starts_a_fresh_count(
    wallet: Wallet, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    for _ in range(3):
        wallet.verify_pin(zhang, "000000")
    clock.advance(31 * 60)

    assert wallet.verify_pin(zhang, "000000") == PinCheck(ok=False, failures=1, locked_until=None)


def test_right_pin_resets_the_failure_count(wallet: Wallet) -> None:
    zhang = account_id(wallet, ZHANG)
    wallet.verify_pin(zhang, "000000")
    wallet.verify_pin(zhang, "000000")

    assert wallet.verify_pin(zhang, DEMO_PIN) == PinCheck(ok=True, failures=0, locked_until=None)
    assert wallet.verify_pin(zhang, "000000") == PinCheck(ok=False, failures=1, locked_until=None)


def test_pin_lockout_holds_for_a_fresh_wallet_on_the_same_database(
    wallet: Wallet, database_url: str, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    for _ in range(3):
        wallet.verify_pin(zhang, "000000")
    other_engine = make_engine(database_url)
    try:
        check = Wallet(other_engine, clock).verify_pin(zhang, DEMO_PIN)
    finally:
        other_engine.dispose()

    assert check == PinCheck(ok=False, failures=3, locked_until=clock.now() + timedelta(minutes=30))


def test_concurrent_wrong_pins_lock_after_exactly_three_failures(
    wallet: Wallet, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    until = clock.now() + timedelta(minutes=30)

    checks = run_in_threads(6, lambda: wallet.verify_pin(zhang, "000000"))

    assert sorted((c.ok, c.failures, c.locked_until is not None) for c in checks) == [
        (False, 1, False),
        (False, 2, False),
        (False, 3, True),
        (False, 3, True),
        (False, 3, True),
        (False, 3, True),
    ]
    assert wallet.verify_pin(zhang, DEMO_PIN) == PinCheck(ok=False, failures=3, locked_until=until)


def test_verify_pin_for_an_unknown_account_raises_account_not_found(wallet: Wallet) -> None:
    with pytest.raises(AccountNotFound):
        wallet.verify_pin(999, DEMO_PIN)


# -- unlock and protective freeze -----------------------------------------------------------


def test_unlock_activates_an_account_locked_by_password_attempts(wallet: Wallet) -> None:
    li = account_id(wallet, LI)

    assert wallet.unlock(li, key="call-1:unlock") is True

    account = wallet.account(li)
    assert (
        account.status,
        account.lock_reason,
        account.lock_detail_zh,
        account.lock_detail_en,
        account.locked_at,
        account.self_unlock_allowed,
        account.failed_password_attempts,
    ) == ("active", None, None, None, None, False, 0)


def test_unlock_twice_with_one_key_records_one_event_and_returns_true(
    wallet: Wallet, engine: sa.Engine
) -> None:
    li = account_id(wallet, LI)

    first = wallet.unlock(li, key="call-1:unlock")
    second = wallet.unlock(li, key="call-1:unlock")

    assert (first, second) == (True, True)
    events = sa.select(sa.func.count()).select_from(AccountEventRow)
    assert count_rows(engine, events.where(AccountEventRow.account_id == li)) == 1


def test_unlock_with_a_new_key_after_unlocking_returns_false(wallet: Wallet) -> None:
    li = account_id(wallet, LI)
    wallet.unlock(li, key="call-1:unlock")

    assert wallet.unlock(li, key="call-2:unlock") is False


def test_unlock_is_refused_for_a_risk_control_freeze(wallet: Wallet, engine: sa.Engine) -> None:
    liu = account_id(wallet, LIU)

    assert wallet.unlock(liu, key="call-1:unlock") is False

    account = wallet.account(liu)
    assert (account.status, account.lock_reason) == ("frozen", "risk_control")
    assert count_rows(engine, sa.select(sa.func.count()).select_from(AccountEventRow)) == 0


def test_unlock_is_refused_for_an_active_account(wallet: Wallet) -> None:
    assert wallet.unlock(account_id(wallet, ZHANG), key="call-1:unlock") is False


def test_unlock_is_refused_when_self_unlock_is_not_allowed(
    wallet: Wallet, engine: sa.Engine
) -> None:
    li = account_id(wallet, LI)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE accounts SET self_unlock_allowed = :no WHERE id = :id"),
            {"no": False, "id": li},
        )

    assert wallet.unlock(li, key="call-1:unlock") is False
    assert wallet.account(li).status == "locked"


def test_unlock_of_an_unknown_account_raises_account_not_found(wallet: Wallet) -> None:
    with pytest.raises(AccountNotFound):
        wallet.unlock(999, key="call-1:unlock")


def test_unlock_lasts_for_a_fresh_wallet_on_the_same_database(
    wallet: Wallet, database_url: str, clock: ManualClock
) -> None:
    li = account_id(wallet, LI)
    wallet.unlock(li, key="call-1:unlock")
    other_engine = make_engine(database_url)
    try:
        status = Wallet(other_engine, clock).account(li).status
    finally:
        other_engine.dispose()

    assert status == "active"


def test_protective_freeze_freezes_as_reported_stolen(wallet: Wallet, clock: ManualClock) -> None:
    zhang = account_id(wallet, ZHANG)

    wallet.protective_freeze(zhang, key="call-1:freeze")

    account = wallet.account(zhang)
    assert (
        account.status,
        account.lock_reason,
        account.locked_at,
        account.self_unlock_allowed,
    ) == ("frozen", "reported_stolen", clock.now(), False)


def test_protective_freeze_twice_with_one_key_changes_nothing_the_second_time(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    frozen_at = clock.now()

    wallet.protective_freeze(zhang, key="call-1:freeze")
    clock.advance(60)
    wallet.protective_freeze(zhang, key="call-1:freeze")

    assert wallet.account(zhang).locked_at == frozen_at
    with Session(engine) as s:
        events = s.execute(sa.select(AccountEventRow.account_id, AccountEventRow.kind)).all()
    assert [tuple(e) for e in events] == [(zhang, "protective_freeze")]


def test_protective_freeze_of_an_unknown_account_raises_account_not_found(
    wallet: Wallet, engine: sa.Engine
) -> None:
    with pytest.raises(AccountNotFound):
        wallet.protective_freeze(999, key="call-1:freeze")

    assert count_rows(engine, sa.select(sa.func.count()).select_from(AccountEventRow)) == 0


def test_protective_freeze_lasts_for_a_fresh_wallet_on_the_same_database(
    wallet: Wallet, database_url: str, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    wallet.protective_freeze(zhang, key="call-1:freeze")
    other_engine = make_engine(database_url)
    try:
        account = Wallet(other_engine, clock).account(zhang)
    finally:
        other_engine.dispose()

    assert (account.status, account.lock_reason) == ("frozen", "reported_stolen")


# -- payments, top-ups, refunds, limits -----------------------------------------------------


def test_latest_failed_payment_is_the_newest_failure(wallet: Wallet, clock: ManualClock) -> None:
    payment = wallet.latest_failed_payment(account_id(wallet, ZHANG))

    assert payment is not None
    assert (
        payment.amount_fen,
        payment.merchant_en,
        payment.status,
        payment.failure_reason,
        payment.created_at,
    ) == (
        300_000,
        "Chaoyang Electronics",
        "failed",
        "daily_limit_exceeded",
        clock.now() - timedelta(days=1),
    )


def test_latest_failed_payment_is_none_without_failures(wallet: Wallet) -> None:
    assert wallet.latest_failed_payment(account_id(wallet, LI)) is None


def test_open_topups_lists_pending_and_failed_newest_first(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    wang = account_id(wallet, WANG)
    now = clock.now()
    with Session(engine) as s, s.begin():
        s.add_all(
            [
                TopUpRow(
                    account_id=wang,
                    amount_fen=5_000,
                    card_last4="1111",
                    status="failed",
                    created_at=now - timedelta(hours=1),
                ),
                TopUpRow(
                    account_id=wang,
                    amount_fen=7_000,
                    card_last4="2222",
                    status="completed",
                    created_at=now - timedelta(minutes=5),
                ),
            ]
        )

    topups = wallet.open_topups(wang)

    assert [(t.amount_fen, t.card_last4, t.status, t.created_at) for t in topups] == [
        (5_000, "1111", "failed", now - timedelta(hours=1)),
        (20_000, "6789", "pending", now - timedelta(hours=2)),
    ]


def test_refunds_list_in_progress_first_then_newest_first(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)
    now = clock.now()
    with Session(engine) as s, s.begin():
        for amount, status, days_ago in [(1_000, "completed", 1), (2_000, "rejected", 10)]:
            s.add(
                RefundRow(
                    account_id=zhang,
                    amount_fen=amount,
                    merchant_zh="商户",
                    merchant_en="Merchant",
                    status=status,
                    requested_at=now - timedelta(days=days_ago),
                    expected_at=None,
                )
            )

    refunds = wallet.refunds(zhang)

    assert [(r.amount_fen, r.status) for r in refunds] == [
        (8_990, "in_progress"),
        (1_000, "completed"),
        (2_000, "rejected"),
    ]


def test_count_transactions_since_counts_payments_and_topups_at_or_after(
    wallet: Wallet, clock: ManualClock
) -> None:
    now = clock.now()
    zhang = account_id(wallet, ZHANG)
    wang = account_id(wallet, WANG)

    assert wallet.count_transactions_since(zhang, now - timedelta(hours=24)) == 3
    assert wallet.count_transactions_since(zhang, now - timedelta(hours=3)) == 1
    assert wallet.count_transactions_since(zhang, now - timedelta(hours=3, seconds=-1)) == 0
    assert wallet.count_transactions_since(zhang, now - timedelta(days=4)) == 4
    assert wallet.count_transactions_since(wang, now - timedelta(hours=24)) == 1


def test_limits_count_succeeded_payments_since_midnight_in_shanghai(
    wallet: Wallet, clock: ManualClock
) -> None:
    zhang = account_id(wallet, ZHANG)

    # 10:00 in Shanghai: the ¥38.50 at 07:00 counts, the ¥120.00 at 14:00 yesterday does not,
    # nor does yesterday's failed ¥3,000.
    assert wallet.limits(zhang) == Limits(
        daily_fen=200_000, per_payment_fen=500_000, spent_today_fen=3_850
    )


def test_limits_start_again_at_midnight_in_shanghai(wallet: Wallet, clock: ManualClock) -> None:
    zhang = account_id(wallet, ZHANG)
    clock.advance(14 * 3600 - 1)  # 23:59:59 in Shanghai
    before = wallet.limits(zhang).spent_today_fen
    clock.advance(1)

    assert (before, wallet.limits(zhang).spent_today_fen) == (3_850, 0)


def test_limits_of_an_unknown_account_raise_account_not_found(wallet: Wallet) -> None:
    with pytest.raises(AccountNotFound):
        wallet.limits(999)


# -- tickets --------------------------------------------------------------------------------


def test_open_ticket_creates_an_open_ticket_numbered_from_its_id(
    wallet: Wallet, clock: ManualClock
) -> None:
    wang = account_id(wallet, WANG)

    ticket = wallet.open_ticket(
        kind="topup_investigation",
        summary="¥200.00 top-up from card 6789 pending 2 hours",
        key="call-1:topup",
        account_id=wang,
        caller_phone=WANG,
    )

    assert (
        ticket.number,
        ticket.account_id,
        ticket.kind,
        ticket.status,
        ticket.summary,
        ticket.caller_phone,
        ticket.recording_url,
        ticket.created_at,
        ticket.updated_at,
    ) == (
        "10000002",
        wang,
        "topup_investigation",
        "open",
        "¥200.00 top-up from card 6789 pending 2 hours",
        WANG,
        None,
        clock.now(),
        clock.now(),
    )
    assert wallet.ticket("10000002") == ticket


def test_open_ticket_twice_with_one_key_returns_the_same_ticket_and_one_row(
    wallet: Wallet, engine: sa.Engine
) -> None:
    first = wallet.open_ticket(kind="complaint", summary="first", key="call-1:complaint")
    second = wallet.open_ticket(kind="complaint", summary="second", key="call-1:complaint")

    assert second == first
    tickets = sa.select(sa.func.count()).select_from(TicketRow)
    assert count_rows(engine, tickets.where(TicketRow.idempotency_key == "call-1:complaint")) == 1


def test_open_ticket_with_a_new_key_opens_the_next_number(wallet: Wallet) -> None:
    first = wallet.open_ticket(kind="complaint", summary="first", key="call-1:complaint")
    second = wallet.open_ticket(kind="complaint", summary="second", key="call-2:complaint")

    assert (first.number, second.number) == ("10000002", "10000003")


def test_voicemail_ticket_keeps_the_recording_and_caller_without_an_account(
    wallet: Wallet,
) -> None:
    ticket = wallet.open_ticket(
        kind="voicemail",
        summary="voicemail",
        key="call-1:voicemail",
        caller_phone="+14155550100",
        recording_url="https://api.twilio.com/recordings/RE123",
    )

    assert (ticket.account_id, ticket.caller_phone, ticket.recording_url) == (
        None,
        "+14155550100",
        "https://api.twilio.com/recordings/RE123",
    )


def test_open_ticket_for_an_unknown_account_raises_account_not_found(
    wallet: Wallet, engine: sa.Engine
) -> None:
    with pytest.raises(AccountNotFound):
        wallet.open_ticket(kind="complaint", summary="x", key="call-1:complaint", account_id=999)

    assert count_rows(engine, sa.select(sa.func.count()).select_from(TicketRow)) == 1


def test_concurrent_open_ticket_with_one_key_makes_one_row(
    wallet: Wallet, engine: sa.Engine
) -> None:
    tickets = run_in_threads(
        8, lambda: wallet.open_ticket(kind="complaint", summary="race", key="call-1:race")
    )

    assert {t.number for t in tickets} == {"10000002"}
    assert len(tickets) == 8
    with Session(engine) as s:
        keys = s.scalars(sa.select(TicketRow.idempotency_key).order_by(TicketRow.id)).all()
    assert keys == [None, "call-1:race"]


@pytest.mark.parametrize("spelling", ["10000001", "1000 0001", "10 000 001", " 10000001 "])
def test_ticket_is_found_by_number_with_or_without_spaces(wallet: Wallet, spelling: str) -> None:
    ticket = wallet.ticket(spelling)

    assert ticket is not None
    assert (ticket.number, ticket.kind, ticket.status) == ("10000001", "complaint", "in_progress")


@pytest.mark.parametrize("spelling", ["10000009", "", "abc", "1000000１"])
def test_ticket_is_none_for_unknown_or_malformed_numbers(wallet: Wallet, spelling: str) -> None:
    assert wallet.ticket(spelling) is None


def test_ticket_lasts_for_a_fresh_wallet_on_the_same_database(
    wallet: Wallet, database_url: str, clock: ManualClock
) -> None:
    opened = wallet.open_ticket(kind="complaint", summary="lasting", key="call-1:complaint")
    other_engine = make_engine(database_url)
    try:
        found = Wallet(other_engine, clock).ticket(opened.number)
    finally:
        other_engine.dispose()

    assert found == opened


# -- SMS outbox -----------------------------------------------------------------------------


def test_send_sms_queues_a_message_to_the_account_phone(wallet: Wallet, clock: ManualClock) -> None:
    zhang = account_id(wallet, ZHANG)

    sms = wallet.send_sms(zhang, "您的工单号是 10000002。", key="call-1:sms")

    assert (sms.account_id, sms.to_phone, sms.body, sms.created_at) == (
        zhang,
        ZHANG,
        "您的工单号是 10000002。",
        clock.now(),
    )
    assert wallet.outbox(zhang) == [sms]


def test_send_sms_twice_with_one_key_queues_one_message(wallet: Wallet, engine: sa.Engine) -> None:
    zhang = account_id(wallet, ZHANG)

    first = wallet.send_sms(zhang, "first", key="call-1:sms")
    second = wallet.send_sms(zhang, "second", key="call-1:sms")

    assert second == first
    assert count_rows(engine, sa.select(sa.func.count()).select_from(SmsRow)) == 1


def test_outbox_lists_every_account_or_one_oldest_first(wallet: Wallet, clock: ManualClock) -> None:
    zhang = account_id(wallet, ZHANG)
    wang = account_id(wallet, WANG)
    first = wallet.send_sms(zhang, "one", key="k1")
    clock.advance(1)
    second = wallet.send_sms(wang, "two", key="k2")
    clock.advance(1)
    third = wallet.send_sms(zhang, "three", key="k3")

    assert wallet.outbox() == [first, second, third]
    assert wallet.outbox(zhang) == [first, third]
    assert wallet.outbox(account_id(wallet, LIU)) == []


def test_send_sms_to_an_unknown_account_raises_account_not_found(wallet: Wallet) -> None:
    with pytest.raises(AccountNotFound):
        wallet.send_sms(999, "hello", key="call-1:sms")


def test_outbox_lasts_for_a_fresh_wallet_on_the_same_database(
    wallet: Wallet, database_url: str, clock: ManualClock
) -> None:
    sms = wallet.send_sms(account_id(wallet, LI), "hello", key="call-1:sms")
    other_engine = make_engine(database_url)
    try:
        outbox = Wallet(other_engine, clock).outbox()
    finally:
        other_engine.dispose()

    assert outbox == [sms]


# -- the same change from several requests at once ------------------------------------------


def test_concurrent_unlock_with_one_key_unlocks_once_and_all_succeed(
    wallet: Wallet, engine: sa.Engine
) -> None:
    li = account_id(wallet, LI)

    results = run_in_threads(6, lambda: wallet.unlock(li, key="call-1:unlock"))

    assert results == [True] * 6
    assert wallet.account(li).status == "active"
    assert count_rows(engine, sa.select(sa.func.count()).select_from(AccountEventRow)) == 1


def test_concurrent_protective_freeze_with_one_key_records_one_event(
    wallet: Wallet, engine: sa.Engine
) -> None:
    zhang = account_id(wallet, ZHANG)

    run_in_threads(6, lambda: wallet.protective_freeze(zhang, key="call-1:freeze"))

    assert wallet.account(zhang).status == "frozen"
    assert count_rows(engine, sa.select(sa.func.count()).select_from(AccountEventRow)) == 1


def test_concurrent_send_sms_with_one_key_queues_one_message(wallet: Wallet) -> None:
    zhang = account_id(wallet, ZHANG)

    messages = run_in_threads(6, lambda: wallet.send_sms(zhang, "hi", key="call-1:sms"))

    assert len({m.id for m in messages}) == 1
    assert wallet.outbox() == messages[:1]


def test_each_change_a_caller_makes_sends_only_the_statements_it_needs(
    wallet: Wallet, engine: sa.Engine, clock: ManualClock
) -> None:
    li, zhang = account_id(wallet, LI), account_id(wallet, ZHANG)
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2].split()[0]))

    def statements(change: Callable[[], object]) -> list[str]:
        sent.clear()
        change()
        return list(sent)

    def complaint() -> str:
        return wallet.open_ticket(kind="complaint", summary="s", key="t1").number

    assert statements(lambda: wallet.unlock(li, key="u1")) == ["UPDATE", "INSERT"]
    assert statements(lambda: wallet.protective_freeze(zhang, key="f1")) == ["UPDATE", "INSERT"]
    assert statements(lambda: wallet.send_sms(zhang, "hi", key="s1")) == ["INSERT"]
    sent.clear()
    number = complaint()
    assert sent == ["INSERT", "UPDATE"]
    since = clock.now() - timedelta(days=1)
    assert statements(lambda: wallet.count_transactions_since(zhang, since)) == ["SELECT"]
    assert statements(lambda: wallet.limits(zhang)) == ["SELECT"]
    # the same keys again: refused by their unique constraints, then found by them
    assert statements(lambda: wallet.send_sms(zhang, "hi", key="s1"))[-1] == "SELECT"
    assert complaint() == number
    assert wallet.unlock(li, key="u1") is True
    assert len(wallet.outbox(zhang)) == 1
