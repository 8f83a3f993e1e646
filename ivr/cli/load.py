"""``ivr load``: many simulated callers against a running IVR, on Locust, alone or spread.

Owns the command: its options, checking them, and running Locust as a library in one of its
three modes. Alone (the default), this process places every call. With ``--master`` it
places none: it waits for ``--expect-workers`` processes started with ``--worker
--master-host H`` (on this machine or others, each in a checkout holding the same scripts),
hands them the plan, gathers their figures and reports. The report is a table, and with
``--json FILE`` the figures as JSON (``bench/load.py`` reads them).

The callers, their arrivals and the figures are ``ivr.testing.load``'s. Locust (and gevent,
which patches the process that imports it) is imported only when the command runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from ivr.cli.context import CliContext
from ivr.errors import CliError
from ivr.errors import ConfigError
from ivr.errors import ScriptError
from ivr.errors import TwimlError
from ivr.media.recordings import AudioLibrary
from ivr.testing.load import LoadPlan
from ivr.testing.load import Tally
from ivr.testing.load import caller_class
from ivr.testing.load import figures
from ivr.testing.load import read_mix
from ivr.testing.simulator import HttpTransport

# gevent must patch the standard library before anything imports ssl or threading: ``ivr load``
# starts again in a process that patches first, then runs the same command line.
PATCHED_START = (
    "from gevent import monkey\n"
    "monkey.patch_all()\n"
    "from ivr.cli.main import main\n"
    "main(prog_name='ivr')\n"
)
# The plan travels from the master to its workers among Locust's options, under these names.
PLAN_OPTION = "ivr_plan"
DONE_MESSAGE = "ivr_done"
REPORT_KEY = "ivr"


def _think(value: str) -> tuple[float, float]:
    low, _, high = value.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give seconds as MIN-MAX, e.g. 2-6") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise click.BadParameter(f"{value!r}: give 0 <= MIN <= MAX")
    return bounds


@click.command()
@click.argument("url", required=False)
@click.argument("scripts", nargs=-1)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Calls placed per second (Poisson arrivals), whatever the replies' speed.",
)
@click.option(
    "--think",
    default="2-6",
    show_default=True,
    help="Seconds a caller pauses before each key or word: uniform between MIN-MAX.",
)
@click.option("--calls", type=click.IntRange(1), help="Stop placing calls after this many.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Stop placing calls after this many seconds.",
)
@click.option(
    "--drain",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds the calls in progress then get to end; the rest are cut.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1),
    help="At most this many calls in progress per process; arrivals wait for one to end "
    "(for throughput: no longer independent of the replies).",
)
@click.option("--seed", type=int, help="Seed the arrivals, the picks and the think times.")
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the figures here.",
)
@click.option("--master", is_flag=True, help="Place no calls: spread them over --worker processes.")
@click.option(
    "--expect-workers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="With --master: start when this many workers have joined.",
)
@click.option("--master-bind-host", default="*", show_default=True, help="With --master.")
@click.option(
    "--master-bind-port", type=int, default=5557, show_default=True, help="With --master."
)
@click.option("--worker", is_flag=True, help="Place the calls a --master hands this process.")
@click.option("--master-host", default="127.0.0.1", show_default=True, help="With --worker.")
@click.option("--master-port", type=int, default=5557, show_default=True, help="With --worker.")
@click.pass_obj
def load(cli: CliContext, /, url: str | None, scripts: tuple[str, ...], **options: Any) -> None:
    """Place simulated calls against the IVR at URL, running call SCRIPTS (files or folders;
    PATH=WEIGHT weighs one against the others), and report per endpoint: requests/s,
    p50/p95/p99, errors, apologies, and the calls that failed their script.

    Signs requests when TWILIO_AUTH_TOKEN is set. Run it alone, or as --master with
    --worker processes on other machines (Locust's distributed mode)."""
    if options["master"] and options["worker"]:
        raise CliError("--master and --worker exclude each other", "give one of them")
    if options["worker"]:
        restart_patched()
        _run_worker(cli, options)
        return
    plan = _plan(cli, url, scripts, options)  # checked before starting again, patched
    restart_patched()
    started, cpu = time.monotonic(), time.process_time()
    if options["master"]:
        env, tally = _run_master(plan, options)
    else:
        env, tally = _run_alone(plan)
    report = figures(
        env.stats.entries,
        env.stats.total,
        tally,
        seconds=time.monotonic() - started,
        plan=plan,
    )
    # This process's own CPU while it ran (start-up not counted): near the run's seconds, the
    # load generator was the bottleneck (add --worker processes). A master's only, not its
    # workers'.
    report["load_cpu_s"] = round(time.process_time() - cpu, 3)
    _echo(report)
    if options["json_file"] is not None:
        options["json_file"].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def restart_patched() -> None:
    """Go on if gevent has patched this process; otherwise start again, patched first."""
    from gevent import monkey  # only looks: importing it patches nothing

    if monkey.is_module_patched("socket"):
        return
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-c", PATCHED_START, *sys.argv[1:]])


def _plan(
    cli: CliContext, url: str | None, scripts: tuple[str, ...], options: dict[str, Any]
) -> LoadPlan:
    if url is None or not url.startswith(("http://", "https://")):
        raise CliError(
            f"ivr load needs the IVR's URL first, got {url!r}",
            "e.g. ivr load http://127.0.0.1:5000 tests/calls/en_limits_and_fees_zhang_wei.yaml",
        )
    if not scripts:
        raise CliError("no call scripts given", "give call scripts (files or folders) after URL")
    think = _think(options["think"])
    base = url.rstrip("/")
    try:
        HttpTransport(timeout=5).send("GET", base + "/health", {}, {})
    except TwimlError as exc:
        raise CliError(
            f"no server answers at {base} ({str(exc).removeprefix(exc.url + ': ')})",
            "start it with `ivr serve` (or check the URL you gave)",
        ) from exc
    try:
        mix = read_mix(scripts)
    except (ScriptError, ValueError) as exc:
        raise CliError(str(exc), "give call scripts as PATH or PATH=WEIGHT") from exc
    if not mix:
        raise CliError(f"no call scripts in {', '.join(scripts)}", "give *.yaml call scripts")
    return LoadPlan(
        url=base,
        mix=mix,
        rate=options["rate"],
        think=think,
        calls=options["calls"],
        duration=options["duration"],
        drain=options["drain"],
        processes=options["expect_workers"] if options["master"] else 1,
        concurrency=options["concurrency"],
        auth_token=cli.settings.twilio_auth_token,
        seed=options["seed"],
        play_text=_play_text(cli),
    )


def _play_text(cli: CliContext) -> Any:
    """What a played recording says, from this checkout's library (None: unknown)."""
    try:
        return AudioLibrary.open(cli.settings.audio_dir).play_text
    except ConfigError:
        return None


def _run_alone(plan: LoadPlan) -> tuple[Any, Tally]:
    # Imported here: Locust brings gevent, which patches the process that imports it.
    import gevent.event
    from locust.env import Environment

    tally = Tally()
    done = gevent.event.Event()
    env = Environment(user_classes=[caller_class(lambda _: plan, tally, done.set)])
    runner = env.create_local_runner()
    runner.start(1, spawn_rate=1)
    done.wait(timeout=plan.duration + plan.drain + 30)
    runner.quit()
    return env, tally


def _run_master(plan: LoadPlan, options: dict[str, Any]) -> tuple[Any, Tally]:
    # Imported here: Locust brings gevent, which patches the process that imports it.
    import gevent
    import gevent.event
    from locust import argument_parser
    from locust.env import Environment
    from locust.runners import WORKER_REPORT_INTERVAL

    tally = Tally()
    done = gevent.event.Event()
    finished: set[str] = set()
    parser = argument_parser.get_empty_argument_parser()
    argument_parser.setup_parser_arguments(parser)  # type: ignore[no-untyped-call]
    parsed = parser.parse_args(args=[])
    # Scripts travel as paths: each worker reads them from its own checkout.
    setattr(parsed, PLAN_OPTION, _plan_message(plan, options))
    env = Environment(
        user_classes=[caller_class(lambda _: plan, tally, done.set)], parsed_options=parsed
    )
    runner = env.create_master_runner(options["master_bind_host"], options["master_bind_port"])
    expected = options["expect_workers"]

    def on_done(environment: Any, msg: Any, **_: Any) -> None:
        tally.merge(msg.data["tally"])
        finished.add(msg.node_id)
        if len(finished) >= expected:
            done.set()

    runner.register_message(DONE_MESSAGE, on_done)
    env.events.worker_report.add_listener(  # type: ignore[no-untyped-call]
        lambda client_id, data: tally.merge(data[REPORT_KEY]) if REPORT_KEY in data else None
    )
    deadline = time.monotonic() + 120
    while runner.worker_count < expected:
        if time.monotonic() > deadline:
            runner.quit()
            raise CliError(
                f"{runner.worker_count} of {expected} workers joined in 120 s",
                "start them with `ivr load --worker --master-host <this host>`",
            )
        gevent.sleep(0.2)
    runner.start(expected, spawn_rate=expected)
    done.wait(timeout=plan.duration + plan.drain + 30)
    gevent.sleep(WORKER_REPORT_INTERVAL + 1)  # the workers' last request figures
    runner.quit()
    return env, tally


def _plan_message(plan: LoadPlan, options: dict[str, Any]) -> dict[str, Any]:
    """The plan as the master sends it to its workers."""
    return {
        "url": plan.url,
        "scripts": [[w.script.path, w.weight] for w in plan.mix],
        "rate": plan.rate,
        "think": list(plan.think),
        "calls": plan.calls,
        "duration": plan.duration,
        "drain": plan.drain,
        "processes": plan.processes,
        "concurrency": plan.concurrency,
        "seed": plan.seed,
    }


def _run_worker(cli: CliContext, options: dict[str, Any]) -> None:
    # Imported here: Locust brings gevent, which patches the process that imports it.
    from locust.env import Environment

    tally = Tally()
    play_text = _play_text(cli)
    env: Any = None

    def plan_of(environment: Any) -> LoadPlan:
        sent = getattr(environment.parsed_options, PLAN_OPTION)
        try:
            mix = read_mix([f"{path}={weight}" for path, weight in sent["scripts"]])
        except (ScriptError, ValueError) as exc:
            raise CliError(str(exc), "run workers in a checkout with the master's scripts") from exc
        return LoadPlan(
            url=sent["url"],
            mix=mix,
            rate=sent["rate"],
            think=(sent["think"][0], sent["think"][1]),
            calls=sent["calls"],
            duration=sent["duration"],
            drain=sent["drain"],
            processes=sent["processes"],
            concurrency=sent["concurrency"],
            auth_token=cli.settings.twilio_auth_token,
            # Each worker its own draws: the same seed would repeat one worker's calls in all.
            seed=None if sent["seed"] is None else sent["seed"] + environment.runner.worker_index,
            play_text=play_text,
        )

    def done() -> None:
        env.runner.send_message(DONE_MESSAGE, {"tally": tally.take()})

    env = Environment(user_classes=[caller_class(plan_of, tally, done)])
    runner = env.create_worker_runner(options["master_host"], options["master_port"])
    env.events.report_to_master.add_listener(
        lambda client_id, data: data.__setitem__(REPORT_KEY, tally.take())
    )
    click.echo(f"ivr load: worker joined the master at {options['master_host']}")
    runner.greenlet.join()


def _echo(report: dict[str, Any]) -> None:
    """The figures as a table."""
    head = f"{'endpoint':<28} {'reqs':>7} {'req/s':>8} {'p50':>6} {'p95':>6} {'p99':>6} "
    click.echo(head + f"{'errors':>7} {'apology':>8}")
    rows = [*report["endpoints"].items(), ("total", report["total"])]
    for name, row in rows:
        click.echo(
            f"{name:<28} {row['requests']:>7} {row['rps']:>8.2f} {row['p50_ms']:>6} "
            f"{row['p95_ms']:>6} {row['p99_ms']:>6} {row['errors']:>7} {row['apologies']:>8}"
        )
    calls = report["calls"]
    click.echo(
        f"calls: {calls['placed']} placed ({calls['per_s']}/s), {calls['passed']} passed, "
        f"{calls['failed']} failed their script, {calls['cut']} cut at the end "
        f"({report['seconds']} s; percentiles in ms)"
    )
    for failure in calls["failures"]:
        click.echo(f"  ✗ {failure}")
