"""How many scripted calls per second replay in-process: the shipped suite, tests/calls/.

Each script runs as `ivr replay` runs it: a fresh demo database state (reset before every call),
a fixed clock, the simulator driving the app through WSGI with signatures on. Prints the figure
quoted in the README.

    python bench/replay.py [--quick] [--rounds N]
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
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    scripts = discover([ROOT / "tests" / "calls"])
    settings = Settings.read(os.environ, {"TWILIO_AUTH_TOKEN": "bench-token"})
    simulators = local_simulators(settings, isolated=True)
    checks = wallet_checks(simulators.runtime.services.wallet, simulators.runtime.records)
    best = float("inf")
    for _ in range(rounds):
        out = io.StringIO()
        start = time.perf_counter()
        code = replay(scripts, simulators, checks=checks, out=out, color=False)
        best = min(best, time.perf_counter() - start)
        if code != 0:
            sys.exit(out.getvalue()[-2000:])
    print(f"call-script replay ({len(scripts)} scripts, in-process, best of {rounds})")
    print(f"  whole suite {best:6.2f} s   {len(scripts) / best:6.1f} calls/s")


if __name__ == "__main__":
    main()
