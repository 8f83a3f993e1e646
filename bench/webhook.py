"""CPU per webhook through the full stack, against a bare Flask endpoint in the same run.

Full stack: X-Twilio-Signature check, per-call lock, session load and save, one state-machine
step, TwiML render, call-record writes. The caller sits in the main menu and presses 9
(repeat): a real step with a real render every time. Bare: a Flask endpoint returning a
constant TwiML string. Both through the WSGI test client in this one process, so neither pays
for a network, and CPU is this process's (``time.process_time``): the app, the test client,
SQLite, and the Redis and PostgreSQL clients; not the Redis or PostgreSQL servers' own CPU.
Stores: SQL on a SQLite file, SQL on PostgreSQL and Redis (each when reachable), memory.
Prints the figures quoted in the README's Speed section.

    python bench/webhook.py [--quick] [--requests N] [--only sql|postgres|redis|memory]
                            [--profile FILE]    (cProfile of the full-stack requests)
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.web.app import create_app  # noqa: E402

TOKEN = "bench-token"
PIN_KEY = "bench-pin-key-" + "x" * 32
BASE = "http://localhost"
POSTGRES = os.environ.get(
    "IVR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = "redis://127.0.0.1:6379/14"
CONSTANT = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/step?n=1" '
    'numDigits="1"><Say>Hello</Say></Gather><Redirect>/voice/step?n=1</Redirect></Response>'
)


def measured(fn: Callable[[], None], n: int) -> tuple[list[float], float]:
    """Wall time of each of ``n`` calls, and this process's CPU seconds per call."""
    out = []
    cpu = time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out, (time.process_time() - cpu) / n


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A private schema on the local PostgreSQL, dropped afterwards."""
    schema = f"ivr_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def full_stack(
    database: str, store: str, n: int, profile: cProfile.Profile | None
) -> tuple[list[float], float]:
    """Per-request times of the hotline's main menu, repeated, and CPU per request."""
    app = create_app(
        {
            "IVR_DATABASE_URL": database,
            "IVR_SESSION_STORE": store,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_AGENT_TOKEN": TOKEN,
            "IVR_PIN_KEY": PIN_KEY,
            "IVR_LOG_LEVEL": "WARNING",
        },
        environ={},
    )
    client = app.test_client()
    validator = RequestValidator(TOKEN)

    def post(path: str, form: dict[str, str]) -> str:
        sig = validator.compute_signature(BASE + path, form)
        r = client.post(path, data=form, headers={"X-Twilio-Signature": sig})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.headers.get("X-IVR-State", "")

    sid = f"CAbench{uuid.uuid4().hex}"
    common = {"CallSid": sid, "From": "+8613800000001", "To": "+864001234567"}
    post("/voice", common)
    post("/voice/step?n=1", {**common, "Digits": "1"})
    assert post("/voice/step?n=2", {**common, "Digits": "123456"}) == "main_menu"
    step = [3]

    def one() -> None:
        state = post(f"/voice/step?n={step[0]}", {**common, "Digits": "9"})
        assert state == "main_menu"
        step[0] += 1

    measured(one, 50)
    if profile is not None:
        profile.enable()
    result = measured(one, n)
    if profile is not None:
        profile.disable()
    app.extensions["ivr"].database.dispose()
    return result


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests (CI)")
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--only", choices=["sql", "postgres", "redis", "memory"])
    parser.add_argument("--profile", help="write a cProfile of the full-stack requests here")
    args = parser.parse_args()
    n = args.requests or (200 if args.quick else 2000)

    bare_app = Flask("bare")

    @bare_app.post("/voice")
    def bare_voice():  # type: ignore[no-untyped-def]
        return bare_app.response_class(CONSTANT, mimetype="text/xml")

    bare_client = bare_app.test_client()
    form = {"CallSid": "CA1", "From": "+8613800000001"}

    def bare() -> None:
        assert bare_client.post("/voice", data=form).status_code == 200

    measured(bare, 50)
    bare_times, bare_cpu = measured(bare, n)
    bm = statistics.median(bare_times) * 1e6
    folder = tempfile.mkdtemp()
    sqlite = f"sqlite:///{folder}/bench.sqlite3"
    runs: list[tuple[str, str, str]] = [("sql", "SQLite, sql sessions", "sql")]
    if reachable(5432):
        runs.append(("postgres", "PostgreSQL, sql sessions", "sql"))
    if reachable(6379):
        runs.append(("redis", "SQLite, redis sessions", REDIS))
    runs.append(("memory", "SQLite, memory sessions", "memory"))
    profile = cProfile.Profile() if args.profile else None
    print(f"webhook benchmark ({n} requests each, signatures on, in-process WSGI)")
    print(f"  bare Flask endpoint              median {bm:6.0f} µs   CPU {bare_cpu * 1e6:6.0f} µs")
    for name, label, store in runs:
        if args.only and name != args.only:
            continue
        with contextlib.ExitStack() as stack:
            database = stack.enter_context(postgres_schema()) if name == "postgres" else sqlite
            times, cpu = full_stack(database, store, n, profile)
        fm = statistics.median(times) * 1e6
        print(
            f"  {label:32s} median {fm:6.0f} µs   CPU {cpu * 1e6:6.0f} µs"
            f"   {cpu / bare_cpu:5.1f}x bare CPU   {fm / bm:5.1f}x bare wall"
        )
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"  profile written to {args.profile}")


if __name__ == "__main__":
    main()
