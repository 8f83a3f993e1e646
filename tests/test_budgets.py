"""Time budgets reach each backend: SQLite's busy timeout, PostgreSQL's connect, statement and
lock timeouts (a search_path given in the URL kept), and which errors come from the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.db import make_engine
from ivr.stores.budgets import StoreBudget
from ivr.stores.budgets import is_database_error
from tests import services


def test_a_budgeted_sqlite_engine_waits_for_a_write_lock_only_as_long_as_its_budget(
    tmp_path: Path,
) -> None:
    engine = StoreBudget(0.25).limit(make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 250
    engine.dispose()


def test_an_unbudgeted_sqlite_engine_keeps_its_15_seconds(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from services.postgres_schema_url()


@pytest.mark.postgres
def test_a_budgeted_postgres_engine_times_out_statements_and_lock_waits_and_keeps_the_schema(
    postgres_url: str,
) -> None:
    engine = StoreBudget(1.5).limit(make_engine(postgres_url))
    with engine.connect() as conn:
        shown = [
            conn.exec_driver_sql(f"SHOW {name}").scalar()
            for name in ("statement_timeout", "lock_timeout")
        ]
        path = conn.exec_driver_sql("SHOW search_path").scalar()
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            conn.exec_driver_sql("SELECT pg_sleep(5)")
    assert shown == ["1500ms", "1500ms"]
    assert path is not None
    assert path.startswith("ivr_test_")
    engine.dispose()


def test_the_postgres_connect_timeout_is_whole_seconds_and_at_least_two() -> None:
    params: dict[str, object] = {}
    StoreBudget(0.5)._postgres_parameters(None, None, (), params)  # type: ignore[arg-type]
    assert params == {
        "connect_timeout": 2,
        "options": "-c statement_timeout=500 -c lock_timeout=500",
    }


def test_database_errors_are_told_from_others() -> None:
    from redis.exceptions import TimeoutError as RedisTimeout

    assert is_database_error(sa.exc.OperationalError("UPDATE", {}, Exception("locked")))
    assert is_database_error(sa.exc.TimeoutError("QueuePool limit reached"))
    assert not is_database_error(RedisTimeout("Timeout reading from socket"))
    assert not is_database_error(RuntimeError("a bug"))
