"""How fast ``ivr report`` reads a million call events: ``ivr.stores.reports`` on SQLite and
PostgreSQL, with the indexes of migration 0007 and without them.

Writes a synthetic month of records straight into the tables (not through the app: a million
events by webhook would take hours): ``--calls`` calls (default 60,000, about 16 events each),
callers from a pool so that some call again, a third queued for an agent, some hanging up
mid-menu, some speaking, most answering the survey. Then times ``report`` (every figure, all
calls and per issue, language and flow version) for the whole month and for one day, and
the day again after dropping 0007's two indexes. Prints the figures quoted in the README.

    python bench/report.py [--calls N] [--quick] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.db import Base  # noqa: E402
from ivr.db import make_engine  # noqa: E402
from ivr.stores import schema  # noqa: E402, F401  (registers every table)
from ivr.stores.records import AgentHandoffRow  # noqa: E402
from ivr.stores.records import CallEventRow  # noqa: E402
from ivr.stores.records import CallRecordRow  # noqa: E402
from ivr.stores.reports import Filters  # noqa: E402
from ivr.stores.reports import report  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ISSUES = {"1": "frozen", "2": "payment_failed", "3": "topup", "4": "refund", "7": "login"}
INDEXES = ("ix_call_records_caller_started", "ix_call_events_report")


def calls(n: int, seed: int = 12) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], Any]]:
    """``n`` synthetic calls over 30 days: (record, events, handoff or None)."""
    rng = random.Random(seed)
    for i in range(n):
        sid = f"CA{i:032x}"
        at = START + timedelta(days=rng.randrange(30), seconds=rng.random() * 12 * 3600)
        lang = "zh-CN" if rng.random() < 0.8 else "en-US"
        events: list[tuple[str, str, str]] = [
            ("welcome", "enter", ""), ("welcome", "input", "key_1 1"),
            ("identify", "enter", ""), ("ask_pin", "enter", ""),
            ("ask_pin", "input", "entered ******"), ("check_pin", "enter", ""),
            ("welcome_back", "enter", ""), ("main_menu", "enter", ""),
        ]  # fmt: skip
        if rng.random() < 0.1:
            events.append(("main_menu", "input", "no_match 9"))
        key = rng.choice([*ISSUES, "0"])
        spoken = rng.random() < 0.15
        detail = f"key_{key} (speech)" if spoken else f"key_{key} {key}"
        if key == "0":
            detail = "agent_key (speech)" if spoken else "agent_key 0"
        events.append(("main_menu", "input", detail))
        issue = ISSUES.get(key)
        fate = rng.random()
        handoff = None
        if fate < 0.06:
            events = events[: rng.randrange(1, len(events))]  # hung up mid-menu
            outcome, issue = "abandoned", None
        elif key == "0" or fate < 0.4:
            events += [(issue or "agent", "enter", ""), ("agent", "enter", "")]
            outcome = "agent"
            waited = rng.expovariate(1 / 40)
            answered = rng.random() < 0.9
            handoff = {
                "call_sid": sid, "queue": "general", "priority": 0,
                "enqueued_at": at + timedelta(seconds=40),
                "account_id": None, "caller_name": None, "verified": True, "issue": issue,
                "steps_tried": [], "reason": None,
                "status": "bridged" if answered else "abandoned",
                "answered_at": at + timedelta(seconds=40 + waited) if answered else None,
                "left_at": at + timedelta(seconds=400),
            }  # fmt: skip
        else:
            events += [(issue or "main_menu", "enter", ""), ("solved", "enter", ""),
                       ("solved", "input", "key_1 1")]  # fmt: skip
            outcome = "self_served"
        if outcome != "abandoned" and rng.random() < 0.7:
            score = rng.choice("12345")
            events += [
                ("survey", "enter", ""), ("survey", "input", f"key_{score} {score}"),
                ("survey", "note", f"satisfaction {score}/5"), ("goodbye", "enter", ""),
            ]  # fmt: skip
        record = {
            "call_sid": sid, "flow": "hotline", "caller": f"+86139{rng.randrange(20_000):08d}",
            "account_id": None, "lang": lang, "started_at": at,
            "ended_at": at + timedelta(seconds=300), "outcome": outcome, "reason": None,
            "queue": None, "duration_s": 300, "flow_version": rng.choice(["a1b2c3", "d4e5f6"]),
            "issue": issue,
        }  # fmt: skip
        rows = [
            {"call_sid": sid, "seq": seq, "at": at + timedelta(seconds=5 * seq), "state": s,
             "kind": k, "detail": d}
            for seq, (s, k, d) in enumerate(events)
        ]  # fmt: skip
        yield record, rows, handoff


def fill(engine: sa.Engine, n: int) -> int:
    """Write ``n`` calls in batches; the number of events written."""
    Base.metadata.create_all(engine)
    records: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    handoffs: list[dict[str, Any]] = []
    total = 0

    def flush() -> None:
        if not records:
            return
        with engine.begin() as conn:
            conn.execute(sa.insert(CallRecordRow), records)
            conn.execute(sa.insert(CallEventRow), events)
            if handoffs:
                conn.execute(sa.insert(AgentHandoffRow), handoffs)
        records.clear()
        events.clear()
        handoffs.clear()

    for record, rows, handoff in calls(n):
        records.append(record)
        events.extend(rows)
        total += len(rows)
        if handoff is not None:
            handoffs.append(handoff)
        if len(records) >= 2000:
            flush()
    flush()
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))  # both backends: plan with the table's statistics
    return total


def timed(engine: sa.Engine, filters: Filters, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        report(engine, filters, ZONE)
        best = min(best, time.perf_counter() - start)
    return best


def measure(name: str, engine: sa.Engine, n: int, rounds: int) -> None:
    start = time.perf_counter()
    events = fill(engine, n)
    print(f"{name}: {n:,} calls, {events:,} events written in {time.perf_counter() - start:.0f} s")
    month = Filters()
    day = Filters(START, START + timedelta(days=1))
    found = report(engine, month, ZONE).as_json()
    print(f"  {found['calls']:,} calls: containment {found['containment']:.1%}, "
          f"{len(found['states'])} states")  # fmt: skip
    with_month, with_day = timed(engine, month, rounds), timed(engine, day, rounds)
    print(f"  with 0007's indexes: the month {with_month:6.2f} s, one day {with_day:6.2f} s")
    with engine.begin() as conn:
        for index in INDEXES:
            conn.execute(sa.text(f"DROP INDEX {index}"))
    # One day only: without the caller index, containment scans every call for each
    # self-served call, and the month would take hours.
    without_day = timed(engine, day, 1)
    print(f"  without them:                              one day {without_day:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=0, help="calls to write (default 60,000)")
    parser.add_argument("--quick", action="store_true", help="6,000 calls, one round (CI)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    n = args.calls or (6_000 if args.quick else 60_000)
    rounds = 1 if args.quick else 3
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
            measure("SQLite", engine, n, rounds)
            engine.dispose()
    if args.backend in ("postgres", "both"):
        admin = sa.create_engine(POSTGRES_URL)
        schema_name = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema_name}"'))
        try:
            engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema_name}")
            measure("PostgreSQL", engine, n, rounds)
            engine.dispose()
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema_name}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
