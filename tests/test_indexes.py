"""Every query self-help runs finds its rows through a composite index (migration 0007): the
plans PostgreSQL chooses on a large synthetic wallet, read with EXPLAIN.

One account holds 20,000 payments and 500 top-ups, a hundred others hold the rest; the
statistics are fresh (ANALYZE). Each wallet method runs for real while its statements are
captured, then each SELECT is explained with its own parameters. Asserted: the index that
serves it, no sequential scan of a history table, and no sort where the index gives the order
of many rows.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ivr.clock import ManualClock
from ivr.db import make_engine
from ivr.stores import migrate
from ivr.wallet import Wallet
from ivr.wallet.tables import AccountRow
from ivr.wallet.tables import PaymentRow
from ivr.wallet.tables import RefundRow
from ivr.wallet.tables import SmsRow
from ivr.wallet.tables import TicketRow
from ivr.wallet.tables import TopUpRow
from tests import services

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
BUSY = 1  # the account with 20,000 payments
OTHERS = range(2, 102)
# the tables that grow with an account's history (accounts are read by primary key, and a
# hundred of them fit in a page: a sequential scan there is the planner's right choice)
HISTORY_TABLES = {"payments", "topups", "refunds", "tickets", "sms_outbox"}


def _account(account_id: int) -> dict[str, Any]:
    return {
        "id": account_id,
        "phone": f"+86138{account_id:08d}",
        "name_zh": "测试",
        "name_en": "Test",
        "pin_hash": "hmac-sha256$00000000$AAAA$AAAA",
        "status": "active",
        "self_unlock_allowed": False,
        "failed_password_attempts": 0,
        "balance_fen": 100,
        "daily_limit_fen": 100_000,
        "per_payment_limit_fen": 100_000,
        "pin_failures": 0,
        "created_at": NOW - timedelta(days=400),
    }


def _payments(account_id: int, count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        failed = i % 50 == 0
        rows.append(
            {
                "account_id": account_id,
                "amount_fen": 100 + i,
                "merchant_zh": "商户",
                "merchant_en": "Merchant",
                "status": "failed" if failed else "succeeded",
                "failure_reason": "network_error" if failed else None,
                "created_at": NOW - timedelta(minutes=30 * i),  # over a year for 20,000
            }
        )
    return rows


def _rows(account_id: int, count: int, kind: str) -> list[dict[str, Any]]:
    at = [NOW - timedelta(hours=7 * i) for i in range(count)]
    if kind == "topups":
        status = ["pending" if i == 0 else "completed" for i in range(count)]
        return [
            {
                "account_id": account_id,
                "amount_fen": 100,
                "card_last4": "1234",
                "status": s,
                "created_at": t,
            }
            for s, t in zip(status, at, strict=True)
        ]
    if kind == "refunds":
        return [
            {
                "account_id": account_id,
                "amount_fen": 100,
                "merchant_zh": "商户",
                "merchant_en": "Merchant",
                "status": "completed",
                "requested_at": t,
                "expected_at": None,
            }
            for t in at
        ]
    if kind == "tickets":
        return [
            {
                "number": f"t-{account_id}-{i}",
                "account_id": account_id,
                "kind": "complaint",
                "status": "resolved",
                "summary": "s",
                "created_at": t,
                "updated_at": t,
            }
            for i, t in enumerate(at)
        ]
    return [
        {
            "account_id": account_id,
            "to_phone": "+8613800000001",
            "body": "b",
            "created_at": t,
            "idempotency_key": f"sms-{account_id}-{i}",
        }
        for i, t in enumerate(at)
    ]


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    for url in services.postgres_schema_url():
        engine = make_engine(url)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(AccountRow), [_account(a) for a in (BUSY, *OTHERS)])
            payments = _payments(BUSY, 20_000)
            for other in OTHERS:
                payments += _payments(other, 100)
            conn.execute(sa.insert(PaymentRow), payments)
            tables = {"topups": TopUpRow, "refunds": RefundRow, "tickets": TicketRow}
            tables["sms"] = SmsRow
            for kind, row in tables.items():
                rows = _rows(BUSY, 500 if kind == "topups" else 20, kind)
                for other in OTHERS:
                    rows += _rows(other, 20, kind)
                conn.execute(sa.insert(row), rows)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        yield engine
        engine.dispose()


def plans(engine: sa.Engine, run: Callable[[], object]) -> list[dict[str, Any]]:
    """The plan of every SELECT ``run`` sends, explained with the parameters it sent."""
    sent: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    with engine.connect() as conn:
        return [
            conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()[0][
                "Plan"
            ]
            for statement, parameters in sent
        ]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def indexes_and_scans(found: list[dict[str, Any]]) -> tuple[set[str], set[str], set[str]]:
    """The indexes the plans use, the wallet tables they scan whole, and their node types."""
    every = [node for plan in found for node in nodes(plan)]
    used = {n["Index Name"] for n in every if "Index Name" in n}
    seq = {n["Relation Name"] for n in every if n["Node Type"] == "Seq Scan"} & HISTORY_TABLES
    return used, seq, {n["Node Type"] for n in every}


PAYMENTS = ("ix_payments_account_status_created", "ix_payments_account_created")
WALLET_QUERIES: list[tuple[str, Callable[[Wallet], object], str | tuple[str, ...], bool]] = [
    # (what, the call, the index it must use (or one of them), whether the index gives the
    # order: no Sort)
    (
        "latest failed payment",
        lambda w: w.latest_failed_payment(BUSY),
        "ix_payments_account_status_created",
        True,
    ),
    ("today's spending", lambda w: w.limits(BUSY), PAYMENTS, True),
    (
        "transactions since yesterday",
        lambda w: w.count_transactions_since(BUSY, NOW - timedelta(days=1)),
        "ix_payments_account_created",
        True,
    ),
    ("open top-ups", lambda w: w.open_topups(BUSY), "ix_topups_account_status_created", False),
    ("refunds", lambda w: w.refunds(BUSY), "ix_refunds_account_requested", False),
    # twenty rows an account: sorting them after the index found them is the cheaper plan
    ("tickets", lambda w: w.tickets(BUSY), "ix_tickets_account_created", False),
    ("outbox", lambda w: w.outbox(BUSY), "ix_sms_outbox_account_created", False),
]


@pytest.mark.parametrize(
    ("what", "call", "index", "ordered"), WALLET_QUERIES, ids=[q[0] for q in WALLET_QUERIES]
)
def test_each_self_help_query_is_served_by_its_composite_index(
    engine: sa.Engine,
    what: str,
    call: Callable[[Wallet], object],
    index: str | tuple[str, ...],
    ordered: bool,
) -> None:
    wallet = Wallet(engine, ManualClock(NOW))

    used, seq, types = indexes_and_scans(plans(engine, lambda: call(wallet)))

    allowed = {index} if isinstance(index, str) else set(index)
    assert used & allowed, f"{what}: plans used {sorted(used)}"
    assert seq == set(), f"{what}: scans {sorted(seq)} whole"
    if ordered:
        assert "Sort" not in types, f"{what}: sorts its rows ({sorted(types)})"


def test_the_newest_failed_payment_reads_one_row_not_the_accounts_history(
    engine: sa.Engine,
) -> None:
    wallet = Wallet(engine, ManualClock(NOW))

    found = plans(engine, lambda: wallet.latest_failed_payment(BUSY))

    limits = [n for plan in found for n in nodes(plan) if n["Node Type"] == "Limit"]
    assert [n["Plan Rows"] for n in limits] == [1]
