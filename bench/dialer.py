"""How fast dialers claim and place callbacks, alone and side by side, on SQLite and PostgreSQL.

``N`` callbacks (one queue with enough agents) are placed through a fake of Twilio's REST API
(``ivr.testing.twilio_api``, so no network time is counted) by 1..K dialer threads with no
pacing, each on its own engine. Prints, per backend and number of dialers, the calls placed,
how many callbacks were placed more than once (must be 0), the wall time and the claims per
second, and the median time of one claim-and-place. Pacing itself is not measured: it is
Twilio's rate (``IVR_DIAL_RATE``), tested exactly with a manual clock.

    python bench/dialer.py [--callbacks N] [--dialers K] [--postgres URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

import ivr.stores.schema  # noqa: E402, F401  (registers every table)
from ivr.clock import SystemClock  # noqa: E402
from ivr.db import Base  # noqa: E402
from ivr.db import make_engine  # noqa: E402
from ivr.engine.catalog import load_flows  # noqa: E402
from ivr.hotline.actions import hotline  # noqa: E402
from ivr.hotline.dialer import Dialer  # noqa: E402
from ivr.settings import Settings  # noqa: E402
from ivr.stores.callbacks import CallbackBook  # noqa: E402
from ivr.telephony.calls import TwilioPlacer  # noqa: E402
from ivr.telephony.numbers import Credentials  # noqa: E402
from ivr.testing.twilio_api import FakeCallsApi  # noqa: E402
from ivr.wallet import Wallet  # noqa: E402

SID = "AC" + "1" * 32
TOKEN = "bench"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def run(url: str, callbacks: int, dialers: int) -> str:
    flow = load_flows(Settings().flows_dir, hotline)["hotline"].flow
    general = flow.queues["general"]
    agents = dataclasses.replace(general.settings, agents=callbacks)  # no cap in the way
    queues = {**flow.queues, "general": dataclasses.replace(general, settings=agents)}
    flow = dataclasses.replace(flow, queues=queues)
    clock = SystemClock()
    setup = make_engine(url)
    Base.metadata.create_all(setup)
    book = CallbackBook(setup, clock)
    for n in range(callbacks):
        book.request(f"CA{n}", phone=f"+86139{n:08d}", account_id=None, issue=None, queue="general")
    apis = [FakeCallsApi(SID, TOKEN, first_call=0x100000 * (i + 1)) for i in range(dialers)]
    start = threading.Barrier(dialers + 1)
    durations: list[float] = []

    def work(i: int) -> None:
        engine = make_engine(url)
        dialer = Dialer(
            book=CallbackBook(engine, clock),
            wallet=Wallet(engine, clock),
            flow=flow,
            placer=TwilioPlacer(Credentials(SID, TOKEN), http_client=apis[i]),
            clock=clock,
            base_url="https://ivr.example.com",
            from_number="+864001234567",
            name=f"bench-{i}",
            rate=1e6,
            sleep=lambda _: None,
        )
        start.wait()
        while True:
            began = time.perf_counter()
            if not _one(dialer):
                break
            durations.append(time.perf_counter() - began)
        engine.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(dialers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    dialled = Counter(r.to for api in apis for r in api.requests)
    twice = sum(1 for count in dialled.values() if count > 1)
    setup.dispose()
    return (
        f"{dialers} dialer(s): {sum(dialled.values())}/{callbacks} placed, {twice} twice, "
        f"{wall:.2f} s, {callbacks / wall:.0f} calls/s, "
        f"median {1000 * statistics.median(durations):.1f} ms per claim and call"
    )


def _one(dialer: Dialer) -> bool:
    """One claim and one call (``run_once`` would loop until none is due)."""
    # Every callback is due (the bench must not depend on the hour it runs at).
    claims = dialer.book.claim(dialer.name, lease=dialer.lease, due=lambda r: True, cap=dialer.cap)
    if not claims:
        return False
    dialer._place(claims[0])  # noqa: SLF001  (the bench times one placement)
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--callbacks", type=int, default=300)
    parser.add_argument("--dialers", type=int, default=4)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--quick", action="store_true", help="60 callbacks, 2 dialers (CI)")
    args = parser.parse_args()
    if args.quick:
        args.callbacks, args.dialers = 60, 2
    print(f"{args.callbacks} callbacks, at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with TemporaryDirectory() as folder:
        print("SQLite: " + run(f"sqlite:///{folder}/bench.sqlite3", args.callbacks, 1))
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{args.postgres}?options=-csearch_path%3D{schema}"
        for dialers in sorted({1, 2, args.dialers}):
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            print("PostgreSQL: " + run(url, args.callbacks, dialers))
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
