"""Start-up refuses stores that do not answer, saying which and what to do; ``/health``
checks the database and the session store for real, each within the store budget."""

from __future__ import annotations

import socket
import sqlite3
import time

import pytest
from flask import Flask

from ivr.errors import ConfigError
from ivr.stores.sessions import MemorySessionStore
from tests.conftest import MakeApp
from tests.conftest import runtime_of


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return port


class SwitchableStore(MemorySessionStore):
    """A memory store whose check fails once ``down`` is set."""

    down: Exception | None = None

    def check(self) -> None:
        if self.down is not None:
            raise self.down


def test_health_checks_the_database_and_the_session_store(make_app: MakeApp) -> None:
    body = make_app().test_client().get("/health").get_json()

    assert body["status"] == "ok"
    assert "hotline" in body["flows"]
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "sessions": "ok",
    }
    assert all(isinstance(check["ms"], int) for check in body["checks"].values())


def test_health_is_503_and_names_the_session_store_when_it_stops_answering(
    make_app: MakeApp, clock: object
) -> None:
    from redis.exceptions import ConnectionError as RedisDown

    store = SwitchableStore(clock)  # type: ignore[arg-type]
    app: Flask = make_app(store=store)
    store.down = RedisDown("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    response = app.test_client().get("/health")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing: sessions"
    assert body["checks"]["sessions"]["status"] == (
        "ConnectionError: Error 111 connecting to 127.0.0.1:6390. Connection refused."
    )
    assert body["checks"]["database"]["status"] == "ok"


def test_health_is_503_and_names_the_database_when_it_is_gone(make_app: MakeApp) -> None:
    app = make_app(IVR_SESSION_STORE="memory")
    database = runtime_of(app).database
    database.dispose()

    def unreachable(*_: object) -> object:
        raise sqlite3.OperationalError("unable to open database file")

    database.pool._creator = unreachable  # type: ignore[attr-defined]  # every connect fails

    response = app.test_client().get("/health")

    assert response.status_code == 503
    assert response.get_json()["status"] == "failing: database"


def test_start_up_refuses_a_redis_session_store_that_does_not_answer(
    make_app: MakeApp, closed_port: int
) -> None:
    url = f"redis://127.0.0.1:{closed_port}/0"
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        make_app(IVR_SESSION_STORE=url, IVR_STORE_TIMEOUT="0.5")

    assert time.monotonic() - started < 5  # the budget, with a generous margin
    message = str(refused.value)
    assert message.startswith(f"the session store {url} does not answer (ConnectionError: ")
    assert message.endswith(
        "; start it, or set IVR_SESSION_STORE to one that runs (sql keeps sessions in the database)"
    )


def test_start_up_refuses_a_database_that_does_not_answer(
    make_app: MakeApp, closed_port: int
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/test"
    with pytest.raises(ConfigError) as refused:
        make_app(IVR_DATABASE_URL=url)

    message = str(refused.value)
    assert message.startswith(f"the database at {url} does not answer (")
    assert message.endswith("); start it, or point IVR_DATABASE_URL at one that runs")
