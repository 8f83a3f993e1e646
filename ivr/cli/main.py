"""The ``ivr`` command: serve, check, demo reset, sessions purge, replay and call.

Owns the command-line surface and its error messages (each says what to do next). Builds the
app through ``create_app`` like any other user; holds no logic of its own beyond wiring.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ivr.errors import ConfigError
from ivr.errors import FlowValidationError


def _fail(message: str, hint: str) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    click.echo(f"  → {hint}", err=True)
    raise SystemExit(2)


def _app(test_config: dict[str, Any] | None = None, *, clock: Any = None) -> Any:
    from ivr.web.app import create_app

    try:
        return create_app(test_config, clock=clock)
    except FlowValidationError as exc:
        click.echo(
            click.style(f"{len(exc.problems)} problem(s) in flows:", fg="red", bold=True), err=True
        )
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        _fail(
            "the flows did not load, so nothing was started",
            "fix the files above, then run `ivr check`",
        )
    except ConfigError as exc:
        _fail(str(exc), "fix the setting (see the README's Settings table) and try again")
    except Exception as exc:  # a database that cannot be reached, for instance
        _fail(
            f"{type(exc).__name__}: {exc}",
            "check IVR_DATABASE_URL and that the database is running",
        )
    raise AssertionError("unreachable")


@click.group()
@click.version_option(package_name="ivr")
def main() -> None:
    """Build, test and run the digital-wallet hotline's phone menu."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads.")
def serve(host: str, port: int, threads: int) -> None:
    """Run the IVR on a production WSGI server (waitress). No configuration needed."""
    import waitress

    app = _app()
    url = f"http://{host}:{port}"
    click.echo(f"ivr: serving flow {app.extensions['ivr'].flow_name!r} on {url}")
    click.echo(
        f"     point your Twilio number's voice webhook at {url}/voice (via a public tunnel)"
    )
    click.echo("     or call it from another terminal: ivr call --url " + url)
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="ivr")
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror}", "pick another port with --port")


@main.command()
@click.option(
    "--flows",
    "flows_dir",
    type=click.Path(path_type=Path),
    help="Folder of flows (default: IVR_FLOWS_DIR or flows/).",
)
def check(flows_dir: Path | None) -> None:
    """Validate every flow without starting a server. Exits non-zero on any problem."""
    from ivr.engine.catalog import check_flows
    from ivr.hotline.actions import hotline
    from ivr.settings import load_config

    folder = flows_dir or Path(load_config(os.environ)["IVR_FLOWS_DIR"])
    compiled, problems = check_flows(folder, hotline)
    for problem in problems:
        click.echo(click.style("✗ ", fg="red") + str(problem))
    for name, flow in sorted(compiled.items()):
        states, transitions = flow.shape()
        summary = f"flow {name!r}, {len(states)} states, {len(transitions)} transitions"
        click.echo(click.style("✓ ", fg="green") + f"{flow.flow.file}: {summary}")
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        raise SystemExit(1)
    _warn_about_recordings([c.flow for c in compiled.values()])


def _warn_about_recordings(flows: list[Any]) -> None:
    """Stale and missing recordings are warnings: those prompts are said until rendered."""
    from ivr.flow.prompts import flow_prompts
    from ivr.media.recordings import AudioLibrary
    from ivr.settings import load_config

    try:
        library = AudioLibrary.open(Path(load_config(os.environ)["IVR_AUDIO_DIR"]))
    except ConfigError as exc:
        click.echo(click.style("✗ ", fg="red") + str(exc))
        raise SystemExit(1) from None
    states = library.statuses([p for flow in flows for p in flow_prompts(flow)])
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
def demo_reset() -> None:
    """Put the demo accounts back as they were (every demo PIN is 123456)."""
    from ivr.wallet import reset_demo

    app = _app({"IVR_DEMO_DATA": False})
    runtime = app.extensions["ivr"]
    reset_demo(runtime.database, runtime.services.clock)
    click.echo(f"demo data reset in {runtime.database.url.render_as_string(hide_password=True)}")


@main.group()
def sessions() -> None:
    """Per-call state."""


@sessions.command("purge")
def sessions_purge() -> None:
    """Delete the state of ended and abandoned calls."""
    app = _app()
    count = app.extensions["ivr"].store.purge()
    click.echo(f"purged {count} expired session(s)")


# Shipped call scripts expect this moment (the demo data is relative to "now").
REPLAY_TIME = "2026-11-23T10:00:00+08:00"


def remote_simulators(url: str, token: str | None) -> Callable[[], Any]:
    """Simulators for a running server, each with its own range of CallSids."""
    from ivr.media.recordings import AudioLibrary
    from ivr.settings import load_config
    from ivr.testing.simulator import HttpTransport
    from ivr.testing.simulator import Simulator

    base = url.rstrip("/")
    start = secrets.randbits(64) << 32
    try:
        library = AudioLibrary.open(Path(load_config(os.environ)["IVR_AUDIO_DIR"]))
    except ConfigError as exc:
        _fail(str(exc), "fix the setting or audio_prompts/manifest.yaml and try again")
        raise AssertionError("unreachable") from None

    def make(counter: list[int] = [0]) -> Simulator:  # noqa: B006 (a deliberate counter)
        counter[0] += 1
        return Simulator(
            HttpTransport(),
            base_url=base,
            auth_token=token,
            first_call=start + counter[0] * 10_000,
            play_text=library.play_text,  # the server's recordings, read from this checkout
        )

    return make


def local_simulators(
    *, isolated: bool, audio: bool | None = None
) -> tuple[Callable[[], Any], Any, Any]:
    """Simulators for the app in-process. ``isolated``: a private demo database and a clock
    fixed at IVR_CLOCK (or REPLAY_TIME), reset before every call, so scripts cannot disturb
    each other or your data. ``audio`` False says every prompt (IVR_AUDIO=off); None leaves
    IVR_AUDIO as configured. Played prompts show in transcripts as their text."""
    from ivr.clock import ManualClock
    from ivr.testing.simulator import Simulator
    from ivr.testing.simulator import WsgiTransport
    from ivr.wallet import reset_demo

    overrides: dict[str, Any] = {"IVR_LOG_LEVEL": "WARNING"}
    if audio is False:
        overrides["IVR_AUDIO"] = False
    clock = None
    if isolated:
        folder = tempfile.mkdtemp(prefix="ivr-replay-")
        overrides["IVR_DATABASE_URL"] = f"sqlite:///{folder}/replay.sqlite3"
        at = datetime.fromisoformat(os.environ.get("IVR_CLOCK") or REPLAY_TIME)
        clock = ManualClock(at)
    app = _app(overrides, clock=clock)
    runtime = app.extensions["ivr"]
    token = app.config.get("TWILIO_AUTH_TOKEN")
    base = app.config.get("IVR_PUBLIC_URL") or "http://localhost"
    counter = [0]

    def make() -> Simulator:
        counter[0] += 1
        if clock is not None:
            clock.set(at)
            reset_demo(runtime.database, clock)
        return Simulator(
            WsgiTransport(app),
            base_url=base,
            auth_token=token,
            clock=clock,
            first_call=counter[0] * 10_000,
            play_text=runtime.play_text,
        )

    return make, runtime, app


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--url", help="Replay against a running server instead of in-process.")
@click.option(
    "--coverage", is_flag=True, help="Report which states and transitions the scripts reached."
)
@click.option("--color/--no-color", default=None, help="Colour output (default: when a terminal).")
def replay(paths: tuple[Path, ...], url: str | None, coverage: bool, color: bool | None) -> None:
    """Replay call scripts (files or folders; default tests/calls) and report."""
    from ivr.hotline.checks import wallet_checks
    from ivr.testing.replay import replay as run_replay

    targets = list(paths) or [Path("tests/calls")]
    missing = [p for p in targets if not p.exists()]
    if missing:
        _fail(
            f"no such file or folder: {missing[0]}", "give call scripts (*.yaml) or folders of them"
        )
    runtime = None
    if url:
        factory = remote_simulators(url, os.environ.get("TWILIO_AUTH_TOKEN"))
    else:
        factory, runtime, _ = local_simulators(isolated=True)
    shapes = None
    checks = {}
    if runtime is not None:
        checks = wallet_checks(runtime.services.wallet, runtime.services.recorder)
        if coverage:
            from ivr.testing.replay import FlowShape

            shapes = {n: FlowShape(*f.shape()) for n, f in runtime.flows.items()}
    elif coverage:
        click.echo("note: --coverage works in-process only; ignoring it with --url", err=True)
    use_color = sys.stdout.isatty() if color is None else color
    code = run_replay(
        targets, factory, checks=checks, coverage_shapes=shapes, out=sys.stdout, color=use_color
    )
    raise SystemExit(code)


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
def call(from_: str, lang: str | None, url: str | None, audio: bool) -> None:
    """Place an interactive call from the terminal: type keys, `say …`, or Enter for silence.

    Without --audio the in-process IVR says every prompt, so each line shows whole sentences;
    with --audio it plays current recordings (♪ lines) and this machine plays them too."""
    from ivr.testing.phone import run_phone

    runtime = None
    if url:
        factory = remote_simulators(url, os.environ.get("TWILIO_AUTH_TOKEN"))
    else:
        factory, runtime, _ = local_simulators(isolated=False, audio=None if audio else False)
    simulator = factory()
    speaker = _speaker(simulator, runtime) if audio else None
    live = simulator.dial(from_)
    if lang is not None and not live.ended:
        live.press("1" if lang == "zh" else "2")

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

    played = [0]

    def play_new() -> None:
        if speaker is not None:
            speaker.play(live.result.transcript[played[0] :])
            played[0] = len(live.result.transcript)

    def read(prompt: str) -> str:
        play_new()
        return click.prompt(prompt, default="", show_default=False, prompt_suffix="")

    run_phone(live, read_line=read, write=click.echo, describe_state=describe)
    play_new()


def _speaker(simulator: Any, runtime: Any) -> Any:
    """A speaker for ``ivr call --audio`` that learns which URL each played prompt came from,
    or None (having said why) where this machine cannot make sound."""
    from ivr.media.recordings import AudioLibrary
    from ivr.settings import load_config
    from ivr.testing.speaker import Speaker

    library = runtime.audio if runtime is not None else None
    if library is None:  # a remote server: its recordings, read from this checkout
        try:
            library = AudioLibrary.open(Path(load_config(os.environ)["IVR_AUDIO_DIR"]))
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


def _attach_optional_groups() -> None:
    """Command groups that live in their own modules (one job each)."""
    from ivr.cli.db import db
    from ivr.cli.prompts import prompts
    from ivr.cli.twilio import twilio

    main.add_command(twilio)
    main.add_command(prompts)
    main.add_command(db)


_attach_optional_groups()
