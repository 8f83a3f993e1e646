"""The ``ivr`` command: serve, check, demo reset, sessions purge, replay and call.

Owns the command-line surface and its entry point: the group callback reads the settings
once from the environment (the only place the command line does), keeps them in click's
``ctx.obj`` for every command, and configures logging. Builds the app through ``create_app``
like any other user, and its simulators through ``ivr.testing.factories``; holds no logic of
its own beyond wiring. Errors are ``CliError``s: a problem and the next step, exit 2. Command
groups with their own modules are added at the bottom, one line each.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import click
import waitress
from flask import Flask
from twilio.http import HttpClient

from ivr.cli.budgets import report_budgets
from ivr.cli.callbacks import callbacks
from ivr.cli.capacity import capacity
from ivr.cli.capacity import demo_calls
from ivr.cli.context import CliContext
from ivr.cli.db import db
from ivr.cli.diff import diff
from ivr.cli.errors import SETTING_HINT
from ivr.cli.errors import start_up_errors
from ivr.cli.graph import graph
from ivr.cli.intents import intents
from ivr.cli.intents import report_speech
from ivr.cli.load import load
from ivr.cli.prompts import prompts
from ivr.cli.reload import serve_with_reload
from ivr.cli.report import report
from ivr.cli.schema import echo_actions
from ivr.cli.schema import schema
from ivr.cli.scripts import scripts
from ivr.cli.server import THREADS
from ivr.cli.server import access_notice
from ivr.cli.server import settle_heap
from ivr.cli.server import waitress_options
from ivr.cli.twilio import twilio
from ivr.cli.workers import gunicorn_missing
from ivr.cli.workers import gunicorn_options
from ivr.cli.workers import refuse_workers
from ivr.cli.workers import serve_workers
from ivr.clock import Clock
from ivr.engine.catalog import check_flows
from ivr.engine.compile import CompiledFlow
from ivr.engine.vocabulary import describe
from ivr.errors import CliError
from ivr.errors import ConfigError
from ivr.errors import SimulationError
from ivr.errors import TwimlError
from ivr.flow.budgets import Lengths
from ivr.flow.budgets import NoRecordings
from ivr.flow.prompts import flow_prompts
from ivr.hotline.actions import hotline
from ivr.hotline.checks import wallet_checks
from ivr.media.durations import RecordedLengths
from ivr.media.recordings import AudioLibrary
from ivr.settings import Settings
from ivr.testing.console import CallTimeClock
from ivr.testing.console_web import install_phone
from ivr.testing.factories import ParallelRunner
from ivr.testing.factories import SimulatorFactory
from ivr.testing.factories import job_count
from ivr.testing.factories import local_simulators
from ivr.testing.factories import remote_simulators
from ivr.testing.factories import replay_start
from ivr.testing.phone import run_phone
from ivr.testing.replay import FlowShape
from ivr.testing.replay import read_unreachable
from ivr.testing.replay import replay as run_replay
from ivr.testing.scripts import discover
from ivr.testing.simulator import HttpTransport
from ivr.testing.simulator import Simulator
from ivr.testing.speaker import Speaker
from ivr.wallet import reset_demo
from ivr.web.app import create_app
from ivr.web.app import database_url
from ivr.web.app import make_clock
from ivr.web.control import CONTROL_PATH
from ivr.web.control import DemoClock
from ivr.web.control import install_demo_control
from ivr.web.runtime import Runtime

# Commands whose output is a call's transcript or a report: the app's INFO lines would break
# it up (`ivr demo calls` places hundreds of calls).
TRANSCRIPT_COMMANDS = frozenset({"replay", "call", "capacity", "demo", "scripts", "load"})


@click.group()
@click.version_option(package_name="ivr")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Build, test and run the digital-wallet hotline's phone menu."""
    environ = os.environ  # read here only: settings, and NO_COLOR
    try:
        settings = Settings.read(environ)
    except ConfigError as exc:
        raise CliError(str(exc), SETTING_HINT) from exc
    level = settings.log_level
    if ctx.invoked_subcommand in TRANSCRIPT_COMMANDS and level in {"DEBUG", "INFO"}:
        level = "WARNING"
    logging.basicConfig(level=level)
    # Alembic narrates every migration context at INFO; the app logs what it upgraded itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # A test may hand in a fake of Twilio's API: runner.invoke(main, args, obj=fake).
    given = ctx.obj if isinstance(ctx.obj, HttpClient) else None
    # https://no-color.org: any value turns colour off; every click.echo below obeys ctx.color.
    color = False if environ.get("NO_COLOR") else None
    ctx.color = color
    ctx.obj = CliContext(settings, twilio_http=given, color=color)


def build_app(settings: Settings, clock: Clock | None = None) -> Flask:
    """The app, or a ``CliError`` saying why it could not start."""
    with start_up_errors():
        return create_app(settings=settings, clock=clock)


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["ivr"]
    return runtime


def open_library(settings: Settings) -> AudioLibrary:
    """The recordings folder, or a ``CliError`` saying what is wrong with it."""
    try:
        return AudioLibrary.open(settings.audio_dir)
    except ConfigError as exc:
        raise CliError(
            str(exc), "fix IVR_AUDIO_DIR or audio_prompts/manifest.yaml and try again"
        ) from exc


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on (1-65535).",
)
@click.option(
    "--threads",
    default=THREADS,
    show_default=True,
    type=click.IntRange(1),
    help="Threads per worker process.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Worker processes. Above 1: gunicorn (pip install 'ivr[server]'), with Redis or SQL "
    "sessions; 1: waitress.",
)
@click.option(
    "--access-log",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="With --workers: log each request (worker pid, request, status, ms) to this file; "
    "- for standard output.",
)
@click.option(
    "--preload",
    is_flag=True,
    help="With --workers: build the app once in gunicorn's master and fork the workers from it.",
)
@click.option(
    "--reload",
    is_flag=True,
    help="For development: restart when a file in flows/ or ivr/ changes.",
)
@click.option(
    "--demo-control",
    is_flag=True,
    help="Test mode for `ivr replay --url`: lets it set the clock and reset the demo data. "
    "Refused when TWILIO_AUTH_TOKEN is set.",
)
@click.pass_obj
def serve(  # noqa: C901 - one branch per option
    cli: CliContext,
    host: str,
    port: int,
    threads: int,
    workers: int,
    access_log: str | None,
    preload: bool,
    reload: bool,
    demo_control: bool,
) -> None:
    """Run the IVR on a production WSGI server: waitress, or gunicorn with --workers.
    No configuration needed."""
    settings = cli.settings
    if demo_control and settings.twilio_auth_token:
        raise CliError(
            "--demo-control is refused on a public server (TWILIO_AUTH_TOKEN is set)",
            "run replays against a local server started without TWILIO_AUTH_TOKEN",
        )
    if workers > 1:
        if reload or demo_control:
            flag = "--reload" if reload else "--demo-control"
            raise CliError(
                f"{flag} works with one process only: each worker would keep its own "
                + ("watcher" if reload else "demo clock"),
                f"drop --workers (one process) to use {flag}",
            )
        _serve_workers(cli.settings, host, port, threads, workers, preload, access_log)
        return
    if preload or access_log:
        flag = "--preload" if preload else "--access-log"
        raise CliError(f"{flag} is for --workers above 1", f"add --workers N, or drop {flag}")
    if reload:
        watched = [settings.flows_dir, Path(__file__).resolve().parent.parent]
        child = [sys.executable, "-m", "ivr.cli.main", "serve", "--host", host]
        child += ["--port", str(port), "--threads", str(threads)]
        child += ["--demo-control"] if demo_control else []
        serve_with_reload(child, watched, echo=click.echo)
        return
    # The browser phone places a call at a chosen time through this clock; demo control
    # (which fixes the whole server's time) wraps it.
    call_time = CallTimeClock(make_clock(settings))
    clock = DemoClock(call_time) if demo_control else None
    app = build_app(settings, clock or call_time)
    if clock is not None:
        with start_up_errors():
            install_demo_control(app, clock)
    install_phone(app, call_time)
    _check_can_listen(host, port)  # on our own socket: waitress leaks its own on failure
    try:
        options = waitress_options(settings, host=host, port=port, threads=threads)
        server = waitress.create_server(app, **options)
    except (OSError, ValueError) as exc:  # waitress: ValueError for a host it cannot resolve
        raise _listen_error(host, port, exc) from exc
    url = _announce(app, settings, host, port)
    click.echo(f"     or from this browser: {url}/phone/ (waiting callers: {url}/agent/)")
    if clock is not None:
        click.echo(f"     demo control is on: ivr replay --url {url} may reset the demo data")
    settle_heap()
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("ivr: stopped")


def _announce(app: Flask, settings: Settings, host: str, port: int, how: str = "") -> str:
    """Say what is served where, and how to reach it; the base URL."""
    url = f"http://{host}:{port}"
    runtime = runtime_of(app)
    version = runtime.flows[runtime.flow_name].version
    logging.getLogger("ivr").info("flow %s version %s", runtime.flow_name, version)
    click.echo(f"ivr: serving flow {runtime.flow_name!r} (version {version}) on {url}{how}")
    click.echo(
        f"     point your Twilio number's voice webhook at {url}/voice (via a public tunnel)"
    )
    click.echo("     or call it from another terminal: ivr call --url " + url)
    if notice := access_notice(settings, host):
        click.echo(notice)
    return url


def _serve_workers(
    settings: Settings,
    host: str,
    port: int,
    threads: int,
    workers: int,
    preload: bool,
    access_log: str | None,
) -> None:
    """``ivr serve --workers N``: gunicorn, after the master built the app once (checking the
    flows and the stores, and making or upgrading the schema before any worker starts)."""
    if missing := gunicorn_missing():
        raise missing
    instance = Flask("ivr", instance_relative_config=True).instance_path
    note = refuse_workers(settings, database_url(settings, instance), workers)
    app = build_app(settings)  # in the master, once: the schema exists before any worker
    _check_can_listen(host, port)
    _announce(app, settings, host, port, f" with {workers} workers (gunicorn)")
    if note:
        click.echo(note)
    # The browser phone keeps each call's simulator in its process: it needs one process.
    click.echo("     the browser phone (/phone/) is served by `ivr serve` without --workers")
    built: Flask | None = app
    if not preload:
        runtime_of(app).database.dispose()  # each worker builds its own app and pool
        built = None

    def build() -> Flask:
        # With --preload, gunicorn calls this once, in the master; otherwise in each worker.
        app = built if built is not None else build_app(settings)
        settle_heap()
        return app

    options = gunicorn_options(
        settings,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        preload=preload,
        access_log=access_log,
    )
    serve_workers(options, build)


def _check_can_listen(host: str, port: int) -> None:
    """A ``CliError`` naming the option to change unless ``host:port`` can be bound now."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
            probe.bind(address)
    except OSError as exc:
        raise _listen_error(host, port, exc) from exc


def _listen_error(host: str, port: int, exc: OSError | ValueError) -> CliError:
    """Why the server could not listen, naming the option to change."""
    if isinstance(exc, socket.gaierror | ValueError):
        return CliError(
            f"cannot listen on host {host!r}: no such host name or address",
            "check --host: an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return CliError(
            f"cannot listen on host {host!r}: it is not an address of this machine",
            "check --host: an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
        )
    if exc.errno == errno.EADDRINUSE:
        return CliError(
            f"cannot listen on port {port}: another program is using it",
            "pick another port with --port",
        )
    if exc.errno == errno.EACCES:
        return CliError(
            f"cannot listen on port {port}: permission denied",
            "pick a port above 1023 with --port",
        )
    return CliError(
        f"cannot listen on {host}:{port}: {exc.strerror or exc}", "check --host and --port"
    )


@main.command()
@click.option(
    "--flows",
    "flows_dir",
    type=click.Path(path_type=Path),
    help="Folder of flows (default: IVR_FLOWS_DIR or flows/).",
)
@click.option(
    "--actions",
    "list_actions",
    is_flag=True,
    help="Also list every action and guard a flow may use: arguments, {values}, uses.",
)
@click.option("--strict", is_flag=True, help="A broken caller-time budget is an error.")
@click.option("--budgets", "table", is_flag=True, help="Show every state's caller-time figures.")
@click.pass_obj
def check(
    cli: CliContext, flows_dir: Path | None, list_actions: bool, strict: bool, table: bool
) -> None:
    """Validate every flow without starting a server. Exits non-zero on any problem."""
    folder = flows_dir or cli.settings.flows_dir
    compiled, problems = check_flows(folder, hotline)
    if list_actions:
        echo_actions(describe(hotline, [c.flow for _, c in sorted(compiled.items())]))
    for problem in problems:
        click.echo(click.style("✗ ", fg="red") + str(problem))
    broken = 0
    # Read once: real lengths for the budgets, then current/stale for the warnings below. A
    # broken library times every prompt from its text and is reported at the end.
    try:
        library: AudioLibrary | None = AudioLibrary.open(cli.settings.audio_dir)
        unreadable = None
    except ConfigError as exc:
        library, unreadable = None, exc
    lengths: Lengths = RecordedLengths(library) if library is not None else NoRecordings()
    for name, flow in sorted(compiled.items()):
        states, transitions = flow.shape()
        summary = f"flow {name!r}, {len(states)} states, {len(transitions)} transitions"
        click.echo(click.style("✓ ", fg="green") + f"{flow.flow.file}: {summary}")
        broken += len(report_budgets(flow.flow, lengths, strict=strict, table=table))
        report_speech(flow.flow, cli.settings)
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(1)
    if strict and broken:
        click.echo(f"{broken} caller-time budget(s) broken (--strict).", err=True)
        sys.exit(1)
    if library is None:
        click.echo(click.style("✗ ", fg="red") + str(unreadable))
        sys.exit(1)
    _warn_about_recordings(library, list(compiled.values()))


def _warn_about_recordings(library: AudioLibrary, flows: Sequence[CompiledFlow]) -> None:
    """Stale and missing recordings are warnings: those prompts are said until rendered."""
    states = library.statuses([p for compiled in flows for p in flow_prompts(compiled.flow)])
    pending = [s for s in states if s.status != "current"]
    if not pending:
        click.echo(click.style("✓ ", fg="green") + f"{len(states)} recordings, all current")
        return
    counts = {
        k: sum(1 for s in pending if s.status == k) for k in ("stale", "missing", "unadopted")
    }
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    click.echo(
        click.style("! ", fg="yellow")
        + f"recordings: {summary} of {len(states)} (said with <Say> until current)"
    )
    for s in pending[:5]:
        click.echo(f"    {s.status:<9} {s.prompt.lang} {s.prompt.id}")
    if len(pending) > 5:
        click.echo(f"    … and {len(pending) - 5} more")
    click.echo("  → `ivr prompts status` lists them; `ivr prompts render` makes them")


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("reset")
@click.pass_obj
def demo_reset(cli: CliContext) -> None:
    """Put the demo accounts back as they were (every demo PIN is 123456)."""
    runtime = runtime_of(build_app(cli.settings.with_values({"IVR_DEMO_DATA": False})))
    reset_demo(runtime.database, runtime.services.clock, runtime.pins)
    click.echo(f"demo data reset in {runtime.database.url.render_as_string(hide_password=True)}")


@main.group()
def sessions() -> None:
    """Per-call state."""


@sessions.command("purge")
@click.pass_obj
def sessions_purge(cli: CliContext) -> None:
    """Delete the state of ended and abandoned calls."""
    count, ghosts = runtime_of(build_app(cli.settings)).purge()
    click.echo(f"purged {count} expired session(s), {ghosts} caller(s) no longer waiting")


def reachable_ivr(url: str) -> str:
    """``url`` without a trailing slash, once an IVR answers ``/health`` there; else a
    ``CliError`` saying what is wrong with the URL or what to start."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(
            f"--url {url!r} is not a web address",
            "give it with http:// or https://, e.g. --url http://127.0.0.1:5000",
        )
    base = url.rstrip("/")
    try:
        reply = HttpTransport(timeout=5).send("GET", base + "/health", {}, {})
    except TwimlError as exc:
        raise CliError(
            f"no IVR answers at {base} ({str(exc).removeprefix(exc.url + ': ')})",
            "start it with `ivr serve` (or check the --url you gave)",
        ) from exc
    if reply.status != 200 or b'"status"' not in reply.body:
        raise CliError(
            f"something answers at {base}, but not an IVR (GET /health: {reply.status})",
            "check the --url you gave; `ivr serve` prints the address it serves on",
        )
    return base


def demo_controlled(base: str) -> bool:
    """Whether the server at ``base`` was started with ``--demo-control``."""
    try:
        reply = HttpTransport(timeout=5).send("GET", base + CONTROL_PATH, {}, {})
        return reply.status == 200 and "clock" in json.loads(reply.body)
    except (TwimlError, ValueError):
        return False


def remote(url: str, settings: Settings, *, control: bool = False) -> SimulatorFactory:
    """Simulators for the IVR at ``url``, after making sure it answers; its recordings read
    as text from this checkout's library. With ``control``, the server must have demo
    control on, and each simulator starts from the replay time and fresh demo data."""
    base = reachable_ivr(url)
    if control and not demo_controlled(base):
        raise CliError(
            f"the server at {base} was not started for replays: call scripts need to set its "
            "clock and reset its demo data",
            "start it with `ivr serve --demo-control` (a local server, no TWILIO_AUTH_TOKEN)",
        )
    library = open_library(settings)
    return remote_simulators(
        base,
        auth_token=settings.twilio_auth_token,
        play_text=library.play_text,
        control_from=replay_start(settings) if control else None,
    )


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--url", help="Replay against a running server instead of in-process.")
@click.option(
    "--coverage", is_flag=True, help="Report which states and transitions the scripts reached."
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    help="With --coverage: fail below this % of the reachable transitions.",
)
@click.option("--color/--no-color", default=None, help="Colour output (default: when a terminal).")
@click.option(
    "--jobs",
    "-j",
    default="1",
    show_default=True,
    metavar="N|auto",
    help="Worker processes for an in-process replay, each with its own app and demo data "
    "(0 or auto: one per CPU). Same output, same order.",
)
@click.pass_obj
def replay(
    cli: CliContext,
    paths: tuple[Path, ...],
    url: str | None,
    coverage: bool,
    fail_under: float | None,
    color: bool | None,
    jobs: str,
) -> None:
    """Replay call scripts (files or folders; default tests/calls) and report."""
    targets = list(paths) or [Path("tests/calls")]
    missing = [p for p in targets if not p.exists()]
    if missing:
        raise CliError(
            f"no such file or folder: {missing[0]}", "give call scripts (*.yaml) or folders of them"
        )
    try:
        workers = job_count(jobs)
    except ValueError:
        raise CliError(
            f"--jobs {jobs}: not a number of jobs", "give a number, or 0 or auto (one per CPU)"
        ) from None
    if url and workers != 1:
        raise CliError(
            "--jobs works in-process only: replays against one server run one at a time "
            "(each resets its demo data)",
            "leave out --jobs with --url, or --url to replay in this process",
        )
    runner: ParallelRunner | None = None
    factory: SimulatorFactory
    shapes = None
    checks = {}
    skip_effects = None
    if url:
        factory = remote(url, cli.settings, control=True)
        skip_effects = (
            "lasting effects and call backs are checked only in-process "
            "(`ivr replay` without --url)"
        )
        if coverage:
            click.echo("note: --coverage works in-process only; ignoring it with --url", err=True)
    else:
        with start_up_errors():
            local = local_simulators(cli.settings, isolated=True)
        factory, runtime = local, local.runtime
        checks = wallet_checks(runtime.services.wallet, runtime.records)
        # The app lives as long as the replay, as a server's does: no collection walks it
        # again (the replay workers settle theirs too).
        settle_heap()
        scripts = len(discover(targets))
        if min(workers, scripts) > 1:
            runner = ParallelRunner(cli.settings, min(workers, scripts))
        if coverage:
            apart = read_unreachable(targets)
            shapes = {
                n: FlowShape(*f.shape(), unreachable=apart.get(n, frozenset()))
                for n, f in runtime.flows.items()
            }
    if color is None:
        color = sys.stdout.isatty() and cli.color is not False
    with contextlib.ExitStack() as workers_up:
        if runner is not None:  # the workers build their apps while the scripts load here
            workers_up.enter_context(runner)
        code = run_replay(
            targets,
            factory,
            checks=checks,
            coverage_shapes=shapes,
            skip_effects=skip_effects,
            out=sys.stdout,
            color=color,
            fail_under=fail_under,
            runner=runner,
        )
    sys.exit(code)


@main.command()
@click.option(
    "--from", "from_", default="+8613800000001", show_default=True, help="Caller ID to call from."
)
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Press the language key for you.")
@click.option("--url", help="Call a running server instead of the in-process app.")
@click.option(
    "--audio",
    is_flag=True,
    help="Play the prompts aloud: recordings as Twilio plays them, said words with espeak-ng.",
)
@click.pass_obj
def call(cli: CliContext, from_: str, lang: str | None, url: str | None, audio: bool) -> None:
    """Place an interactive call from the terminal: type keys, `say …`, or Enter for silence.

    Without --audio the in-process IVR says every prompt, so each line shows whole sentences;
    with --audio it plays current recordings (♪ lines) and this machine plays them too."""
    runtime: Runtime | None = None
    factory: SimulatorFactory
    if url:
        factory = remote(url, cli.settings)
    else:
        with start_up_errors():
            local = local_simulators(cli.settings, isolated=False, audio=audio)
        factory, runtime = local, local.runtime
    simulator = factory()
    speaker = _speaker(simulator, runtime, cli.settings) if audio else None
    try:
        live = simulator.dial(from_)
        if lang is not None and not live.ended:
            live.press("1" if lang == "zh" else "2")
    except SimulationError as exc:
        raise CliError(
            f"the call could not start: {exc}",
            "check the server (`ivr replay` shows where a call breaks)",
        ) from exc

    def describe(state: str | None) -> str:
        if runtime is None or state is None:
            return ""
        flow = runtime.flows[runtime.flow_name].flow
        spec = flow.states.get(state)
        if spec is None or not spec.options:
            return ""
        lg = live_lang()
        return "  ".join(f"[{o.key}] {o.label.get(lg, '')}" for o in spec.options)

    def live_lang() -> str:
        if runtime is None:
            return "zh-CN"
        session = runtime.store.load(live.call_sid)
        return session.lang if session else "zh-CN"

    played = 0

    def play_new() -> None:
        nonlocal played
        if speaker is not None:
            speaker.play(live.result.transcript[played:])
            played = len(live.result.transcript)

    def read(prompt: str) -> str:
        play_new()
        return _read_line(prompt)

    run_phone(live, read_line=read, write=click.echo, describe_state=describe)
    play_new()


def _read_line(prompt: str) -> str:
    """One line typed at the phone's prompt; Ctrl-D or Ctrl-C is ``EOFError``: a hang-up."""
    try:
        answer: str = click.prompt(prompt, default="", show_default=False, prompt_suffix="")
    except click.Abort:
        click.echo("")
        raise EOFError from None
    return answer


def _speaker(simulator: Simulator, runtime: Runtime | None, settings: Settings) -> Speaker | None:
    """A speaker for ``ivr call --audio`` that learns which URL each played prompt came from,
    or None (having said why) where this machine cannot make sound."""
    library = runtime.audio if runtime is not None else None
    if library is None:  # a remote server: its recordings, read from this checkout
        try:
            library = AudioLibrary.open(settings.audio_dir)
        except ConfigError as exc:
            click.echo(f"--audio: {exc}; the call goes on in text only", err=True)
            return None
    try:
        speaker = Speaker.find(library, warn=click.echo)
    except RuntimeError as exc:
        click.echo(f"--audio: {exc}; the call goes on in text only", err=True)
        return None
    simulator.play_text = speaker.heard(simulator.play_text or library.play_text)
    return speaker


# Command groups that live in their own modules (one job each): one line per group.
main.add_command(twilio)
main.add_command(callbacks)
main.add_command(prompts)
main.add_command(db)
main.add_command(graph)
main.add_command(schema)
main.add_command(diff)

main.add_command(capacity)
demo.add_command(demo_calls)

main.add_command(scripts)
main.add_command(load)
main.add_command(report)
main.add_command(intents)


if __name__ == "__main__":  # `python -m ivr.cli.main`, as `ivr serve --reload` runs its server
    main()
