"""``ivr serve --workers N``: gunicorn, what it refuses, the schema made once, no connection
shared across a fork, and calls whose webhooks land on different workers (Redis + PostgreSQL).

The tests that start servers are marked ``slow``; the rest check the refusals and the
options in this process.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from ivr.cli import main as cli_main
from ivr.cli.main import main
from ivr.cli.workers import file_system_of
from ivr.cli.workers import gunicorn_application
from ivr.cli.workers import gunicorn_missing
from ivr.cli.workers import gunicorn_options
from ivr.cli.workers import refuse_workers
from ivr.db import make_engine
from ivr.errors import CliError
from ivr.errors import ConfigError
from ivr.media.recordings import AudioLibrary
from ivr.settings import Settings
from ivr.stores import migrate
from ivr.testing.factories import remote_simulators
from ivr.testing.scripts import load_script
from ivr.testing.scripts import run_script
from tests import services
from tests.conftest import free_port
from tests.conftest import serve
from tests.conftest import stop

ROOT = Path(__file__).resolve().parent.parent
CLOCK = "2026-11-23T10:00:00+08:00"
# Scripts that leave the demo data as they found it (a server's data is not reset per call)
# and need no clock moved: each runs once against a fresh database.
SCRIPTS = [
    "tests/calls/en_limits_and_fees_zhang_wei.yaml",
    "tests/calls/en_complaint_status_wang_fang.yaml",
    "tests/calls/en_frozen_by_risk_liu_yang.yaml",
    "tests/calls/en_forgot_pin_to_agent.yaml",
]
# Rounds of SCRIPTS at most, until a call's webhooks land on both workers.
CROSSING_ROUNDS = 5
MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /srv/shared nfs4 rw 0 0
tmpfs /srv/shared/tmp tmpfs rw 0 0
host:/x /mnt/my\\040box fuse.sshfs rw 0 0
"""


# --- refusals -------------------------------------------------------------------------------


def test_two_workers_with_the_memory_store_are_refused_with_what_to_use(
    runner: CliRunner,
) -> None:
    result = runner.invoke(main, ["serve", "--workers", "2"], env={"IVR_SESSION_STORE": "memory"})

    assert result.exit_code == 2
    assert "--workers 2 with IVR_SESSION_STORE=memory" in result.output
    assert "set IVR_SESSION_STORE to a redis:// URL (or sql)" in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--preload"], "--preload is for --workers above 1"),
        (["--access-log", "-"], "--access-log is for --workers above 1"),
        (["--workers", "2", "--demo-control"], "--demo-control works with one process only"),
        (["--workers", "2", "--reload"], "--reload works with one process only"),
    ],
)
def test_options_that_need_one_or_many_processes_are_refused_otherwise(
    runner: CliRunner, args: list[str], said: str
) -> None:
    result = runner.invoke(main, ["serve", *args])

    assert result.exit_code == 2
    assert said in result.output


def test_one_worker_needs_no_check() -> None:
    assert refuse_workers(Settings(session_store="memory"), "sqlite://", 1) is None


def test_windows_is_told_to_run_one_waitress_per_port() -> None:
    with pytest.raises(CliError, match="does not run on Windows") as caught:
        refuse_workers(Settings(), "sqlite:///x.db", 2, platform="win32")

    assert "one `ivr serve` per port" in caught.value.next_step


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused_with_workers(url: str) -> None:
    with pytest.raises(CliError, match="in-memory SQLite database"):
        refuse_workers(Settings(), url, 2)


def test_a_sqlite_file_on_a_network_file_system_is_refused() -> None:
    with pytest.raises(CliError, match=r"network file system \(nfs4\)") as caught:
        refuse_workers(Settings(), "sqlite:////srv/shared/ivr.db", 3, mounts=lambda: MOUNTS)

    assert "use PostgreSQL" in caught.value.next_step


def test_a_sqlite_file_on_a_local_disk_serves_one_host_only() -> None:
    note = refuse_workers(Settings(), "sqlite:////srv/shared/tmp/ivr.db", 2, mounts=lambda: MOUNTS)

    assert note == (
        "     SQLite (/srv/shared/tmp/ivr.db) serves the 2 workers of this host only; for "
        "several hosts use PostgreSQL"
    )


def test_postgresql_needs_no_note() -> None:
    assert refuse_workers(Settings(), "postgresql+psycopg://db/ivr", 4) is None


@pytest.mark.parametrize(
    ("path", "fs"),
    [
        ("/srv/shared/ivr.db", "nfs4"),
        ("/srv/shared/tmp/ivr.db", "tmpfs"),
        ("/srv/sharedother/ivr.db", "ext4"),
        ("/mnt/my box/ivr.db", "fuse.sshfs"),
    ],
)
def test_the_file_system_is_the_longest_mount_point_holding_the_file(path: str, fs: str) -> None:
    assert file_system_of(Path(path), MOUNTS + "broken line\n") == fs


def test_no_mount_table_says_nothing() -> None:
    assert file_system_of(Path("/x/ivr.db"), "") is None


def test_gunicorn_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gunicorn_missing() is None
    monkeypatch.setitem(sys.modules, "gunicorn", None)  # an import of it fails

    error = gunicorn_missing()

    assert error is not None
    assert error.next_step.startswith("pip install 'ivr[server]'")


# --- what gunicorn is told ------------------------------------------------------------------


def test_gunicorn_gets_the_workers_threads_and_no_proxy_trust_of_its_own() -> None:
    options = gunicorn_options(
        Settings(), host="::1", port=8000, workers=3, threads=4, preload=True, access_log="-"
    )
    app = Flask("x")

    server = gunicorn_application(options, lambda: app)

    assert server.cfg.bind == ["[::1]:8000"]
    assert server.cfg.workers == 3
    assert server.cfg.threads == 4
    assert server.cfg.worker_class_str == "gthread"
    assert server.cfg.preload_app is True
    assert server.cfg.secure_scheme_headers == {}
    assert server.cfg.forwarded_allow_ips == []
    assert server.cfg.accesslog == "-"
    assert server.load() is app


def test_serve_with_workers_builds_the_app_in_the_master_then_hands_gunicorn_a_builder(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[tuple[dict[str, object], Flask, Flask]] = []
    settled: list[int] = []

    def serve(options: dict[str, object], build: object) -> None:
        assert callable(build)
        served.append((options, build(), build()))

    monkeypatch.setattr(cli_main, "serve_workers", serve)  # gunicorn would not return
    # gc.freeze in this test process would keep every later test's garbage: count the calls
    monkeypatch.setattr(cli_main, "settle_heap", lambda: settled.append(len(served)))
    port = free_port()

    result = runner.invoke(main, ["serve", "--workers", "2", "--port", str(port)])

    assert result.exit_code == 0, result.output
    assert f"on http://127.0.0.1:{port} with 2 workers (gunicorn)" in result.output
    assert "serves the 2 workers of this host only" in result.output
    ((options, first, second),) = served
    assert options["workers"] == 2
    assert options["preload_app"] is False
    assert first is not second  # without --preload, each worker builds its own app
    assert settled == [0, 0]  # each worker settles its heap once its app is built
    for app in (first, second):
        app.extensions["ivr"].database.dispose()


def test_serve_with_preload_hands_every_worker_the_masters_app(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[tuple[Flask, Flask]] = []
    settled: list[str] = []
    monkeypatch.setattr(
        cli_main, "serve_workers", lambda options, build: served.append((build(), build()))
    )
    monkeypatch.setattr(cli_main, "settle_heap", lambda: settled.append("settled"))

    result = runner.invoke(
        main, ["serve", "--workers", "2", "--preload", "--port", str(free_port())]
    )

    assert result.exit_code == 0, result.output
    ((first, second),) = served
    assert first is second
    assert settled == ["settled", "settled"]
    first.extensions["ivr"].database.dispose()


# --- PostgreSQL: one schema change at a time, no connection across a fork -------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from services.postgres_schema_url()


@pytest.mark.postgres
def test_processes_starting_together_on_an_empty_database_create_the_schema_once(
    postgres_url: str,
) -> None:
    engines = [make_engine(postgres_url) for _ in range(3)]
    problems: list[BaseException] = []
    go = threading.Barrier(len(engines))

    def start(engine: sa.Engine) -> None:
        go.wait()
        try:
            migrate.prepare(engine, upgrade_if_behind=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert problems == []
        assert migrate.current(engines[0]) == migrate.head()
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.postgres
def test_a_schema_change_held_too_long_by_another_process_stops_start_up(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "MIGRATION_LOCK_WAIT", 0.2)
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": migrate.MIGRATION_LOCK})
            with pytest.raises(ConfigError, match="holds ivr's migration lock"):
                migrate.prepare(engine, upgrade_if_behind=False)
            other.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": migrate.MIGRATION_LOCK})
            other.commit()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_forked_process_opens_its_own_connection_instead_of_sharing_the_parents(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url)
    backend = sa.text("SELECT pg_backend_pid()")
    try:
        with engine.connect() as conn:
            parent = conn.execute(backend).scalar_one()  # now pooled: the fork inherits it
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child's coverage is not collected
            try:
                with engine.connect() as conn:
                    os.write(write, str(conn.execute(backend).scalar_one()).encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        told = os.read(read, 64).decode()
        os.close(read)
        with engine.connect() as conn:
            again = conn.execute(backend).scalar_one()
    finally:
        engine.dispose()

    assert told.isdigit()
    assert int(told) != parent
    assert again == parent  # the parent's connection survived the child


# --- live servers (slow) --------------------------------------------------------------------


def _environ(database: str, redis: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(
        IVR_DATABASE_URL=database,
        IVR_SESSION_STORE=redis,
        IVR_CLOCK=CLOCK,
        IVR_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return environ


def _serve(
    tmp_path: Path, database: str, redis: str, *extra: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    access = tmp_path / "access.log"
    command = [sys.executable, "-m", "ivr.cli.main", "serve", "--port", str(port)]
    command += ["--workers", "2", "--access-log", str(access), *extra]
    return (
        serve(command, _environ(database, redis), tmp_path / "server.log", url, within=60),
        url,
        access,
    )


def _drive(url: str) -> list[str]:
    """Run ``SCRIPTS`` against ``url``, one call after another; what failed."""
    library = AudioLibrary.open(ROOT / "audio_prompts")
    make = remote_simulators(url, auth_token=None, play_text=library.play_text)
    failed = []
    for path in SCRIPTS:
        # Lasting effects are checked in-process only (replay --url says so too).
        script = dataclasses.replace(load_script(ROOT / path), effects=())
        result = run_script(script, make())
        if not result.passed:
            assert result.failure is not None
            failed.append(f"{path}: {result.failure.message}")
    return failed


def _workers_per_call(access: Path) -> list[set[str]]:
    """The worker pids that served each call's webhooks, from the access log (calls were
    placed one after another, each starting with ``POST /voice``)."""
    calls: list[set[str]] = []
    for line in access.read_text().splitlines():
        pid, request = re.match(r'pid=<(\d+)> "(\S+ \S+)', line).groups()  # type: ignore[union-attr]
        if request == "POST /voice":
            calls.append(set())
        if calls:
            calls[-1].add(pid)
    return calls


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("sessions", ["redis", "sql"])
def test_calls_whose_webhooks_land_on_different_workers_go_on_as_scripted(
    tmp_path: Path, postgres_url: str, redis_url: str, sessions: str
) -> None:
    store = redis_url if sessions == "redis" else "sql"  # sql: the sessions in PostgreSQL too
    process, url, access = _serve(tmp_path, postgres_url, store)
    failed: list[str] = []
    rounds = 0
    try:
        # The kernel picks the worker that accepts each connection: a round may keep every
        # call on one worker, so the scripts (which leave the demo data as they found it) run
        # again, up to CROSSING_ROUNDS times, until some call's webhooks have met both.
        while rounds < CROSSING_ROUNDS:
            rounds += 1
            failed += _drive(url)
            if any(len(pids) == 2 for pids in _workers_per_call(access)):
                break
    finally:
        stop(process)

    assert failed == []
    calls = _workers_per_call(access)
    assert len(calls) == len(SCRIPTS) * rounds
    assert any(len(pids) == 2 for pids in calls), calls


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_preloaded_workers_each_open_their_own_database_connections(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    process, url, _ = _serve(tmp_path, postgres_url, redis_url, "--preload")
    try:
        failed = _drive(url)
    finally:
        stop(process)

    assert failed == []


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_two_gunicorn_workers_cold_start_on_an_empty_schema_without_a_master_build(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    # gunicorn run directly: both workers build the app, and so the schema, at once.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    command += ["--no-control-socket", "ivr.web.app:create_app()"]
    process = serve(
        command, _environ(postgres_url, redis_url), tmp_path / "server.log", url, within=60
    )
    try:
        time.sleep(1)  # both workers have booted (or died) by now
        failed = _drive(url)
    finally:
        stop(process)
    log = (tmp_path / "server.log").read_text()

    assert failed == []
    assert "Worker failed to boot" not in log
    assert "Traceback" not in log


def test_a_settled_heap_is_frozen_so_full_collections_no_longer_walk_the_app() -> None:
    # In a child process: freezing this test process would keep every later test's garbage.
    code = (
        "import gc\n"
        "from ivr.cli.server import settle_heap\n"
        "app = [[i] for i in range(100_000)]  # long-lived objects, as an app's\n"
        "before = gc.get_freeze_count()\n"
        "settle_heap()\n"
        "print(before, gc.get_freeze_count() > 100_000, len(gc.get_objects(2)) < 1_000)\n"
    )
    environ = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ)
    assert done.stdout.split() == ["0", "True", "True"], done.stderr
