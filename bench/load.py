"""Whole calls over HTTP: `ivr serve --workers 2` (Redis sessions, PostgreSQL) against a bare
TwiML endpoint served the same way (gunicorn, 2 workers, gthread), in one run on one machine.
The cost phase also runs against a third server, the same IVR with its sessions in PostgreSQL
too (the SQL session store), each IVR server on demo data in a schema of its own. Every phase
also runs against the floor (``bench/floor.py``): a webhook that does only what every IVR
webhook must do with the required parts (form, signature, two Redis round trips, one
python-statemachine event, one PostgreSQL INSERT, twiml's builder), served the same way; the
cost phase runs it a second time with its sessions in PostgreSQL (two statements), as the SQL
store's floor. With ``--quick`` (CI) the floor runs the cost phase only.

Each target gets the same load from `ivr load` (a separate process, never counted):

- **cost**: calls at a steady rate with no think time; the server's CPU per request is read
  from /proc for the server's process group (gunicorn's master and workers) before and after;
- **throughput**: 16 calls in progress at all times (twice the server's 2 x 4 threads), no think
  time: the requests per second answered at saturation;
- **callers**: N concurrent callers pausing 2-6 s before each key (arrivals at N / the mean
  call length): p50/p95/p99 per request. With ``--quick``, 20 callers pausing 0.5-1.5 s, so
  that the phase takes seconds, not a minute (``--think`` sets the pause).

The IVR runs the shipped call scripts that leave the demo data as they found it, signed
(TWILIO_AUTH_TOKEN set); the bare endpoint answers every request with one constant <Gather>,
and its callers press as many keys per call as the IVR's scripts do on average. Prints the
figures, the ratios and the commands; `--json FILE` writes them.

Every target gets the same client (one `ivr load` process, Locust), the same concurrency and
the same think time, so the ratios compare like with like. Each phase also reports the load
generator's own CPU while it ran (`load_cpu_s`) and the share of one core that is
(`load_cpu_share`): near 1, Locust was the bottleneck (typically the bare endpoint's
throughput phase on a small machine), and that target's requests per second are the client's
limit, not the server's.

    python bench/load.py [--quick] [--callers N] [--think MIN-MAX] [--seconds S] [--json FILE]
                         [--scripts PATH...] [--phases cost throughput callers]

Needs PostgreSQL and Redis (IVR_TEST_POSTGRES_URL / IVR_TEST_REDIS_URL, default the local
ones) and gunicorn + Locust (`pip install 'ivr[server,load]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES = os.environ.get(
    "IVR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("IVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TOKEN = "bench-token"
CLOCK = "2026-11-23T10:00:00+08:00"
SCRIPTS = [
    "tests/calls/en_limits_and_fees_zhang_wei.yaml",
    "tests/calls/en_complaint_status_wang_fang.yaml",
    "tests/calls/en_frozen_by_risk_liu_yang.yaml",
    "tests/calls/en_forgot_pin_to_agent.yaml",
]
CONSTANT = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/step" '
    'numDigits="1"><Say>Hello</Say></Gather><Redirect>/voice/step</Redirect></Response>'
)
TICK = os.sysconf("SC_CLK_TCK")


def bare_app() -> Any:
    """The bare endpoint: a constant TwiML document for every POST."""
    from flask import Flask
    from flask import Response

    app = Flask("bare")

    @app.post("/voice")
    @app.post("/voice/<path:rest>")
    def constant(rest: str = "") -> Response:
        return Response(CONSTANT, mimetype="text/xml")

    @app.get("/health")
    def health() -> Response:
        return Response('{"status": "ok"}', mimetype="application/json")

    return app


def serve_bare(port: int, build: Any = None) -> None:
    """gunicorn with the options `ivr serve --workers 2` uses, the bare app (or ``build()``)
    in each worker."""
    from ivr.cli.server import THREADS
    from ivr.cli.workers import gunicorn_options
    from ivr.cli.workers import serve_workers
    from ivr.settings import Settings

    options = gunicorn_options(
        Settings(log_level="WARNING"),
        host="127.0.0.1",
        port=port,
        workers=2,
        threads=THREADS,
        preload=False,
    )
    serve_workers(options, build or bare_app)


def serve_floor(port: int) -> None:
    """The floor (``bench/floor.py``) served as the bare endpoint is, its stores from the
    environment ``bench/load.py`` gives it (no Redis URL: sessions in PostgreSQL)."""
    from floor import floor_app

    env = os.environ
    serve_bare(
        port,
        lambda: floor_app(env.get("FLOOR_REDIS_URL"), env["FLOOR_DATABASE_URL"], TOKEN),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A server in a process group of its own (its pgid is its pid); ``ready`` waits for it."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Once the server ``process`` answers /health at ``url``; else stop it and exit with its
    log."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                time.sleep(1)  # the other worker boots too
                return
        except OSError:
            time.sleep(0.2)
    stop(process)
    sys.exit(f"bench/load.py: the server did not start:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the living processes of group ``pgid``."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def run_load(
    url: str, scripts: list[str], env: dict[str, str], out: Path, **options: Any
) -> tuple[dict[str, Any], str]:
    """`ivr load` against ``url``; its figures and the command line."""
    command = [sys.executable, "-m", "ivr.cli.main", "load", url, *scripts]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    command += ["--json", str(out)]
    before = children_cpu()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench/load.py: ivr load failed:\n{done.stdout}\n{done.stderr}")
    shown = "ivr load " + " ".join(shlex.quote(c) for c in command[4:-2])
    report = json.loads(out.read_text())
    report["load_process_cpu_s"] = children_cpu() - before
    return report, shown


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: the load generator,
    its start-up included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(
    pgid: int, url: str, scripts: list[str], env: dict[str, str], out: Path, **options: Any
) -> dict[str, Any]:
    before = group_cpu(pgid)
    report, command = run_load(url, scripts, env, out, **options)
    cpu = group_cpu(pgid) - before
    requests = report["total"]["requests"]
    return {
        "command": command,
        "requests": requests,
        "server_cpu_s": round(cpu, 3),
        "cpu_ms_per_request": round(cpu * 1000 / requests, 3) if requests else None,
        # The load generator's own CPU while it ran (not the server's), and the share of one
        # core it kept busy: near 1, Locust (one process) was the bottleneck, and the
        # throughput measured is the client's, not the server's. With its start-up (imports).
        "load_cpu_s": report["load_cpu_s"],
        "load_cpu_share": round(report["load_cpu_s"] / report["seconds"], 2)
        if report["seconds"]
        else None,
        "load_process_cpu_s": round(report["load_process_cpu_s"], 3),
        "rps": report["total"]["rps"],
        "p50_ms": report["total"]["p50_ms"],
        "p95_ms": report["total"]["p95_ms"],
        "p99_ms": report["total"]["p99_ms"],
        "errors": report["total"]["errors"],
        "apologies": report["total"]["apologies"],
        "calls": {k: report["calls"][k] for k in ("placed", "passed", "failed", "cut")},
        "failures": report["calls"]["failures"],
    }


def actions_per_call(scripts: list[str]) -> int:
    from ivr.testing.scripts import Expect
    from ivr.testing.scripts import ExpectState
    from ivr.testing.scripts import load_script

    counts = [
        sum(not isinstance(s, Expect | ExpectState) for s in load_script(ROOT / p).steps)
        for p in scripts
    ]
    return round(sum(counts) / len(counts))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase (CI)")
    parser.add_argument("--callers", type=int, help="concurrent callers (default 500; 20 quick)")
    parser.add_argument(
        "--think", help="the callers' pause before each key, MIN-MAX s (default 2-6; 0.5-1.5 quick)"
    )
    parser.add_argument("--seconds", type=float, help="seconds of arrivals per phase")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--scripts", nargs="+", default=SCRIPTS, help="the IVR's call scripts (default: 4)"
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=["cost", "throughput", "callers"],
        default=["cost", "throughput", "callers"],
    )
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return
    seconds = args.seconds or (4.0 if args.quick else 60.0)
    callers = args.callers or (20 if args.quick else 500)
    think = args.think or ("0.5-1.5" if args.quick else "2-6")
    try:
        low, high = (float(part) for part in think.split("-"))
    except ValueError:
        sys.exit(f"bench/load.py: --think {think!r}: write MIN-MAX seconds, as 2-6")
    # Stopped with SIGTERM (a CI timeout, `kill`), still stop the servers and drop the schema:
    # they run in process groups of their own, which the signal does not reach.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    import sqlalchemy as sa

    # One schema per IVR server: each has its own demo data and call records.
    schemas = {
        name: f"bench_load_{name}_{uuid.uuid4().hex[:10]}" for name in ("ivr", "sql", "floor")
    }
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as conn:
        for schema in schemas.values():
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def database(schema: str) -> str:
        return f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}options=-csearch_path%3D{schema}"

    folder = Path(tempfile.mkdtemp(prefix="ivr-bench-load-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_", "LOCUST_"))}
    base.update(PYTHONPATH=str(ROOT), IVR_LOG_LEVEL="WARNING")
    server_env = dict(
        base,
        IVR_DATABASE_URL=database(schemas["ivr"]),
        IVR_SESSION_STORE=REDIS,
        IVR_CLOCK=CLOCK,
        TWILIO_AUTH_TOKEN=TOKEN,
        IVR_PIN_KEY="bench-pin-key-" + "k" * 32,  # a public server needs its PIN key
    )
    load_env = dict(base, TWILIO_AUTH_TOKEN=TOKEN)

    keys = actions_per_call(args.scripts)
    bare_script = folder / "bare.yaml"
    steps = "".join('  - press: "1"\n' for _ in range(keys))
    head = f'name: the bare endpoint, {keys} keys\nfrom: "+8613800000001"\nlang: en-US\n'
    bare_script.write_text(f"{head}steps:\n{steps}")

    ivr_port, sql_port, bare_port = free_port(), free_port(), free_port()
    floor_port, floor_sql_port = free_port(), free_port()
    ivr_url, bare_url = f"http://127.0.0.1:{ivr_port}", f"http://127.0.0.1:{bare_port}"
    sql_url, floor_url = f"http://127.0.0.1:{sql_port}", f"http://127.0.0.1:{floor_port}"
    floor_sql_url = f"http://127.0.0.1:{floor_sql_port}"
    serve = [
        sys.executable,
        "-m",
        "ivr.cli.main",
        "serve",
        "--workers",
        "2",
        "--port",
        str(ivr_port),
    ]
    # The three start at once (each IVR server migrates its own schema); each is waited for.
    ivr = start(serve, server_env, folder / "ivr.log")
    # The same server with its sessions in PostgreSQL too (the SQL session store): the cost
    # phase only, for issue 13's "SQL store" row.
    sql_env = dict(server_env, IVR_DATABASE_URL=database(schemas["sql"]), IVR_SESSION_STORE="sql")
    sql = start([*serve[:-1], str(sql_port)], sql_env, folder / "sql.log")
    bare_serve = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)]
    bare = start(bare_serve, base, folder / "bare.log")
    # The floor: what every webhook must do with the required parts, and nothing else.
    from floor import create_table

    create_table(database(schemas["floor"]))
    floor_env = dict(base, FLOOR_REDIS_URL=REDIS, FLOOR_DATABASE_URL=database(schemas["floor"]))
    floor_serve = [sys.executable, str(Path(__file__).resolve()), "--serve-floor", str(floor_port)]
    floor = start(floor_serve, floor_env, folder / "floor.log")
    # ... and with its sessions in PostgreSQL, as the SQL store (the cost phase only).
    floor_sql_env = {k: v for k, v in floor_env.items() if k != "FLOOR_REDIS_URL"}
    floor_sql_serve = [*floor_serve[:-1], str(floor_sql_port)]
    floor_sql = start(floor_sql_serve, floor_sql_env, folder / "floor-sql.log")
    results: dict[str, dict[str, Any]] = {}
    try:
        ready(ivr, ivr_url, folder / "ivr.log")
        ready(sql, sql_url, folder / "sql.log")
        ready(bare, bare_url, folder / "bare.log")
        ready(floor, floor_url, folder / "floor.log")
        ready(floor_sql, floor_sql_url, folder / "floor-sql.log")
        # One call of each kind first: the workers' first-call costs are not measured.
        warm = {"rate": 5, "calls": 4, "think": "0-0", "seed": 1}
        run_load(ivr_url, args.scripts, load_env, folder / "w.json", **warm)
        run_load(sql_url, args.scripts, load_env, folder / "w.json", **warm)
        run_load(bare_url, [str(bare_script)], load_env, folder / "w.json", **warm)
        run_load(floor_url, [str(bare_script)], load_env, folder / "w.json", **warm)
        run_load(floor_sql_url, [str(bare_script)], load_env, folder / "w.json", **warm)

        targets = {
            "ivr": (ivr, ivr_url, args.scripts),
            "sql": (sql, sql_url, args.scripts),
            "bare": (bare, bare_url, [str(bare_script)]),
            "floor": (floor, floor_url, [str(bare_script)]),
            "floor-sql": (floor_sql, floor_sql_url, [str(bare_script)]),
        }
        # A call with no think time takes well under a second: 4 calls/s is a steady, light load.
        cost_rate = 2 if args.quick else 4
        # Mean call length with the think time before each key: the arrival rate for N concurrent
        # callers.
        call_seconds = keys * (low + high) / 2 + 1.0
        callers_rate = round(callers / call_seconds, 2)
        phases = {
            "cost": {"rate": cost_rate, "think": "0-0", "duration": seconds, "drain": 30},
            # As many calls in progress as the server has threads (2 workers x 8), arriving
            # as fast as they can: the requests per second answered at saturation.
            "throughput": {
                "rate": 1000,
                "think": "0-0",
                "duration": seconds,
                "drain": 30,
                "concurrency": 16,
            },
            "callers": {
                "rate": callers_rate,
                "think": think,
                "duration": seconds + call_seconds,
                "drain": 60,
            },
        }
        for phase in args.phases:
            options = phases[phase]
            for name, (process, url, scripts) in targets.items():
                if name in {"sql", "floor-sql"} and phase != "cost":
                    continue
                if name == "floor" and phase != "cost" and args.quick:
                    continue  # CI: the floor's cost is the figure; its other phases take time
                out = folder / f"{phase}-{name}.json"
                results[f"{phase}/{name}"] = measured(
                    process.pid, url, scripts, load_env, out, seed=7, **options
                )
                print(f"{phase:<10} {name:<4} {json.dumps(results[f'{phase}/{name}'])}", flush=True)
    finally:
        stop(ivr)
        stop(sql)
        stop(bare)
        stop(floor)
        stop(floor_sql)
        with admin.begin() as conn:
            for schema in schemas.values():
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    report(
        results,
        callers=callers,
        callers_rate=callers_rate,
        think=think,
        keys=keys,
        json_path=args.json,
    )


def report(
    results: dict[str, dict[str, Any]],
    *,
    callers: int,
    callers_rate: float,
    think: str,
    keys: int,
    json_path: Path | None,
) -> None:
    """Print the figures and the ratios of the phases' ``results``; write them to
    ``json_path`` if given."""

    def ratio(phase: str, key: str, target: str = "ivr") -> float | None:
        if f"{phase}/{target}" not in results:
            return None
        a, b = results[f"{phase}/{target}"][key], results[f"{phase}/bare"][key]
        return round(a / b, 2) if a and b else None

    def figure(phase: str, target: str, key: str) -> Any:
        return results.get(f"{phase}/{target}", {}).get(key)

    cost = results.get("cost/ivr")
    summary = {
        "cpu_per_request_ratio": ratio("cost", "cpu_ms_per_request"),
        "throughput_ratio": ratio("throughput", "rps"),
        "ivr_cpu_ms_per_request": figure("cost", "ivr", "cpu_ms_per_request"),
        "bare_cpu_ms_per_request": figure("cost", "bare", "cpu_ms_per_request"),
        "sql_cpu_per_request_ratio": ratio("cost", "cpu_ms_per_request", "sql"),
        "sql_cpu_ms_per_request": figure("cost", "sql", "cpu_ms_per_request"),
        # The floor (bench/floor.py): the required parts' own cost per webhook.
        "floor_cpu_per_request_ratio": ratio("cost", "cpu_ms_per_request", "floor"),
        "floor_cpu_ms_per_request": figure("cost", "floor", "cpu_ms_per_request"),
        "floor_sql_cpu_per_request_ratio": ratio("cost", "cpu_ms_per_request", "floor-sql"),
        "floor_sql_cpu_ms_per_request": figure("cost", "floor-sql", "cpu_ms_per_request"),
        "floor_throughput_ratio": ratio("throughput", "rps", "floor"),
        "floor_callers_p99_ms": figure("callers", "floor", "p99_ms"),
        "ivr_calls_per_cpu_second": round(cost["calls"]["placed"] / cost["server_cpu_s"], 2)
        if cost and cost["server_cpu_s"]
        else None,
        "ivr_requests_per_call": round(cost["requests"] / cost["calls"]["placed"], 2)
        if cost and cost["calls"]["placed"]
        else None,
        "callers": callers,
        "callers_rate": callers_rate,
        "callers_think_s": think,
        "callers_p99_ms": figure("callers", "ivr", "p99_ms"),
        "bare_callers_p99_ms": figure("callers", "bare", "p99_ms"),
        "keys_per_call": keys,
        "cores": os.cpu_count(),
    }
    print("summary", json.dumps(summary, indent=2))
    print(
        f"server CPU per request: ivr {summary['ivr_cpu_ms_per_request']} ms, bare "
        f"{summary['bare_cpu_ms_per_request']} ms: {summary['cpu_per_request_ratio']}x; "
        f"SQL session store {summary['sql_cpu_ms_per_request']} ms: "
        f"{summary['sql_cpu_per_request_ratio']}x; the floor "
        f"{summary['floor_cpu_ms_per_request']} ms: {summary['floor_cpu_per_request_ratio']}x, "
        f"with SQL sessions {summary['floor_sql_cpu_ms_per_request']} ms: "
        f"{summary['floor_sql_cpu_per_request_ratio']}x"
    )
    print(
        f"throughput: ivr {figure('throughput', 'ivr', 'rps')} req/s, bare "
        f"{figure('throughput', 'bare', 'rps')} req/s: {summary['throughput_ratio']} of the bare; "
        f"the floor {figure('throughput', 'floor', 'rps')} req/s: "
        f"{summary['floor_throughput_ratio']}"
    )
    print(
        f"p99 with {callers} callers thinking {think} s: {summary['callers_p99_ms']} ms; bare "
        f"{summary['bare_callers_p99_ms']} ms; the floor {summary['floor_callers_p99_ms']} ms"
    )
    if json_path:
        json_path.write_text(json.dumps({"summary": summary, "phases": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
