"""What the hot path sends to the database, exactly: statements and transactions.

On PostgreSQL, work that is one statement runs in autocommit (``ivr.db.one_statement``): no
BEGIN, COMMIT or ROLLBACK round trips, and a webhook's held writes and ``close`` are one
statement each (a data-modifying ``WITH``). On SQLite everything stays on the plain engine,
where autocommit would cost more than it saves. ``wire`` lists the statements' first words,
and ``begin``/``commit``/``rollback`` for each transaction that is not autocommit.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from ivr.clock import ManualClock
from ivr.db import one_statement
from ivr.engine.session import CallSession
from ivr.errors import ConfigError
from ivr.errors import StaleSession
from ivr.stores import callbacks
from ivr.stores import records
from ivr.stores.callbacks import CallbackBook
from ivr.stores.records import CallEventRow
from ivr.stores.records import CallRecorder
from ivr.stores.sessions import SqlSessionStore
from ivr.wallet import Wallet
from ivr.wallet import seed_demo
from tests.conftest import T0
from tests.test_records import handoff

SID = "CA00000000000000000000000000000001"
OTHER = "CA00000000000000000000000000000002"


@pytest.fixture
def recorder(engine: sa.Engine, clock: ManualClock) -> CallRecorder:
    return CallRecorder(engine, clock)


class Wire:
    """What ``engine`` sends, listened for on it (its one-statement engine shares the events)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.sent: list[str] = []
        self.texts: list[str] = []
        self.postgres = engine.dialect.name == "postgresql"
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        for name in ("begin", "commit", "rollback"):
            sa.event.listen(engine, name, self._transaction(name))

    def _statement(self, conn: object, cursor: object, statement: str, *_: object) -> None:
        self.sent.append(statement.split()[0])
        self.texts.append(" ".join(statement.split()))

    def _transaction(self, name: str) -> Callable[[sa.Connection], None]:
        def note(conn: sa.Connection) -> None:
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                self.sent.append(name)

        return note

    def of(self, work: Callable[[], object]) -> list[str]:
        self.sent.clear()
        self.texts.clear()
        work()
        return list(self.sent)

    def expect(self, postgres: list[str], sqlite: list[str]) -> list[str]:
        return postgres if self.postgres else sqlite


def in_transaction(*statements: str) -> list[str]:
    return ["begin", *statements, "commit"]


def start(recorder: CallRecorder, sid: str = SID) -> None:
    recorder.start(sid, flow="hotline", caller="+8613800000001", lang="zh-CN")


# --- the one-statement engine ---------------------------------------------------------------


def test_one_statement_is_autocommit_on_postgres_and_the_engine_itself_on_sqlite(
    engine: sa.Engine,
) -> None:
    one = one_statement(engine)

    if engine.dialect.name == "postgresql":
        assert one is not engine
        assert one.get_execution_options() == {"isolation_level": "AUTOCOMMIT"}
        with one.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is True  # type: ignore[union-attr]
        with engine.connect() as conn:  # the plain engine's connections stay transactional
            assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
    else:
        assert one is engine


def test_stores_refuse_a_database_they_do_not_speak() -> None:
    with pytest.raises(ConfigError, match="call records need SQLite or PostgreSQL, not mysql"):
        records._DialectStatements.of("mysql")
    with pytest.raises(ConfigError, match="callback requests need SQLite or PostgreSQL"):
        callbacks._insert_request("mysql")


# --- call records ---------------------------------------------------------------------------


def test_start_is_one_insert_and_a_retried_start_the_same_insert_doing_nothing(
    recorder: CallRecorder, engine: sa.Engine
) -> None:
    wire = Wire(engine)
    one = wire.expect(["INSERT"], in_transaction("INSERT"))

    assert wire.of(lambda: start(recorder)) == one
    assert "ON CONFLICT (call_sid) DO NOTHING" in wire.texts[0]
    assert wire.of(lambda: start(recorder)) == one  # the retry: no error, no read after it
    record = recorder.record(SID)
    assert record is not None
    assert record.started_at == T0


def test_a_webhooks_held_writes_are_one_statement_on_postgres(
    recorder: CallRecorder, engine: sa.Engine
) -> None:
    start(recorder)
    recorder.finish(SID, outcome="agent")
    wire = Wire(engine)

    def webhook() -> None:
        with recorder.holding_events():
            recorder.event(SID, seq=1, state="main_menu", kind="input", detail="2")
            recorder.event(SID, seq=2, state="refund", kind="enter")
            recorder.update(SID, account_id=1001, issue="refund")
            recorder.finish(SID, outcome="self_served", reason="done")

    assert wire.of(webhook) == wire.expect(["WITH"], in_transaction("INSERT", "UPDATE"))
    if wire.postgres:  # psycopg adds the casts
        row = "(%(call_sid_{0})s::VARCHAR, %(seq_{0})s::INTEGER, %(at_{0})s::TIMESTAMP WITH TIME ZONE,"
        row += " %(state_{0})s::VARCHAR, %(kind_{0})s, %(detail_{0})s::VARCHAR)"
        assert wire.texts == [
            "WITH new_events AS (INSERT INTO call_events (call_sid, seq, at, state, kind, detail)"
            f" VALUES {row.format(0)}, {row.format(1)})"
            " UPDATE call_records SET account_id = %(b_account_id)s::INTEGER,"
            " issue = %(b_issue)s::VARCHAR, outcome = coalesce(outcome, %(b_outcome)s),"
            " reason = %(b_reason)s::VARCHAR WHERE call_sid = %(b_call_sid)s::VARCHAR"
        ]
    record = recorder.record(SID)
    assert record is not None
    assert [(e.seq, e.state, e.detail) for e in record.events] == [
        (1, "main_menu", "2"),
        (2, "refund", ""),
    ]
    assert (record.account_id, record.issue, record.outcome, record.reason) == (
        1001,
        "refund",
        "agent",  # the first outcome stays
        "done",
    )


def test_held_events_alone_or_an_update_alone_are_one_statement(
    recorder: CallRecorder, engine: sa.Engine
) -> None:
    start(recorder)
    wire = Wire(engine)

    def events() -> None:
        with recorder.holding_events():
            recorder.event(SID, seq=1, state="main_menu", kind="enter")

    def update() -> None:
        with recorder.holding_events():
            recorder.update(SID, lang="en-US")

    assert wire.of(events) == wire.expect(["INSERT"], in_transaction("INSERT"))
    assert wire.of(update) == wire.expect(["UPDATE"], in_transaction("UPDATE"))


def test_held_writes_for_two_calls_stay_one_transaction(
    recorder: CallRecorder, engine: sa.Engine
) -> None:
    start(recorder)
    start(recorder, OTHER)
    wire = Wire(engine)

    def two_calls() -> None:
        with recorder.holding_events():
            recorder.event(SID, seq=1, state="main_menu", kind="enter")
            recorder.update(SID, lang="en-US")
            recorder.update(OTHER, lang="en-US")

    assert wire.of(two_calls) == in_transaction("INSERT", "UPDATE", "UPDATE")
    assert [r.lang for r in (recorder.record(SID), recorder.record(OTHER)) if r] == ["en-US"] * 2


def test_held_writes_in_the_session_stores_transaction_are_one_statement_on_postgres(
    recorder: CallRecorder, engine: sa.Engine
) -> None:
    start(recorder)
    wire = Wire(engine)

    def save() -> None:
        with recorder.holding_events():
            recorder.event(SID, seq=1, state="main_menu", kind="enter")
            recorder.finish(SID, reason="done")
            with engine.begin() as conn:
                recorder.write_held(conn, SID)
            recorder.held_written(SID)

    expected = wire.expect(in_transaction("WITH"), in_transaction("INSERT", "UPDATE"))
    assert wire.of(save) == expected  # and nothing left to write when the block ends
    record = recorder.record(SID)
    assert record is not None
    assert (len(record.events), record.reason) == (1, "done")


def test_close_is_one_statement_on_postgres_and_a_repeat_keeps_the_first_end(
    recorder: CallRecorder, engine: sa.Engine, clock: ManualClock
) -> None:
    start(recorder)
    handoff(recorder)
    wire = Wire(engine)
    one = wire.expect(["WITH"], in_transaction("UPDATE", "UPDATE"))

    assert wire.of(lambda: recorder.close(SID, duration_s=30, status="completed")) == one
    ended = clock.now()
    clock.advance(60)
    assert wire.of(lambda: recorder.close(SID, duration_s=90, status="failed")) == one

    record = recorder.record(SID)
    assert record is not None
    assert record.handoff is not None
    assert (record.ended_at, record.duration_s, record.outcome) == (ended, 90, "abandoned")
    assert (record.handoff.status, record.handoff.left_at) == ("abandoned", ended)


def test_a_handoff_and_its_duplicate_are_one_upsert_and_keep_the_callers_place(
    recorder: CallRecorder, engine: sa.Engine, clock: ManualClock
) -> None:
    start(recorder)
    wire = Wire(engine)
    one = wire.expect(["INSERT"], in_transaction("INSERT"))

    assert wire.of(lambda: handoff(recorder)) == one
    assert "ON CONFLICT (call_sid) DO UPDATE" in wire.texts[0]
    clock.advance(30)
    assert wire.of(lambda: handoff(recorder, priority=2)) == one
    assert wire.of(lambda: recorder.seen(SID)) == wire.expect(["UPDATE"], in_transaction("UPDATE"))

    record = recorder.record(SID)
    assert record is not None
    assert record.handoff is not None
    assert (record.handoff.priority, record.handoff.enqueued_at) == (2, T0)


def test_handoff_status_and_reads_send_no_transaction_on_postgres(
    recorder: CallRecorder, engine: sa.Engine
) -> None:
    start(recorder)
    handoff(recorder)
    wire = Wire(engine)

    bridged = wire.of(lambda: recorder.handoff_status(SID, "bridged", waited_s=20))
    read = wire.of(lambda: recorder.record(SID))

    assert bridged == wire.expect(
        ["SELECT", "UPDATE"], ["begin", "SELECT", "rollback", *in_transaction("UPDATE")]
    )
    assert read == wire.expect(["SELECT"] * 3, ["begin", "SELECT", "SELECT", "SELECT", "rollback"])


# --- the SQL session store ------------------------------------------------------------------


def sql_store(recorder: CallRecorder, engine: sa.Engine, clock: ManualClock) -> SqlSessionStore:
    """A SQL session store writing ``recorder``'s held events in its saves, with the call
    started and its session stored once (version 1)."""
    store = SqlSessionStore(engine, clock, lease_clock=clock, companion=recorder)
    start(recorder)
    with store.lock(SID):
        store.save(
            CallSession(SID, "hotline", "welcome", "zh-CN", {}, clock.now(), clock.now()),
            unlock=True,
        )
    return store


def test_a_webhook_on_the_sql_store_is_three_statements_in_autocommit_on_postgres(
    recorder: CallRecorder, engine: sa.Engine, clock: ManualClock
) -> None:
    store = sql_store(recorder, engine, clock)
    wire = Wire(engine)

    def webhook() -> None:
        with recorder.holding_events(), store.lock(SID):
            session = store.load(SID)
            assert session is not None
            session.state = "main_menu"
            recorder.event(SID, seq=2, state="main_menu", kind="enter")
            store.save(session, unlock=True)

    # PostgreSQL: the lease, then the read, then the save with its lease's release and the
    # held event: three statements, no BEGIN or COMMIT round trips
    expected = wire.expect(
        ["INSERT", "SELECT", "WITH"],
        in_transaction("INSERT", "SELECT") + in_transaction("UPDATE", "INSERT", "DELETE"),
    )
    assert wire.of(webhook) == expected
    assert wire.of(lambda: store.end(SID)) == wire.expect(["UPDATE"], in_transaction("UPDATE"))
    saved = store.load(SID)
    record = recorder.record(SID)
    assert saved is not None
    assert record is not None
    assert (saved.state, saved.version, saved.ended_at) == ("main_menu", 2, clock.now())
    assert [(e.seq, e.kind) for e in record.events] == [(2, "enter")]


def test_a_sql_save_writes_the_held_events_and_record_changes_with_the_session(
    recorder: CallRecorder, engine: sa.Engine, clock: ManualClock
) -> None:
    store = sql_store(recorder, engine, clock)
    clock.advance(5)
    wire = Wire(engine)

    def webhook() -> None:
        with recorder.holding_events(), store.lock(SID):
            session = store.load(SID)
            assert session is not None
            session.state, session.data = "bye", {"issue": "退款", "tries": 2}
            recorder.events(SID, [(2, "main_menu", "input", "1"), (2, "bye", "enter", "")])
            recorder.update(SID, account_id=1001, lang="en-US", issue="refund")
            recorder.finish(SID, outcome="self_served", reason="done")
            recorder.finish(SID, outcome="abandoned")  # the first outcome stays
            store.save(session, unlock=True)

    assert wire.of(webhook) == wire.expect(
        ["INSERT", "SELECT", "WITH"],
        in_transaction("INSERT", "SELECT") + in_transaction("UPDATE", "INSERT", "UPDATE", "DELETE"),
    )
    saved, record = store.load(SID), recorder.record(SID)
    assert saved is not None
    assert record is not None
    assert (saved.state, saved.data, saved.version) == ("bye", {"issue": "退款", "tries": 2}, 2)
    assert saved.updated_at == clock.now()
    assert [(e.seq, e.state, e.kind, e.detail, e.at) for e in record.events] == [
        (2, "main_menu", "input", "1", clock.now()),
        (2, "bye", "enter", "", clock.now()),
    ]
    assert (record.account_id, record.lang, record.issue) == (1001, "en-US", "refund")
    assert (record.outcome, record.reason) == ("self_served", "done")
    with store.lock(SID, wait=0):  # the lease was given back
        pass


def test_a_stale_sql_save_writes_nothing_of_its_own_and_its_events_land_once(
    recorder: CallRecorder, engine: sa.Engine, clock: ManualClock
) -> None:
    store = sql_store(recorder, engine, clock)
    with recorder.holding_events(), store.lock(SID):
        session = store.load(SID)
        assert session is not None
        other = store.load(SID)  # another process saves meanwhile (its lease had run out)
        assert other is not None
        other.state = "elsewhere"
        store.save(other)
        session.state = "main_menu"
        recorder.event(SID, seq=2, state="main_menu", kind="enter")
        recorder.finish(SID, reason="stale")
        with pytest.raises(StaleSession):
            store.save(session, unlock=True)
        with engine.connect() as conn:  # neither the events nor the record were written
            events = conn.execute(sa.select(sa.func.count()).select_from(CallEventRow))
            assert events.scalar() == 0
        assert store.load(SID).state == "elsewhere"  # type: ignore[union-attr]

    record = recorder.record(SID)  # the block's end wrote what was held, once
    assert record is not None
    assert ([(e.seq, e.kind) for e in record.events], record.reason) == ([(2, "enter")], "stale")
    with store.lock(SID, wait=0):  # and the lock's block gave its lease back
        pass


# --- callbacks and the wallet ---------------------------------------------------------------


def test_a_callback_request_is_a_read_and_one_insert_returning_the_row(
    engine: sa.Engine, clock: ManualClock
) -> None:
    book = CallbackBook(engine, clock)
    wire = Wire(engine)

    def request() -> object:
        return book.request(SID, phone="+8613800000001", account_id=None, issue=None, queue="q")

    first = wire.of(request)
    assert first == wire.expect(
        ["SELECT", "INSERT"], ["begin", "SELECT", "rollback", *in_transaction("INSERT")]
    )
    assert "RETURNING" in wire.texts[1]
    assert wire.of(request) == wire.expect(["SELECT"], ["begin", "SELECT", "rollback"])


def test_a_callback_request_that_lost_a_race_returns_the_winners_row(
    engine: sa.Engine, clock: ManualClock
) -> None:
    book = CallbackBook(engine, clock)
    winner = book.request(SID, phone="+8613800000001", account_id=7, issue=None, queue="q")
    looks = [None]  # its first look found nothing: the winner inserted just after it
    book_get = book.get
    book.get = lambda call_sid: looks.pop() if looks else book_get(call_sid)  # type: ignore[method-assign]

    loser = book.request(SID, phone="+8613800000009", account_id=8, issue=None, queue="q")

    assert loser == winner


def test_wallet_reads_are_autocommit_on_postgres_and_the_pin_check_one_transaction(
    engine: sa.Engine, clock: ManualClock
) -> None:
    seed_demo(engine, clock)
    wallet = Wallet(engine, clock)
    caller = wallet.caller("+8613800000001")
    assert caller is not None
    account = caller.account.id
    wire = Wire(engine)

    assert wire.of(lambda: wallet.limits(account)) == wire.expect(
        ["SELECT"], ["begin", "SELECT", "rollback"]
    )
    assert wire.of(lambda: wallet.verify_pin(account, "000000")) == in_transaction(
        "SELECT", "UPDATE"
    )
