"""The `ivr` command tried as a new user would: a second `ivr call`, a replay against the Quick
start server, a typo in a URL, a port or a host, Ctrl-D, NO_COLOR, and `ivr serve` itself.

Each test runs the command through click's CliRunner (or, for `--reload`, as a process) and
asserts what the person sees: the exact error and next step, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import waitress
from click.testing import CliRunner
from click.testing import Result
from flask import Flask

from ivr.cli.main import main
from ivr.clock import FixedClock
from ivr.errors import ConfigError
from ivr.settings import Settings
from ivr.testing.factories import REPLAY_TIME
from ivr.web.app import create_app
from ivr.web.control import DemoClock
from ivr.web.control import install_demo_control
from tests.conftest import PIN_KEY
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
CALLS = ROOT / "tests" / "calls"


def error_lines(result: Result) -> list[str]:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.stderr.splitlines()


class Served:
    """An app on a real waitress server in a thread, as `ivr serve` runs it."""

    def __init__(self, app: Flask) -> None:
        self.server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        # Closed from inside its own loop (waitress's trigger), not under a running select.
        self.server.trigger.pull_trigger(self.server.close)  # type: ignore[union-attr]
        self.thread.join(5)
        self.server.task_dispatcher.shutdown()


def serve_in_thread(app: Flask) -> Iterator[Served]:
    served = Served(app)
    try:
        yield served
    finally:
        served.close()


def quick_start_settings(tmp_path: Path) -> Settings:
    """What the Quick start's `ivr serve` runs on: defaults, its own database."""
    return Settings().with_values(
        {"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'server.sqlite3'}", "IVR_LOG_LEVEL": "WARNING"}
    )


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Served]:
    """The Quick start server, started with --demo-control."""
    clock = DemoClock(FixedClock(REPLAY_TIME))
    app = create_app(settings=quick_start_settings(tmp_path), clock=clock)
    install_demo_control(app, clock)
    yield from serve_in_thread(app)


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[Served]:
    """The Quick start server, started without --demo-control."""
    yield from serve_in_thread(create_app(settings=quick_start_settings(tmp_path)))


# -- ivr call ---------------------------------------------------------------------------------


def test_ivr_call_twice_in_a_row_gives_each_call_a_fresh_call_sid(runner: CliRunner) -> None:
    keys = "2\n123456\n0\n"  # English, a PIN, then an agent: the call ends queued
    first = runner.invoke(main, ["call", "--from", "+8613800000002"], input=keys)
    second = runner.invoke(main, ["call", "--from", "+8613800000002"], input=keys)
    for result in (first, second):
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        assert "Thank you, Li Na, you are verified." in result.output


def test_ctrl_d_in_ivr_call_hangs_up_and_exits_zero(runner: CliRunner) -> None:
    result = runner.invoke(main, ["call"], input="")
    assert result.exit_code == 0, result.output
    assert "Aborted!" not in result.output
    assert result.output.rstrip().splitlines()[-1] == "call ended caller-hangup"


# -- replay against a running server ----------------------------------------------------------


@pytest.mark.slow  # a whole suite of calls, or a server process: its own CI stage
def test_the_shipped_scripts_replay_against_a_demo_control_server_or_skip_with_the_reason(
    runner: CliRunner, demo_server: Served
) -> None:
    result = runner.invoke(main, ["replay", "--no-color", "--url", demo_server.url])
    lines = result.output.rstrip().splitlines()
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    texts = [path.read_text() for path in CALLS.rglob("*.yaml")]
    skipped = sum(1 for text in texts if "\neffects:" in text or "\ncallback:" in text)
    assert lines[-1] == f"{len(texts) - skipped} passed, 0 failed, {skipped} skipped"
    assert (
        "    skipped: checks account: lasting effects and call backs are checked only "
        "in-process (`ivr replay` without --url)"
    ) in lines
    assert any(line.startswith("    skipped: checks a call back (the dialer)") for line in lines)


def test_replay_sets_the_servers_clock_and_resets_its_demo_data_before_each_script(
    runner: CliRunner, demo_server: Served
) -> None:
    # After hours first (at: 22:30), then a daytime script: the clock is set for each.
    scripts = [
        str(CALLS / "en_after_hours_callback_li_na.yaml"),
        str(CALLS / "en_limits_and_fees_zhang_wei.yaml"),
    ]
    for script in scripts:
        assert Path(script).exists(), script
    result = runner.invoke(main, ["replay", "--no-color", "--url", demo_server.url, *scripts])
    assert result.output.rstrip().splitlines()[-1] == "2 passed, 0 failed", result.output
    with urllib.request.urlopen(demo_server.url + "/demo/control") as reply:
        state = json.loads(reply.read())
    assert state["fixed"] is True


def test_replay_against_a_server_without_demo_control_says_how_to_start_one(
    runner: CliRunner, plain_server: Served
) -> None:
    result = runner.invoke(main, ["replay", "--url", plain_server.url])
    assert error_lines(result) == [
        f"error: the server at {plain_server.url} was not started for replays: call scripts "
        "need to set its clock and reset its demo data",
        "  → start it with `ivr serve --demo-control` (a local server, no TWILIO_AUTH_TOKEN)",
    ]


def test_demo_control_is_off_unless_installed(tmp_path: Path) -> None:
    app = create_app(settings=quick_start_settings(tmp_path))
    reply = app.test_client().post("/demo/control", data={"reset": "1"})
    assert reply.status_code == 404


def test_demo_control_is_refused_on_a_public_server(tmp_path: Path, runner: CliRunner) -> None:
    public = {"TWILIO_AUTH_TOKEN": "secret", "IVR_PIN_KEY": PIN_KEY}
    settings = quick_start_settings(tmp_path).with_values(public)
    clock = DemoClock(FixedClock(REPLAY_TIME))
    app = create_app(settings=settings, clock=clock)
    with pytest.raises(ConfigError, match="refused on a public server"):
        install_demo_control(app, clock)
    result = runner.invoke(main, ["serve", "--demo-control"], env=public)
    assert error_lines(result)[0] == (
        "error: --demo-control is refused on a public server (TWILIO_AUTH_TOKEN is set)"
    )


def test_demo_control_sets_and_advances_the_clock_and_refuses_a_time_without_offset(
    tmp_path: Path,
) -> None:
    clock = DemoClock(FixedClock(REPLAY_TIME))
    app = create_app(settings=quick_start_settings(tmp_path), clock=clock)
    install_demo_control(app, clock)
    client = app.test_client()
    assert client.get("/demo/control").json == {
        "clock": "2026-11-23T02:00:00+00:00",
        "fixed": False,
    }
    reply = client.post("/demo/control", data={"at": "2026-11-23T22:30:00+08:00"})
    assert reply.json == {"clock": "2026-11-23T14:30:00+00:00", "fixed": True}
    assert client.post("/demo/control", data={"at": "2026-11-23T22:30"}).status_code == 400
    assert client.post("/demo/control", data={"release": "1"}).json["fixed"] is False


# -- slips: URLs, ports, hosts ----------------------------------------------------------------


def test_a_server_that_is_down_is_named_with_how_to_start_it(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for command in (["replay", "--url", url], ["call", "--url", url]):
        lines = error_lines(runner.invoke(main, command, input="q\n"))
        assert (
            lines[0]
            == f"error: no IVR answers at {url} (connection failed: [Errno 111] Connection refused)"
        )
        assert lines[1] == "  → start it with `ivr serve` (or check the --url you gave)"


def test_a_url_without_http_is_a_clear_error(runner: CliRunner) -> None:
    lines = error_lines(runner.invoke(main, ["call", "--url", "127.0.0.1:5000"]))
    assert lines == [
        "error: --url '127.0.0.1:5000' is not a web address",
        "  → give it with http:// or https://, e.g. --url http://127.0.0.1:5000",
    ]


def test_a_port_out_of_range_is_refused_before_anything_starts(runner: CliRunner) -> None:
    result = runner.invoke(main, ["serve", "--port", "99999"])
    assert result.exit_code == 2
    assert "serving" not in result.output
    assert "Invalid value for '--port': 99999 is not in the range 1<=x<=65535." in result.output


def test_a_bad_host_is_told_to_fix_the_host_not_the_port(runner: CliRunner) -> None:
    result = runner.invoke(main, ["serve", "--host", "no-such-host.invalid", "--port", "5999"])
    assert error_lines(result) == [
        "error: cannot listen on host 'no-such-host.invalid': no such host name or address",
        "  → check --host: an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
    ]


def test_serve_says_serving_only_once_the_port_is_bound(runner: CliRunner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", "--port", str(port)])
    assert "serving" not in result.output
    assert error_lines(result) == [
        f"error: cannot listen on port {port}: another program is using it",
        "  → pick another port with --port",
    ]


def test_no_color_turns_colour_off(runner: CliRunner) -> None:
    coloured = runner.invoke(main, ["check"], color=True)
    plain = runner.invoke(main, ["check"], color=True, env={"NO_COLOR": "1"})
    assert "\x1b[" in coloured.output
    assert "\x1b[" not in plain.output
    assert plain.output.replace("✓", "") == coloured.output.replace("✓", "").replace(
        "\x1b[32m", ""
    ).replace("\x1b[0m", "").replace("\x1b[33m", "").replace("\x1b[31m", "")


# -- ivr serve --------------------------------------------------------------------------------


def test_the_front_page_points_to_health_the_agents_and_the_docs(tmp_path: Path) -> None:
    client = create_app(settings=quick_start_settings(tmp_path)).test_client()
    reply = client.get("/", headers={"Accept": "application/json"})
    assert reply.status_code == 200
    assert reply.json == {
        "service": "ivr",
        "flow": "hotline",
        "health": "/health",
        "agents": "/agent/",
        "dashboard": "/dashboard/",
        "webhook": "http://localhost/voice",
        "docs": "README.md in the project folder",
    }
    page = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert '<a href="/health">/health</a>' in page
    assert '<a href="/agent/">/agent/</a>' in page
    assert '<a href="/dashboard/">/dashboard/</a>' in page


def _wait_for(url: str, seconds: float) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                body: bytes = reply.read()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow  # a whole suite of calls, or a server process: its own CI stage
def test_serve_reload_restarts_when_a_flow_file_changes(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(ROOT / "flows" / "hotline.yaml", flows / "hotline.yaml")
    port = free_port()
    env = {
        **os.environ,
        "IVR_FLOWS_DIR": str(flows),
        "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'reload.sqlite3'}",
        "IVR_LOG_LEVEL": "WARNING",
    }
    env.pop("TWILIO_AUTH_TOKEN", None)
    command = [sys.executable, "-m", "ivr.cli.main", "serve", "--reload", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        health = f"http://127.0.0.1:{port}/health"
        assert json.loads(_wait_for(health, 30))["flows"] == ["hotline"]
        text = (flows / "hotline.yaml").read_text(encoding="utf-8")
        second = text.replace("\nflow: hotline\n", "\nflow: second\n")
        (flows / "second.yaml").write_text(second, encoding="utf-8")
        deadline = time.monotonic() + 30
        while json.loads(_wait_for(health, 30))["flows"] != ["hotline", "second"]:
            assert time.monotonic() < deadline, "the server did not pick up the new flow"
            time.sleep(0.3)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "changed; restarting" in output
