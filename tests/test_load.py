"""``ivr load``: the weighted mix, Poisson arrivals, think times, the figures per endpoint,
the apologies and failed scripts counted, and short runs on Locust against a live server.

Locust imports gevent, which patches the process that imports it; in this process it is
imported unpatched (``LOCUST_SKIP_MONKEY_PATCH``), so the in-process run below blocks on
each request, which a short run does not mind. A master and a worker also run as
``ivr load`` processes (marked ``slow``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from werkzeug.serving import make_server

from ivr.cli import load as cli_load
from ivr.cli.main import main
from ivr.errors import TwimlError
from ivr.testing.load import Callers
from ivr.testing.load import LoadPlan
from ivr.testing.load import MeasuredTransport
from ivr.testing.load import Tally
from ivr.testing.load import Weighted
from ivr.testing.load import endpoint
from ivr.testing.load import figures
from ivr.testing.load import pick
from ivr.testing.load import read_mix
from ivr.testing.scripts import load_script
from ivr.testing.simulator import HttpReply
from ivr.testing.simulator import WsgiTransport
from tests.conftest import AUTH_TOKEN
from tests.conftest import BASE_URL
from tests.conftest import MakeApp
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
ZHANG = "tests/calls/en_limits_and_fees_zhang_wei.yaml"
WANG = "tests/calls/en_complaint_status_wang_fang.yaml"

Request = tuple[str, str, float, int, BaseException | None]


def _plan(**changes: Any) -> LoadPlan:
    mix = (Weighted(load_script(ROOT / ZHANG), 1.0),)
    return LoadPlan(**{"url": BASE_URL, "mix": mix, "rate": 10.0, **changes})


# --- the mix --------------------------------------------------------------------------------


def test_a_mix_reads_weights_and_folders_and_drops_lasting_effects(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "a.yaml").write_text((ROOT / ZHANG).read_text())
    (folder / "b.yaml").write_text((ROOT / "tests/calls/en_keep_locked_li_na.yaml").read_text())

    mix = read_mix([f"{ROOT / WANG}=3", str(folder)])

    assert [(Path(w.script.path).name, w.weight) for w in mix] == [
        ("en_complaint_status_wang_fang.yaml", 3.0),
        ("a.yaml", 1.0),
        ("b.yaml", 1.0),
    ]
    assert all(w.script.effects == () for w in mix)


def test_a_weight_must_be_above_zero() -> None:
    with pytest.raises(ValueError, match="a weight must be a number above 0"):
        read_mix([f"{ROOT / WANG}=0"])


def test_scripts_are_picked_by_weight() -> None:
    zhang, wang = load_script(ROOT / ZHANG), load_script(ROOT / WANG)
    mix = [Weighted(zhang, 9.0), Weighted(wang, 1.0)]
    rng = random.Random(7)

    picked = [pick(mix, rng) for _ in range(1000)]

    assert 850 < picked.count(zhang) < 950


def test_a_request_is_reported_under_its_path_without_the_query() -> None:
    assert endpoint("http://h:5000/voice/step?n=3") == "/voice/step"
    assert endpoint("http://h:5000") == "/"


# --- arrivals -------------------------------------------------------------------------------


def test_arrivals_stop_at_the_calls_of_this_processs_share() -> None:
    callers = Callers(_plan(calls=7, processes=2), Tally(), _ignore, sleep=_no_sleep)

    assert len(callers.arrivals()) == 4  # 7 calls over 2 processes: 4 here


def test_arrivals_are_poisson_at_the_rate_until_the_duration() -> None:
    plan = _plan(rate=20.0, duration=100.0, seed=3)

    moments = Callers(plan, Tally(), _ignore, sleep=_no_sleep).arrivals()

    assert 1800 < len(moments) < 2200  # 20/s for 100 s
    gaps = [b - a for a, b in zip(moments, moments[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    assert 0.045 < mean < 0.055
    # exponential gaps: as many as 1 - 1/e of them are shorter than the mean
    assert 0.58 < sum(g < mean for g in gaps) / len(gaps) < 0.68
    assert moments[-1] <= 100.0


def test_calls_are_placed_at_their_moments_whatever_each_takes() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    spawned: list[object] = []
    tally = Tally()
    callers = Callers(_plan(calls=3, seed=1), tally, _ignore, sleep=sleep, clock=lambda: now[0])
    moments = callers.arrivals()
    callers.rng = random.Random(1)  # the same draws again

    callers.run(spawned.append)

    assert len(spawned) == 3
    assert tally.placed == 3
    assert now[0] == pytest.approx(moments[-1])


def test_arrivals_held_back_by_the_concurrency_cap_still_stop_at_the_duration() -> None:
    now = [0.0]

    def spawn(call: object) -> None:
        now[0] += 4.0  # the pool was full: this arrival waited 4 s for a free slot

    tally = Tally()
    callers = Callers(
        _plan(rate=10.0, duration=10.0, concurrency=1, seed=1),
        tally,
        _ignore,
        sleep=_no_sleep,
        clock=lambda: now[0],
    )

    callers.run(spawn)

    assert tally.placed == 3  # placed at 0, 4 and 8 s; at 12 s the duration (10 s) was over


# --- one call through the app ---------------------------------------------------------------


def test_a_call_runs_its_script_and_pauses_before_each_caller_action(make_app: MakeApp) -> None:
    app = make_app()
    requests: list[Request] = []
    pauses: list[float] = []
    tally = Tally()
    plan = _plan(think=(2.0, 6.0), auth_token=AUTH_TOKEN)
    callers = Callers(
        plan,
        tally,
        lambda *request: requests.append(request),
        sleep=pauses.append,
        transport=lambda: WsgiTransport(app),
    )

    callers.call(plan.mix[0].script)

    assert tally.passed == 1
    assert tally.failed == 0
    actions = [
        s for s in plan.mix[0].script.steps if type(s).__name__ not in ("Expect", "ExpectState")
    ]
    assert len(pauses) == len(actions)
    assert all(2.0 <= p <= 6.0 for p in pauses)
    names = [(method, name) for method, name, _, _, _ in requests]
    assert names[0] == ("POST", "/voice")
    assert names[-1] == ("POST", "/voice/status")
    assert all(error is None for *_, error in requests)


def test_a_call_that_fails_its_script_is_counted_with_why(make_app: MakeApp) -> None:
    app = make_app()
    tally = Tally()
    script = load_script(ROOT / WANG)
    wrong = type(script)(**{**script.__dict__, "from_": "+8613800000001"})  # Zhang has no ticket
    callers = Callers(
        _plan(auth_token=AUTH_TOKEN),
        tally,
        _ignore,
        sleep=_no_sleep,
        transport=lambda: WsgiTransport(app),
    )

    callers.call(wrong)

    assert tally.failed == 1
    (failure,) = tally.failures
    assert failure.startswith(f"{script.path}: expected the IVR to say")


class _Fixed:
    def __init__(self, reply: HttpReply | Exception) -> None:
        self.reply = reply

    def send(self, method: str, url: str, form: Any, headers: Any) -> HttpReply:
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_an_apology_is_counted_by_endpoint() -> None:
    requests: list[Request] = []
    tally = Tally()
    reply = HttpReply(200, {"x-ivr-state": "error"}, b"<Response/>", 0.012)
    transport = MeasuredTransport(_Fixed(reply), lambda *r: requests.append(r), tally)

    transport.send("POST", "http://h/voice/step?n=2", {}, {})

    assert requests == [("POST", "/voice/step", 12.0, 11, None)]
    assert tally.apologies == {"POST /voice/step": 1}


def test_an_http_error_status_is_a_failed_request() -> None:
    requests: list[Request] = []
    reply = HttpReply(503, {}, b"", 0.001)
    transport = MeasuredTransport(_Fixed(reply), lambda *r: requests.append(r), Tally())

    transport.send("POST", "http://h/voice", {}, {})

    ((*_, error),) = requests
    assert isinstance(error, TwimlError)
    assert str(error) == "http://h/voice: HTTP 503"


def test_a_connection_failure_is_reported_then_raised() -> None:
    requests: list[Request] = []
    failure = TwimlError("http://h/voice", "", "connection failed: refused")
    transport = MeasuredTransport(_Fixed(failure), lambda *r: requests.append(r), Tally())

    with pytest.raises(TwimlError):
        transport.send("POST", "http://h/voice", {}, {})

    ((method, name, _, size, error),) = requests
    assert (method, name, size, error) == ("POST", "/voice", 0, failure)


# --- the tally and the figures --------------------------------------------------------------


def test_a_workers_tally_is_taken_once_and_merged_at_the_master() -> None:
    script = load_script(ROOT / ZHANG)
    worker, master = Tally(), Tally()
    worker.placed = 9
    for n in range(7):
        worker.call_ended(script, False, f"problem {n}")
    worker.call_ended(script, True, None)
    worker.apologies["POST /voice"] += 2

    master.merge(worker.take())
    master.merge(worker.take())  # nothing new

    assert (master.placed, master.passed, master.failed) == (9, 1, 7)
    assert master.apologies == {"POST /voice": 2}
    assert master.failures == [f"{script.path}: problem {n}" for n in range(5)]


class _Entry:
    def __init__(self, requests: int, failures: int) -> None:
        self.num_requests = requests
        self.num_failures = failures

    def get_response_time_percentile(self, percent: float) -> int:
        return int(percent * 100)


def test_the_figures_give_each_endpoint_its_rate_percentiles_errors_and_apologies() -> None:
    tally = Tally(placed=4, passed=3, failed=1, failures=["x: why"])
    tally.apologies["POST /voice/step"] = 1
    entries = {("/voice/step", "POST"): _Entry(30, 2), ("/voice", "POST"): _Entry(10, 0)}

    report = figures(entries, _Entry(40, 2), tally, seconds=10.0, plan=_plan(calls=4))

    assert report["endpoints"] == {
        "POST /voice": {
            "requests": 10,
            "rps": 1.0,
            "p50_ms": 50,
            "p95_ms": 95,
            "p99_ms": 99,
            "errors": 0,
            "apologies": 0,
        },
        "POST /voice/step": {
            "requests": 30,
            "rps": 3.0,
            "p50_ms": 50,
            "p95_ms": 95,
            "p99_ms": 99,
            "errors": 2,
            "apologies": 1,
        },
    }
    assert report["total"]["requests"] == 40
    assert report["total"]["apologies"] == 1
    assert report["calls"] == {
        "placed": 4,
        "passed": 3,
        "failed": 1,
        "cut": 0,
        "per_s": 0.4,
        "failures": ["x: why"],
    }
    assert report["plan"] == {
        "rate": 10.0,
        "think": [2.0, 6.0],
        "calls": 4,
        "duration": 60.0,
        "concurrency": None,
        "scripts": 1,
    }


def test_no_time_gives_no_rate() -> None:
    report = figures({}, _Entry(0, 0), Tally(), seconds=0.0, plan=_plan())

    assert report["total"]["rps"] == 0.0
    assert report["calls"]["per_s"] == 0.0


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Locust imported unpatched in this process, and no restart to patch it."""
    monkeypatch.setenv("LOCUST_SKIP_MONKEY_PATCH", "1")
    monkeypatch.setattr(cli_load, "restart_patched", lambda: None)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--master", "--worker"], "--master and --worker exclude each other"),
        ([], "ivr load needs the IVR's URL first, got None"),
        (["127.0.0.1:5000", ZHANG], "needs the IVR's URL first, got '127.0.0.1:5000'"),
        (["http://127.0.0.1:5000"], "no call scripts given"),
        (["http://127.0.0.1:5000", ZHANG, "--think", "6-2"], "give 0 <= MIN <= MAX"),
        (["http://127.0.0.1:5000", ZHANG, "--think", "a-b"], "give seconds as MIN-MAX"),
    ],
)
@pytest.mark.usefixtures("patched")
def test_load_says_what_is_wrong_with_its_arguments(
    runner: CliRunner, args: list[str], said: str
) -> None:
    result = runner.invoke(main, ["load", *args])

    assert result.exit_code == 2
    assert said in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ivr/cli"], "no call scripts in ivr/cli"),
        ([f"{ZHANG}=x"], "could not convert string to float"),
        (["nowhere.yaml"], "no such file"),
    ],
)
@pytest.mark.usefixtures("patched")
def test_load_says_what_is_wrong_with_its_scripts(
    runner: CliRunner, live: str, args: list[str], said: str
) -> None:
    result = runner.invoke(main, ["load", live, *args])

    assert result.exit_code == 2
    assert said in result.output


@pytest.mark.usefixtures("patched")
def test_load_says_when_no_server_answers_at_the_url(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = runner.invoke(main, ["load", url, ZHANG])

    assert result.exit_code == 2
    assert f"error: no server answers at {url} (connection failed:" in result.output
    assert "start it with `ivr serve`" in result.output


@pytest.fixture
def live(make_app: MakeApp) -> Iterator[str]:
    """The hotline served over HTTP on a thread of this process (werkzeug's server: it stops
    cleanly)."""
    app: Flask = make_app(TWILIO_AUTH_TOKEN=None, IVR_AUDIO=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.usefixtures("patched")
def test_a_short_run_reports_every_endpoint_and_writes_json(
    runner: CliRunner, live: str, tmp_path: Path
) -> None:
    out = tmp_path / "load.json"

    result = runner.invoke(
        main,
        ["load", live, f"{ZHANG}=2", WANG, "--rate", "50", "--calls", "3", "--think", "0-0"]
        + ["--seed", "1", "--concurrency", "2", "--json", str(out)],
    )

    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["calls"]["placed"] == 3
    assert report["calls"]["passed"] == 3
    assert report["total"]["errors"] == 0
    assert set(report["endpoints"]) == {"POST /voice", "POST /voice/step", "POST /voice/status"}
    assert report["endpoints"]["POST /voice"]["requests"] == 3
    assert 0 < report["load_cpu_s"]
    assert "calls: 3 placed" in result.output
    assert "3 passed, 0 failed their script" in result.output


def _no_sleep(seconds: float) -> None:
    pass


def _ignore(*request: object) -> None:
    pass


# --- the command line in its own processes (slow) -------------------------------------------


@pytest.mark.slow
def test_a_master_and_a_worker_place_the_calls_together(live: str, tmp_path: Path) -> None:
    port = free_port()
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_", "LOCUST_"))
    }
    environ["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "ivr.cli.main", "load"]
    with (tmp_path / "worker.log").open("wb") as log:  # the child keeps its own copy
        worker = subprocess.Popen(
            [*command, "--worker", "--master-port", str(port)],
            env=environ,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    out = tmp_path / "load.json"
    try:
        master = subprocess.run(
            [*command, live, ZHANG, "--master", "--master-bind-host", "127.0.0.1"]
            + ["--master-bind-port", str(port), "--expect-workers", "1", "--rate", "20"]
            + ["--calls", "2", "--think", "0-0.1", "--json", str(out)],
            env=environ,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        worker.terminate()
        worker.wait(20)

    assert master.returncode == 0, master.stdout + master.stderr
    report = json.loads(out.read_text())
    assert report["calls"]["placed"] == 2
    assert report["calls"]["passed"] == 2
    assert report["endpoints"]["POST /voice"]["requests"] == 2


@pytest.mark.usefixtures("patched")
def test_a_master_hands_the_plan_to_its_worker_and_gathers_the_figures(
    live: str, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gevent

    from ivr.cli.context import CliContext
    from ivr.settings import Settings

    monkeypatch.setattr("locust.runners.WORKER_REPORT_INTERVAL", 0.2)
    port = free_port()
    cli = CliContext(Settings(audio_dir=ROOT / "audio_prompts"))
    options = {
        "master_host": "127.0.0.1",
        "master_port": port,
        "master_bind_host": "127.0.0.1",
        "master_bind_port": port,
        "expect_workers": 1,
    }
    plan = _plan(url=live, rate=50.0, calls=2, think=(0.0, 0.0), seed=2)
    worker = gevent.spawn(cli_load._run_worker, cli, options)
    try:
        env, tally = cli_load._run_master(plan, options)
    finally:
        worker.kill(block=True, timeout=5)

    assert (tally.placed, tally.passed, tally.failed) == (2, 2, 0)
    assert env.stats.entries[("/voice", "POST")].num_requests == 2


def test_load_starts_again_patched_unless_gevent_patched_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gevent import monkey

    started: list[list[str]] = []
    monkeypatch.setattr(cli_load.os, "execv", lambda exe, argv: started.append(argv))
    monkeypatch.setattr(sys, "argv", ["ivr", "load", "http://x", "a.yaml"])
    monkeypatch.setattr(monkey, "is_module_patched", lambda name: True)
    cli_load.restart_patched()
    assert started == []

    monkeypatch.setattr(monkey, "is_module_patched", lambda name: False)
    cli_load.restart_patched()

    ((_, flag, code, *rest),) = started
    assert flag == "-c"
    assert code.startswith("from gevent import monkey\nmonkey.patch_all()\n")
    assert rest == ["load", "http://x", "a.yaml"]


@pytest.mark.usefixtures("patched")
def test_a_worker_waits_for_its_master(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    joined: list[dict[str, Any]] = []
    monkeypatch.setattr(cli_load, "_run_worker", lambda cli, options: joined.append(options))

    result = runner.invoke(main, ["load", "--worker", "--master-host", "10.0.0.9"])

    assert result.exit_code == 0, result.output
    ((options,),) = [joined]
    assert (options["master_host"], options["master_port"]) == ("10.0.0.9", 5557)


def test_with_a_broken_recordings_library_played_prompts_are_not_read_as_text(
    tmp_path: Path,
) -> None:
    from ivr.cli.context import CliContext
    from ivr.settings import Settings

    (tmp_path / "manifest.yaml").write_text("recordings: [\n")  # not YAML
    cli = CliContext(Settings(audio_dir=tmp_path))

    assert cli_load._play_text(cli) is None


def test_the_table_lists_why_calls_failed(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally(placed=1, failed=1, failures=["x.yaml: expected the IVR to say 'hi'"])
    report = figures({}, _Entry(0, 0), tally, seconds=1.0, plan=_plan())

    cli_load._echo(report)

    assert capsys.readouterr().out.splitlines()[-2:] == [
        "calls: 1 placed (1.0/s), 0 passed, 1 failed their script, 0 cut at the end (1.0 s; percentiles in ms)",
        "  ✗ x.yaml: expected the IVR to say 'hi'",
    ]
