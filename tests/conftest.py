"""Shared fixtures and helpers: one start time, one app factory, one signed ``post``, and the
databases (SQLite always, PostgreSQL where it runs) and Redis.

``make_app(**overrides)`` builds the real hotline app the way every test module should: on a
fresh SQLite file under the test's ``tmp_path`` (unless ``IVR_DATABASE_URL`` is given), with
the demo customers, the ``clock`` fixture's manual clock, signatures checked with
``AUTH_TOKEN`` and nothing read from the environment. Overrides are settings by their names
(``IVR_AUDIO=False``) or services by the app factory's keyword names (``store=...``).
``post`` signs a webhook as Twilio would. The demo callers' numbers come from
``ivr.wallet.demo``.
"""

from __future__ import annotations

import gc
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from ivr.clock import Clock
from ivr.clock import ManualClock
from ivr.db import Base
from ivr.db import make_engine
from ivr.settings import SETTINGS
from ivr.web.app import create_app
from ivr.web.runtime import Runtime
from tests import services

ROOT = Path(__file__).resolve().parent.parent

# A fixed instant every test starts from: 2026-11-23 10:00 in Shanghai, a Monday.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
AUTH_TOKEN = "test-auth-token"
PIN_KEY = "test-pin-key-" + "k" * 32  # IVR_PIN_KEY: a public server (AUTH_TOKEN) needs one
BASE_URL = "http://localhost"

# The app factory's keyword arguments: services a test may inject instead of settings.
SERVICES = frozenset({"clock", "wallet", "store", "recorder", "callbacks", "registry"})

MakeApp = Callable[..., Flask]


def hotline_app(folder: Path, clock: Clock, **overrides: Any) -> Flask:
    """The real hotline app on a SQLite file in ``folder``: what ``make_app`` builds, for
    fixtures wider than one test (which cannot use ``tmp_path``)."""
    injected = {name: overrides.pop(name) for name in SERVICES & overrides.keys()}
    settings = {
        "IVR_DATABASE_URL": f"sqlite:///{folder / 'ivr.sqlite3'}",
        "IVR_LOG_LEVEL": "WARNING",
        # The rule matcher: a test flow edited in a temporary folder would train a model of its
        # own. tests/test_understanding.py tests the trained one; the replay gate runs it.
        "IVR_MATCHER": "rules",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_PIN_KEY": PIN_KEY,
        **overrides,
    }
    return create_app(settings, **{"clock": clock, **injected}, environ={})


def free_port() -> int:
    """A local TCP port free at the time of asking, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    command: list[str], environ: dict[str, str], log: Path, url: str, *, within: float
) -> subprocess.Popen[bytes]:
    """Start ``command`` (a server), its output in ``log``, and wait until ``url``'s /health
    answers 200, for at most ``within`` seconds; else stop it and fail with its log."""
    with log.open("wb") as out:  # the child keeps its own copy
        process = subprocess.Popen(
            command, env=environ, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as reply:
                if reply.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise AssertionError(f"the server did not start: {log.read_text()}")


def stop(process: subprocess.Popen[bytes], wait: float = 20) -> None:
    """Terminate a server ``serve`` started; kill it if it has not ended within ``wait`` s."""
    process.terminate()
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def runtime_of(app: Flask) -> Runtime:
    """What the app factory wired together: engine, stores, services, flows."""
    runtime = app.extensions["ivr"]
    assert isinstance(runtime, Runtime)
    return runtime


def post(app: Flask, path: str, **form: str) -> TestResponse:
    """A webhook POST signed with ``AUTH_TOKEN`` for ``BASE_URL + path``, as Twilio sends it."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + path, form)
    return app.test_client().post(path, data=form, headers={"X-Twilio-Signature": signature})


def pytest_sessionfinish(session: pytest.Session) -> None:
    services.close()


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    """A command run in-process (``ivr replay``) settles the heap as a server does
    (``gc.freeze``): thaw it after the test, so that the test's app is garbage again."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def make_app(tmp_path: Path, clock: ManualClock) -> Iterator[MakeApp]:
    """Builds apps (see the module docstring); each gets its own folder, and every database
    connection is closed after the test."""
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        folder = tmp_path / f"app{len(built)}"
        folder.mkdir()
        app = hotline_app(folder, clock, **overrides)
        built.append(app)
        return app

    yield make
    for app in built:
        runtime_of(app).database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    else:
        yield from services.postgres_schema_url()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on ``database_url`` with every table of the schema (modules that need
    another schema, or data in it, define their own ``engine``)."""
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def redis_url() -> str:
    return services.redis_url()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str | None]:
    """The environment ``ivr`` gets in a CLI test: no setting of this machine's shell leaks in
    (every ``IVR_*``/``TWILIO_*`` setting and ``NO_COLOR`` unset), quiet logs, and a database
    of the test's own that lasts between commands (``tmp_path / "cli.sqlite3"``)."""
    env: dict[str, str | None] = dict.fromkeys([*SETTINGS, "NO_COLOR"])
    env["IVR_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env["IVR_LOG_LEVEL"] = "WARNING"
    env["IVR_MATCHER"] = "rules"  # as hotline_app: no test trains a model unless it asks to
    return env


@pytest.fixture
def runner(cli_env: dict[str, str | None]) -> CliRunner:
    """``ivr`` as a user runs it, with ``cli_env`` for its environment."""
    return CliRunner(env=cli_env)
