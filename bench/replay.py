"""How many scripted calls per second replay in-process: the shipped suite, tests/calls/.

Each script runs as `ivr replay` runs it: a fresh demo database state (restored from a snapshot
before every call), a fixed clock, the simulator driving the app through WSGI with signatures
on, sessions in the configured store (``IVR_SESSION_STORE``, default sql: the SQLite file).
With ``--jobs N`` the scripts run as `ivr replay --jobs N` runs them: in N worker processes,
each with its own app and demo database, results back in order. Once built, the app's heap is
settled as ``ivr serve`` settles it (``settle_heap``; the workers do the same): over 8 rounds,
collecting garbage took 128 ms instead of 200 (two full collections, 47 ms together, instead
of one of 116 ms).

Prints, for the best round and for the first (cold) one, calls per second of wall time and
calls per second of CPU: this process's CPU plus, with --jobs, its workers' (read from
/proc/<pid>/stat, Linux), and with --jobs how much of it this process used (loading the
scripts, handing them out, printing the results). The CPU figure depends less than the wall
figure on what else the machine runs. Worker start-up (fork, each worker building its app) is
timed apart.

    python bench/replay.py [--quick] [--rounds N] [--store sql|memory|redis://...] [--jobs N]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.cli.server import settle_heap  # noqa: E402
from ivr.hotline.checks import wallet_checks  # noqa: E402
from ivr.settings import Settings  # noqa: E402
from ivr.testing.factories import LocalSimulators  # noqa: E402
from ivr.testing.factories import ParallelRunner  # noqa: E402
from ivr.testing.factories import job_count  # noqa: E402
from ivr.testing.factories import local_simulators  # noqa: E402
from ivr.testing.replay import ScriptRunner  # noqa: E402
from ivr.testing.replay import replay  # noqa: E402
from ivr.testing.scripts import EffectCheck  # noqa: E402
from ivr.testing.scripts import discover  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_now(pids: Sequence[int]) -> float:
    return time.process_time() + sum(process_cpu(pid) for pid in pids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one round (CI)")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--store", help="IVR_SESSION_STORE for the replayed app")
    parser.add_argument("--jobs", default="1", help="worker processes (0 or auto: one per CPU)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    jobs = job_count(args.jobs)
    scripts = discover([ROOT / "tests" / "calls"])
    overrides = {"TWILIO_AUTH_TOKEN": "bench-token", "IVR_LOG_LEVEL": "WARNING"}
    if args.store:
        overrides["IVR_SESSION_STORE"] = args.store
    settings = Settings.read(os.environ, overrides)
    simulators = local_simulators(settings, isolated=True)
    checks = wallet_checks(simulators.runtime.services.wallet, simulators.runtime.records)
    settle_heap()  # as `ivr serve` does: no collection walks the app again (its pauses)
    store = settings.session_store.split("/")[0].rstrip(":")
    how = f"{jobs} worker processes" if jobs > 1 else "in-process"
    print(f"call-script replay ({len(scripts)} scripts, {how}, {store} sessions, ", end="")
    print(f"best of {rounds})")
    if jobs == 1:
        timings = measure(scripts, simulators, checks, None, rounds, lambda: [])
    else:
        start, cpu = time.perf_counter(), time.process_time()
        with ParallelRunner(settings, jobs) as runner:
            runner.wait_ready()
            pids = runner.pids
            started = time.perf_counter() - start
            start_cpu = time.process_time() - cpu + sum(process_cpu(pid) for pid in pids)
            print(f"  workers up  {started:6.2f} s   CPU {start_cpu:.2f} s (fork, build the apps)")
            timings = measure(scripts, simulators, checks, runner, rounds, lambda: pids)
    for label, (wall, cpu, here) in timings.items():
        print(f"  {label:<11} {wall:6.2f} s   {len(scripts) / wall:6.1f} calls/s (wall)")
        print(f"  {'  CPU':<11} {cpu:6.2f} s   {len(scripts) / cpu:6.1f} calls per CPU second")
        if jobs > 1:
            print(f"  {'    parent':<11} {here:6.2f} s   (this process; the rest in the workers)")


def measure(
    scripts: Sequence[Path],
    simulators: LocalSimulators,
    checks: Mapping[str, EffectCheck],
    runner: ScriptRunner | None,
    rounds: int,
    pids: Callable[[], Sequence[int]],
) -> dict[str, tuple[float, float, float]]:
    """The best round's wall and CPU seconds (and of that CPU, this process's, in the round
    that used the least), and the first (cold) round's when there are more."""
    first: tuple[float, float, float] | None = None
    best = float("inf")
    best_cpu = (float("inf"), 0.0)
    for _ in range(rounds):
        out = io.StringIO()
        start, cpu, here = time.perf_counter(), cpu_now(pids()), time.process_time()
        code = replay(scripts, simulators, checks=checks, out=out, color=False, runner=runner)
        wall, used = time.perf_counter() - start, cpu_now(pids()) - cpu
        here = time.process_time() - here
        if code != 0:
            sys.exit(out.getvalue()[-2000:])
        first = first or (wall, used, here)
        best, best_cpu = min(best, wall), min(best_cpu, (used, here))
    assert first is not None
    timings = {"whole suite": (best, *best_cpu)}
    if rounds > 1:
        timings["first round"] = first
    return timings


if __name__ == "__main__":
    main()
