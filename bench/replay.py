"""How many scripted calls per second replay in-process: the shipped suite, tests/calls/.

Each script runs as `ivr replay` runs it: a fresh demo database state (restored from a snapshot
before every call), a fixed clock, the simulator driving the app through WSGI with signatures
on, sessions in the configured store (``IVR_SESSION_STORE``, default sql: the SQLite file).
Prints calls per second of wall time and per second of this process's CPU (the figure that
does not depend on what else the machine runs), as quoted in the README.

    python bench/replay.py [--quick] [--rounds N] [--store sql|memory|redis://...]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.hotline.checks import wallet_checks  # noqa: E402
from ivr.settings import Settings  # noqa: E402
from ivr.testing.factories import local_simulators  # noqa: E402
from ivr.testing.replay import replay  # noqa: E402
from ivr.testing.scripts import discover  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one round (CI)")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--store", help="IVR_SESSION_STORE for the replayed app")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    scripts = discover([ROOT / "tests" / "calls"])
    overrides = {"TWILIO_AUTH_TOKEN": "bench-token", "IVR_LOG_LEVEL": "WARNING"}
    if args.store:
        overrides["IVR_SESSION_STORE"] = args.store
    settings = Settings.read(os.environ, overrides)
    simulators = local_simulators(settings, isolated=True)
    checks = wallet_checks(simulators.runtime.services.wallet, simulators.runtime.records)
    best = best_cpu = float("inf")
    for _ in range(rounds):
        out = io.StringIO()
        start, cpu = time.perf_counter(), time.process_time()
        code = replay(scripts, simulators, checks=checks, out=out, color=False)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        if code != 0:
            sys.exit(out.getvalue()[-2000:])
    store = settings.session_store.split("/")[0].rstrip(":")
    print(f"call-script replay ({len(scripts)} scripts, in-process, {store} sessions, ", end="")
    print(f"best of {rounds})")
    print(f"  whole suite {best:6.2f} s   {len(scripts) / best:6.1f} calls/s (wall)")
    print(f"  CPU         {best_cpu:6.2f} s   {len(scripts) / best_cpu:6.1f} calls per CPU second")


if __name__ == "__main__":
    main()
