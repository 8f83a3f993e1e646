"""Callback requests: one per call whatever Twilio repeats, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import ivr.stores.callbacks  # noqa: F401  (registers callback_requests on Base)
from ivr.clock import ManualClock
from ivr.flow.hours import Hours
from ivr.stores.callbacks import CallbackBook
from ivr.stores.callbacks import CallbackRequest
from ivr.stores.callbacks import CallbackRequestRow
from tests.conftest import T0

ZHANG = "+8613800000001"
STRANGER = "+8613900000009"


@pytest.fixture
def book(engine: sa.Engine, clock: ManualClock) -> CallbackBook:
    return CallbackBook(engine, clock)


def count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(CallbackRequestRow)).scalar_one()


def test_a_request_is_stored_pending_with_everything_an_agent_needs(book: CallbackBook) -> None:
    made = book.request("CA1", phone=ZHANG, account_id=1, issue="payment failed", queue="payments")
    assert made == CallbackRequest(
        id=made.id,
        call_sid="CA1",
        phone=ZHANG,
        account_id=1,
        issue="payment failed",
        queue="payments",
        requested_at=T0,
        preferred_at=None,
        status="pending",
    )
    assert book.get("CA1") == made


def test_a_closed_line_books_the_next_opening_and_reads_it_back_as_the_same_instant(
    book: CallbackBook, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 11, 23, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai: closed
    opening = Hours().next_opening(clock.now())
    made = book.request(
        "CA1", phone=STRANGER, account_id=None, issue=None, queue="general", preferred_at=opening
    )
    assert made.preferred_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert made.preferred_at.astimezone(ZoneInfo("Asia/Shanghai")).isoformat() == (
        "2026-11-24T09:00:00+08:00"
    )
    assert (made.account_id, made.issue) == (None, None)


def test_a_duplicate_webhook_returns_the_first_request_and_creates_no_second(
    book: CallbackBook, engine: sa.Engine, clock: ManualClock
) -> None:
    first = book.request("CA1", phone=ZHANG, account_id=1, issue="refund", queue="general")
    clock.advance(5)
    again = book.request("CA1", phone=ZHANG, account_id=1, issue="other", queue="security")
    assert again == first
    assert count(engine) == 1


def test_a_call_that_was_already_called_back_is_not_booked_again(book: CallbackBook) -> None:
    book.request("CA1", phone=ZHANG, account_id=1, issue=None, queue="general")
    assert book.mark("CA1", "done") is True
    again = book.request("CA1", phone=ZHANG, account_id=1, issue=None, queue="general")
    assert again.status == "done"
    assert book.pending() == []


def test_racing_deliveries_of_one_request_leave_exactly_one_row(
    book: CallbackBook, engine: sa.Engine
) -> None:
    racers = 8
    barrier = threading.Barrier(racers)
    results: list[CallbackRequest] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            results.append(
                book.request("CA1", phone=ZHANG, account_id=1, issue=None, queue="general")
            )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == racers
    assert {r.id for r in results} == {results[0].id}
    assert count(engine) == 1


def test_pending_lists_earliest_preferred_time_first_then_oldest_request(
    book: CallbackBook, clock: ManualClock
) -> None:
    tomorrow_nine = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    book.request(
        "CA1", phone=ZHANG, account_id=1, issue=None, queue="general", preferred_at=tomorrow_nine
    )
    clock.advance(60)
    book.request("CA2", phone=STRANGER, account_id=None, issue=None, queue="general")
    clock.advance(60)
    book.request("CA3", phone=STRANGER, account_id=None, issue=None, queue="payments")
    clock.advance(60)
    book.request("CA4", phone=STRANGER, account_id=None, issue=None, queue="security")
    book.mark("CA3", "cancelled")
    assert [r.call_sid for r in book.pending()] == ["CA2", "CA4", "CA1"]


def test_marking_an_unknown_call_reports_false_and_an_unknown_status_is_refused(
    book: CallbackBook,
) -> None:
    assert book.mark("CA404", "done") is False
    book.request("CA1", phone=ZHANG, account_id=1, issue=None, queue="general")
    with pytest.raises(ValueError, match="unknown callback status 'called'; allowed: pending"):
        book.mark("CA1", "called")
    kept = book.get("CA1")
    assert kept is not None
    assert kept.status == "pending"


def test_a_request_without_a_number_to_call_is_refused(book: CallbackBook) -> None:
    with pytest.raises(ValueError, match="needs the caller's phone number"):
        book.request("CA1", phone="", account_id=None, issue=None, queue="general")
    assert book.get("CA1") is None


LOST_REQUEST = {
    "call_sid": "CA1",
    "phone": ZHANG,
    "queue": "general",
    "requested_at": T0,
    "status": "lost",
}


def test_the_status_column_refuses_a_status_outside_the_allowed_three(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="'lost' is not among the defined enum values"):
        with engine.begin() as conn:
            conn.execute(sa.insert(CallbackRequestRow).values(LOST_REQUEST))


def test_the_database_refuses_a_status_outside_the_allowed_three(engine: sa.Engine) -> None:
    # Plain SQL, past the column type: the CHECK constraint itself must hold.
    insert = sa.text(
        "INSERT INTO callback_requests (call_sid, phone, queue, requested_at, status) "
        "VALUES (:call_sid, :phone, :queue, :requested_at, :status)"
    )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert, LOST_REQUEST)
