"""The session store contract, run against every store: SQLite, PostgreSQL, Redis, memory."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.engine.session import CallSession
from ivr.errors import ConfigError
from ivr.errors import SessionBusy
from ivr.errors import SessionError
from ivr.errors import StaleSession
from ivr.stores.sessions import CallLockRow
from ivr.stores.sessions import MemorySessionStore
from ivr.stores.sessions import RedisSessionStore
from ivr.stores.sessions import SessionStore
from ivr.stores.sessions import SqlSessionStore
from ivr.stores.sessions import open_session_store
from tests.conftest import T0

SID = "CA00000000000000000000000000000001"
MakeStore = Callable[..., SessionStore]

# (store kind, database) pairs; the database matters to the SQL store only.
ALL_STORES = [
    pytest.param("sql", "sqlite", id="sqlite"),
    pytest.param("sql", "postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("redis", "sqlite", id="redis", marks=pytest.mark.redis),
    pytest.param("memory", "sqlite", id="memory"),
]
# Stores whose expiry follows the injected clock (Redis expires keys in real time).
CLOCKED_STORES = [p for p in ALL_STORES if p.id != "redis"]
SQL_STORES = [p for p in ALL_STORES if p.values[0] == "sql"]


def on_stores(params: list[Any]) -> pytest.MarkDecorator:
    """Run a test once per store in ``params``."""
    return pytest.mark.parametrize(
        ("store_kind", "database_url"), params, indirect=["database_url"]
    )


every_store = on_stores(ALL_STORES)
clocked_stores = on_stores(CLOCKED_STORES)
sql_stores = on_stores(SQL_STORES)
redis_store = on_stores(ALL_STORES[2:3])


@pytest.fixture
def make_store(
    store_kind: str, database_url: str, clock: ManualClock, request: pytest.FixtureRequest
) -> Iterator[MakeStore]:
    """Opens stores on one shared backend, as separate processes would (memory: one store)."""
    with ExitStack() as cleanup:
        if store_kind == "sql":
            setup = make_engine(database_url)
            Base.metadata.create_all(setup)
            setup.dispose()

            def make(**ttls: timedelta) -> SessionStore:
                engine = make_engine(database_url)
                cleanup.callback(engine.dispose)
                return SqlSessionStore(engine, clock, lease_clock=clock, **ttls)

        elif store_kind == "redis":
            url = request.getfixturevalue("redis_url")
            prefix = f"ivr-test-{uuid.uuid4().hex}:"

            def make(**ttls: timedelta) -> SessionStore:
                client = redis.Redis.from_url(url)
                cleanup.callback(client.close)
                return RedisSessionStore(client, clock, prefix=prefix, **ttls)

            admin = redis.Redis.from_url(url)
            cleanup.callback(admin.close)
            cleanup.callback(lambda: [admin.delete(k) for k in admin.scan_iter(f"{prefix}*")])
        else:
            memory: list[SessionStore] = []

            def make(**ttls: timedelta) -> SessionStore:
                if not memory:
                    memory.append(MemorySessionStore(clock, **ttls))
                return memory[0]

        yield make


@pytest.fixture
def store(make_store: MakeStore) -> SessionStore:
    return make_store()


def new_session(sid: str = SID, **data: Any) -> CallSession:
    return CallSession(
        call_sid=sid,
        flow="hotline",
        state="welcome",
        lang="zh-CN",
        data=dict(data),
        created_at=T0,
        updated_at=T0,
    )


# --- load and save -------------------------------------------------------------------------


@every_store
def test_load_of_a_call_never_saved_is_none(store: SessionStore) -> None:
    assert store.load(SID) is None


@every_store
def test_a_saved_session_loads_back_whole_at_version_one(store: SessionStore) -> None:
    session = new_session(n=0)
    session.seq = 3
    session.last_reply = "<Response><Say>你好</Say></Response>"
    store.save(session)

    assert store.load(SID) == CallSession(
        call_sid=SID,
        flow="hotline",
        state="welcome",
        lang="zh-CN",
        data={"n": 0},
        created_at=T0,
        updated_at=T0,
        seq=3,
        last_reply="<Response><Say>你好</Say></Response>",
        ended_at=None,
        version=1,
    )
    assert session.version == 1


@every_store
def test_each_save_bumps_the_version_and_stamps_updated_at(
    store: SessionStore, clock: ManualClock
) -> None:
    session = new_session()
    store.save(session)
    clock.advance(7)
    session.state = "main_menu"
    store.save(session)

    loaded = store.load(SID)
    assert loaded is not None
    assert (loaded.state, loaded.version, loaded.created_at, loaded.updated_at) == (
        "main_menu",
        2,
        T0,
        T0 + timedelta(seconds=7),
    )
    assert (session.version, session.updated_at) == (2, T0 + timedelta(seconds=7))


@every_store
def test_data_comes_back_as_json_would_give_it(store: SessionStore) -> None:
    store.save(new_session(name="张三", tried=("pin", "sms"), limits={"daily": 500_00}))

    loaded = store.load(SID)
    assert loaded is not None
    assert loaded.data == {"name": "张三", "tried": ["pin", "sms"], "limits": {"daily": 50000}}


@every_store
def test_a_loaded_session_is_a_copy_not_the_stored_one(store: SessionStore) -> None:
    store.save(new_session(n=1))
    loaded = store.load(SID)
    assert loaded is not None
    loaded.data["n"] = 99

    again = store.load(SID)
    assert again is not None
    assert again.data == {"n": 1}


@every_store
def test_saving_over_a_save_made_meanwhile_raises_stale_session(store: SessionStore) -> None:
    store.save(new_session(n=0))
    first = store.load(SID)
    second = store.load(SID)
    assert first is not None
    assert second is not None
    first.data["n"] = 1
    store.save(first)
    second.data["n"] = 2

    with pytest.raises(StaleSession) as raised:
        store.save(second)

    assert (raised.value.call_sid, raised.value.expected, raised.value.found) == (SID, 1, 2)
    kept = store.load(SID)
    assert kept is not None
    assert (kept.data, kept.version) == ({"n": 1}, 2)


@every_store
def test_saving_a_new_session_over_a_stored_one_raises_stale_session(
    store: SessionStore,
) -> None:
    store.save(new_session(n=1))

    with pytest.raises(StaleSession) as raised:
        store.save(new_session(n=2))

    assert (raised.value.expected, raised.value.found) == (0, 1)


@every_store
def test_saving_a_session_that_is_no_longer_stored_raises_stale_session(
    store: SessionStore,
) -> None:
    gone = new_session()
    gone.version = 3

    with pytest.raises(StaleSession) as raised:
        store.save(gone)

    assert (raised.value.expected, raised.value.found) == (3, None)
    assert store.load(SID) is None


# --- locking -------------------------------------------------------------------------------


@every_store
def test_two_threads_incrementing_under_the_lock_lose_no_update(make_store: MakeStore) -> None:
    make_store().save(new_session(n=0))

    def increment_20_times(store: SessionStore) -> None:
        for _ in range(20):
            with store.lock(SID):
                session = store.load(SID)
                assert session is not None
                session.data["n"] += 1
                store.save(session)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(increment_20_times, make_store()) for _ in range(2)]
        for future in futures:
            future.result()

    final = make_store().load(SID)
    assert final is not None
    assert (final.data, final.version) == ({"n": 40}, 41)


@every_store
def test_a_held_lock_makes_another_request_busy_once_it_has_waited(
    make_store: MakeStore,
) -> None:
    holder, other = make_store(), make_store()

    with holder.lock(SID), pytest.raises(SessionBusy) as raised, other.lock(SID, wait=0.05):
        pytest.fail("took a lock that another request holds")

    assert raised.value.call_sid == SID


@every_store
def test_the_lock_is_free_again_after_its_block_raised(store: SessionStore) -> None:
    with pytest.raises(RuntimeError, match="engine bug"), store.lock(SID):
        raise RuntimeError("engine bug")

    with store.lock(SID, wait=0):
        pass


@every_store
def test_locks_of_different_calls_are_independent(store: SessionStore) -> None:
    with store.lock(SID), store.lock("CA00000000000000000000000000000002", wait=0):
        pass


# --- ending --------------------------------------------------------------------------------


@every_store
def test_end_marks_the_session_ended_and_a_second_end_keeps_the_first_time(
    store: SessionStore, clock: ManualClock
) -> None:
    store.save(new_session())
    clock.advance(60)
    store.end(SID)
    clock.advance(5)
    store.end(SID)

    ended = store.load(SID)
    assert ended is not None
    assert (ended.ended_at, ended.version) == (T0 + timedelta(seconds=60), 1)


@every_store
def test_end_during_a_request_is_kept_by_that_requests_save(
    store: SessionStore, clock: ManualClock
) -> None:
    store.save(new_session())
    in_flight = store.load(SID)
    assert in_flight is not None
    clock.advance(2)
    store.end(SID)
    in_flight.state = "goodbye"
    store.save(in_flight)

    saved = store.load(SID)
    assert saved is not None
    assert (saved.state, saved.ended_at) == ("goodbye", T0 + timedelta(seconds=2))
    assert in_flight.ended_at == T0 + timedelta(seconds=2)


@every_store
def test_end_of_a_call_never_saved_does_nothing(store: SessionStore) -> None:
    store.end(SID)

    assert store.load(SID) is None


# --- expiry --------------------------------------------------------------------------------


@clocked_stores
def test_purge_removes_ended_sessions_after_ended_ttl_and_idle_ones_after_idle_ttl(
    make_store: MakeStore, clock: ManualClock
) -> None:
    store = make_store(ended_ttl=timedelta(minutes=10), idle_ttl=timedelta(hours=4))
    store.save(new_session("CA-ended"))
    store.end("CA-ended")
    store.save(new_session("CA-idle"))
    clock.advance(10 * 60)
    store.save(new_session("CA-live"))

    assert store.purge() == 0  # exactly ended_ttl after the end: not yet "more than"
    clock.advance(1)
    assert store.purge() == 1
    assert store.load("CA-ended") is None

    clock.advance(4 * 3600 - 10 * 60 - 1)  # CA-idle now idle exactly idle_ttl
    assert store.purge() == 0
    clock.advance(1)
    assert store.purge() == 1
    assert store.load("CA-idle") is None
    live = store.load("CA-live")
    assert live is not None
    assert live.call_sid == "CA-live"


@redis_store
def test_redis_expires_sessions_itself_so_purge_has_nothing_to_do(
    make_store: MakeStore, redis_url: str
) -> None:
    store = make_store(ended_ttl=timedelta(minutes=10), idle_ttl=timedelta(hours=4))
    assert isinstance(store, RedisSessionStore)
    client = redis.Redis.from_url(redis_url)
    key = f"{store._prefix}session:{SID}"
    store.save(new_session())
    idle_ttl_ms = client.pttl(key)
    store.end(SID)
    ended_ttl_ms = client.pttl(key)
    client.close()

    assert 10 * 60 * 1000 < idle_ttl_ms <= 4 * 3600 * 1000
    assert 0 < ended_ttl_ms <= 10 * 60 * 1000
    assert store.purge() == 0


# --- lock leases ---------------------------------------------------------------------------


@sql_stores
def test_an_expired_lease_is_taken_over_and_the_old_holders_release_leaves_it(
    make_store: MakeStore, clock: ManualClock
) -> None:
    crashed, taker, third = make_store(), make_store(), make_store()
    with ExitStack() as held:
        held.enter_context(crashed.lock(SID))
        clock.advance(30)  # the lease runs 30 s: at exactly 30 s it still holds
        with pytest.raises(SessionBusy), taker.lock(SID, wait=0.05):
            pytest.fail("took a lease that has not expired")
        clock.advance(1)

        with taker.lock(SID, wait=0):
            held.close()  # the old holder finally releases: only its own lease
            with pytest.raises(SessionBusy), third.lock(SID, wait=0.05):
                pytest.fail("took a lease that the taker holds")


@sql_stores
def test_purge_deletes_expired_lock_leases_only(
    make_store: MakeStore, clock: ManualClock, database_url: str
) -> None:
    store = make_store()
    with ExitStack() as held:
        held.enter_context(store.lock("CA-crashed"))
        clock.advance(31)
        held.enter_context(store.lock("CA-current"))
        store.purge()

        engine = make_engine(database_url)
        with engine.connect() as conn:
            left = conn.execute(sa.select(CallLockRow.call_sid)).scalars().all()
        engine.dispose()

    assert left == ["CA-current"]


@redis_store
def test_redis_release_leaves_a_lock_someone_else_now_holds(
    make_store: MakeStore, redis_url: str
) -> None:
    store = make_store()
    assert isinstance(store, RedisSessionStore)
    client = redis.Redis.from_url(redis_url)
    key = f"{store._prefix}lock:{SID}"
    with store.lock(SID):
        client.set(key, "someone-else")  # our lease expired and another request took it

    assert client.get(key) == b"someone-else"
    client.close()


@redis_store
def test_redis_lock_is_a_lease_of_30_seconds(make_store: MakeStore, redis_url: str) -> None:
    store = make_store()
    assert isinstance(store, RedisSessionStore)
    client = redis.Redis.from_url(redis_url)
    with store.lock(SID):
        lease_ms = client.pttl(f"{store._prefix}lock:{SID}")
    client.close()

    assert 29_000 < lease_ms <= 30_000


@redis_store
def test_redis_lease_of_a_crashed_holder_expires_and_its_late_release_leaves_the_taker(
    make_store: MakeStore, redis_url: str
) -> None:
    crashed, taker, third = make_store(), make_store(), make_store()
    assert isinstance(crashed, RedisSessionStore)
    client = redis.Redis.from_url(redis_url)
    key = f"{crashed._prefix}lock:{SID}"
    with ExitStack() as held:
        held.enter_context(crashed.lock(SID))
        with pytest.raises(SessionBusy), taker.lock(SID, wait=0.05):
            pytest.fail("took a lease that has not expired")
        client.pexpire(key, 50)  # as if the lease's 30 s were all but over

        with taker.lock(SID, wait=2):
            held.close()  # the old holder finally releases: only its own lease
            with pytest.raises(SessionBusy), third.lock(SID, wait=0.05):
                pytest.fail("took a lease that the taker holds")
    left = client.exists(key)
    client.close()

    assert left == 0  # the taker released its own lease


def _meddling_client(url: str, meddle: Callable[[], None], times: int) -> redis.Redis:
    """A Redis client on which ``meddle`` (another request writing) runs just before each of
    its first ``times`` transactions reaches MULTI: a WATCH conflict at the worst moment."""
    left = [times]

    class Meddling(redis.Redis):
        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
            pipe = super().pipeline(transaction, shard_hint)
            multi = pipe.multi

            def meddling_multi() -> None:
                if left[0] > 0:
                    left[0] -= 1
                    meddle()
                multi()

            pipe.multi = meddling_multi
            return pipe

    return Meddling.from_url(url)


@redis_store
def test_redis_save_runs_again_when_an_end_lands_between_its_read_and_its_write(
    make_store: MakeStore, redis_url: str, clock: ManualClock
) -> None:
    other = make_store()
    assert isinstance(other, RedisSessionStore)
    other.save(new_session())
    client = _meddling_client(redis_url, lambda: other.end(SID), times=1)
    store = RedisSessionStore(client, clock, prefix=other._prefix)
    in_flight = store.load(SID)
    assert in_flight is not None
    in_flight.state = "goodbye"

    store.save(in_flight)
    client.close()

    saved = other.load(SID)
    assert saved is not None
    assert (saved.state, saved.version, saved.ended_at) == ("goodbye", 2, T0)


@redis_store
def test_redis_save_gives_up_when_the_session_keeps_changing(
    make_store: MakeStore, redis_url: str, clock: ManualClock
) -> None:
    other = make_store()
    assert isinstance(other, RedisSessionStore)
    other.save(new_session())
    key = f"{other._prefix}session:{SID}"
    admin = redis.Redis.from_url(redis_url)
    touches: list[int] = []

    def touch() -> None:  # any write to a watched key, even a new expiry, is a conflict
        touches.append(admin.pexpire(key, 60_000))

    client = _meddling_client(redis_url, touch, times=100)
    store = RedisSessionStore(client, clock, prefix=other._prefix)
    session = store.load(SID)
    assert session is not None

    with pytest.raises(SessionError, match=rf"^call {SID}: session kept changing while saving$"):
        store.save(session)
    client.close()
    admin.close()

    stored = other.load(SID)
    assert stored is not None
    assert (len(touches), stored.version) == (50, 1)  # 50 tries, each lost to a write


# --- choosing a store ----------------------------------------------------------------------


@pytest.mark.parametrize("setting", [None, "sql"])
def test_no_setting_or_sql_opens_the_sql_store(setting: str | None, clock: ManualClock) -> None:
    engine = sa.create_engine("sqlite://")
    assert isinstance(open_session_store(setting, engine, clock), SqlSessionStore)
    engine.dispose()


def test_memory_setting_opens_the_memory_store(clock: ManualClock) -> None:
    assert isinstance(open_session_store("memory", None, clock), MemorySessionStore)


def test_a_redis_url_opens_the_redis_store(clock: ManualClock) -> None:
    store = open_session_store("redis://127.0.0.1:6379/15", None, clock)

    assert isinstance(store, RedisSessionStore)
    store._client.close()


def test_a_redis_url_without_the_redis_client_says_what_to_install(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what a missing package looks like

    with pytest.raises(ConfigError, match=r"pip install 'ivr\[redis\]'"):
        open_session_store("redis://127.0.0.1:6379/15", None, clock)


def test_the_sql_store_without_a_database_is_a_config_error(clock: ManualClock) -> None:
    with pytest.raises(ConfigError, match="needs a database"):
        open_session_store("sql", None, clock)


def test_an_unknown_store_setting_names_the_allowed_ones(clock: ManualClock) -> None:
    with pytest.raises(ConfigError) as raised:
        open_session_store("memcached://localhost", None, clock)

    assert str(raised.value) == (
        "unknown session store 'memcached://localhost'; "
        "use 'sql' (the default), 'memory' or a redis:// URL"
    )


def test_importing_sessions_imports_neither_redis_nor_flask() -> None:
    code = "import sys, ivr.stores.sessions; print(sorted({'redis', 'flask'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert out == "[]\n"


# --- faults ----------------------------------------------------------------------------------


@every_store
def test_check_passes_on_a_store_that_answers(store: SessionStore) -> None:
    store.check()


def test_the_sql_check_fails_within_its_budget_on_a_sqlite_file_another_process_locked(
    tmp_path: Any, clock: ManualClock
) -> None:
    from ivr.stores.budgets import StoreBudget

    url = f"sqlite:///{tmp_path / 'locked.sqlite3'}"
    engine = StoreBudget(0.2).limit(make_engine(url))
    Base.metadata.create_all(engine)
    store = SqlSessionStore(engine, clock)
    other = sqlite3.connect(tmp_path / "locked.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        store.load(SID)  # reading still works (WAL) ...
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            store.check()  # ... writing does not
    finally:
        other.execute("ROLLBACK")
        other.close()
        engine.dispose()


def lose_connection_on_first_delete(engine: sa.Engine) -> list[str]:
    """Make the first DELETE on ``engine`` fail as a connection killed under it does."""
    failed: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def kill(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE") and not failed:
            failed.append(statement)
            raise sqlite3.OperationalError("server closed the connection unexpectedly")

    @sa.event.listens_for(engine, "handle_error")
    def as_disconnect(context: Any) -> None:
        if "server closed the connection" in str(context.original_exception):
            context.is_disconnect = True

    return failed


def test_a_lock_whose_connection_is_lost_as_it_is_released_is_released_on_a_new_one(
    tmp_path: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ivr.sqlite3'}")
    Base.metadata.create_all(engine)
    store = SqlSessionStore(engine, clock)
    failed = lose_connection_on_first_delete(engine)

    with store.lock(SID):
        pass

    assert len(failed) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(CallLockRow)).scalar() == 0
    with store.lock(SID, wait=0):  # the next webhook of the call does not wait
        pass
    assert "connection lost releasing its lock; again" in caplog.text
    engine.dispose()


def test_a_lock_that_cannot_be_released_is_logged_not_raised_and_runs_out_with_its_lease(
    tmp_path: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ivr.sqlite3'}")
    Base.metadata.create_all(engine)
    store = SqlSessionStore(engine, clock, lease_clock=clock)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def refuse(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE"):
            raise sqlite3.OperationalError("disk I/O error")

    with store.lock(SID):
        pass

    assert "lock not released (expires in 0:00:30)" in caplog.text
    clock.advance(31)
    sa.event.remove(engine, "before_cursor_execute", refuse)
    with store.lock(SID, wait=0):
        pass
    engine.dispose()


def test_a_redis_url_opens_a_client_that_keeps_to_the_budget_and_never_retries(
    clock: ManualClock,
) -> None:
    from ivr.stores.budgets import StoreBudget

    store = open_session_store("redis://127.0.0.1:6379/15", None, clock, budget=StoreBudget(0.5))

    assert isinstance(store, RedisSessionStore)
    kwargs = store._client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.5)
    assert store._client.get_retry()._retries == 0
    store._client.close()


# --- two trips per webhook ---------------------------------------------------------------------


def one_webhook(store: SessionStore) -> CallSession:
    """What a webhook does with its store: lock and load, move the call on, save and unlock."""
    with store.lock(SID):
        session = store.load(SID)
        assert session is not None
        session.state = "main_menu"
        store.save(session, unlock=True)
    return session


@every_store
def test_an_unlocking_save_gives_the_lock_back_and_the_next_webhook_sees_the_save(
    make_store: MakeStore,
) -> None:
    store, other = make_store(), make_store()
    store.save(new_session())

    with store.lock(SID):
        session = store.load(SID)
        assert session is not None
        session.state = "main_menu"
        store.save(session, unlock=True)
        with other.lock(SID, wait=0):  # given back already, before the block's end
            seen = other.load(SID)

    assert seen is not None
    assert (seen.state, seen.version, session.version) == ("main_menu", 2, 2)
    with other.lock(SID, wait=0):
        pass


@sql_stores
def test_a_sql_webhook_costs_two_transactions_and_writes_what_the_companion_holds(
    make_store: MakeStore, database_url: str, clock: ManualClock
) -> None:
    make_store().save(new_session())
    engine = make_engine(database_url)
    written: list[str] = []

    class Companion:
        def write_held(self, conn: sa.Connection, call_sid: str) -> None:
            conn.execute(sa.update(CallLockRow).where(sa.false()).values(token="x"))
            written.append(call_sid)

        def held_ctes(self, call_sid: str, only_if: str) -> None:
            return None  # nothing to add to PostgreSQL's one-statement save: a transaction

        def held_written(self, call_sid: str) -> None:
            written.append(f"{call_sid} committed")

    store = SqlSessionStore(engine, clock, lease_clock=clock, companion=Companion())
    commits: list[int] = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))

    saved = one_webhook(store)

    with engine.connect() as conn:
        leases = conn.execute(sa.select(sa.func.count()).select_from(CallLockRow)).scalar()
    engine.dispose()
    assert (len(commits), saved.version, leases) == (2, 2, 0)
    assert written == [SID, f"{SID} committed"]


@sql_stores
def test_a_sql_webhook_on_postgresql_gives_its_lease_back_in_the_write_of_its_save(
    make_store: MakeStore, database_url: str, clock: ManualClock
) -> None:
    make_store()  # the tables
    engine = make_engine(database_url)
    store = SqlSessionStore(engine, clock, lease_clock=clock)
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2].split()[0]))

    with store.lock(SID):  # the call's first webhook: its session is inserted
        assert store.load(SID) is None
        store.save(new_session(), unlock=True)
    one_webhook(store)
    after = one_webhook(store)  # the lease was given back: the next webhook takes it at once
    webhooks = list(sent)

    with engine.connect() as conn:
        leases = conn.execute(sa.select(sa.func.count()).select_from(CallLockRow)).scalar()
    engine.dispose()
    # PostgreSQL: WITH (DELETE the lease) UPDATE the session; SQLite has no such WITH
    if engine.dialect.name == "postgresql":
        first, save = ["WITH"], ["WITH"]
    else:
        first, save = ["INSERT", "DELETE"], ["UPDATE", "DELETE"]
    assert webhooks == ["INSERT", "SELECT", *first] + 2 * ["INSERT", "SELECT", *save]
    assert (after.version, leases) == (3, 0)


@redis_store
def test_a_redis_webhook_costs_two_round_trips(
    make_store: MakeStore, redis_url: str, clock: ManualClock
) -> None:
    other = make_store()
    assert isinstance(other, RedisSessionStore)
    other.save(new_session())
    sent: list[str] = []

    class Counting(redis.Redis):
        def execute_command(self, *args: Any, **options: Any) -> Any:
            sent.append(str(args[0]))
            return super().execute_command(*args, **options)

    client = Counting.from_url(redis_url)
    store = RedisSessionStore(client, clock, prefix=other._prefix)

    saved = one_webhook(store)
    client.close()

    assert sent == ["EVALSHA", "EVALSHA"]
    assert saved.version == 2
    stored = other.load(SID)
    assert stored is not None
    assert (stored.state, stored.version) == ("main_menu", 2)


@every_store
def test_an_unlocking_save_over_a_save_made_meanwhile_is_stale_and_the_lock_is_given_back(
    make_store: MakeStore,
) -> None:
    store, other = make_store(), make_store()
    store.save(new_session())

    with store.lock(SID):
        session = store.load(SID)
        assert session is not None
        meanwhile = other.load(SID)
        assert meanwhile is not None
        other.save(meanwhile)
        with pytest.raises(StaleSession) as stale:
            store.save(session, unlock=True)

    assert (stale.value.expected, stale.value.found) == (1, 2)
    with other.lock(SID, wait=0):
        pass


@every_store
def test_an_unlocking_save_keeps_an_end_stored_meanwhile(
    make_store: MakeStore, clock: ManualClock
) -> None:
    store, other = make_store(), make_store()
    store.save(new_session())

    with store.lock(SID):
        session = store.load(SID)
        assert session is not None
        clock.advance(2)
        other.end(SID)
        session.state = "goodbye"
        store.save(session, unlock=True)

    saved = other.load(SID)
    assert saved is not None
    assert (saved.state, saved.version) == ("goodbye", 2)
    assert saved.ended_at == T0 + timedelta(seconds=2)
    with other.lock(SID, wait=0):
        pass
