"""Every call script in ``tests/calls/`` replayed against the real hotline, one test per script.

Each script gets a fresh app (its own SQLite database with the demo customers, signatures
checked with a test auth token, the clock fixed at 2026-11-23T02:00Z) and a fresh simulator, so
no script sees another's effects. A failure shows the same turn-by-turn diff as ``ivr replay``.
A last test replays them all and measures how much of the hotline flow they reach.

Owns only ``tests/calls/*.yaml`` and this module; it must not change the IVR or its flows.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask

from ivr.clock import ManualClock
from ivr.hotline.checks import wallet_checks
from ivr.testing.replay import CoverageReport
from ivr.testing.replay import FlowShape
from ivr.testing.replay import coverage_report
from ivr.testing.replay import format_coverage
from ivr.testing.replay import format_result
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script
from ivr.testing.scripts import run_script
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.web.app import Runtime
from ivr.web.app import create_app

CALLS = Path(__file__).parent / "calls"
SCRIPTS = discover([CALLS])
AUTH_TOKEN = "test-auth-token-for-call-scripts"
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
FLOW = "hotline"
MIN_STATE_COVERAGE = 90.0

# Scripts that fail because of a real IVR bug, with the bug: file stem -> reason.
KNOWN_BUGS: dict[str, str] = {}
RESTING_TYPES = frozenset({"menu", "entry", "record", "transfer", "hangup"})
MAIN_MENU_ZH = "请选择您要咨询的问题。"


def _params() -> list[object]:
    return [
        pytest.param(
            path,
            id=path.stem,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path.stem])]
            if path.stem in KNOWN_BUGS
            else [],
        )
        for path in SCRIPTS
    ]


def _fresh_app(tmp_path: Path, clock: ManualClock) -> Flask:
    return create_app(
        {
            "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
            "IVR_LOG_LEVEL": "WARNING",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        },
        clock=clock,
        environ={},
    )


def _runtime(app: Flask) -> Runtime:
    runtime = app.extensions["ivr"]
    assert isinstance(runtime, Runtime)
    return runtime


def _replay(path: Path, tmp_path: Path) -> tuple[ScriptResult, Runtime]:
    """One script on a fresh app and a fresh simulator sharing one manual clock."""
    clock = ManualClock(START)
    app = _fresh_app(tmp_path, clock)
    runtime = _runtime(app)
    simulator = Simulator(
        WsgiTransport(app),
        base_url="http://localhost",
        auth_token=AUTH_TOKEN,
        clock=clock,
        play_text=runtime.play_text,  # a played prompt reads as the text it was recorded from
    )
    checks = wallet_checks(runtime.services.wallet, runtime.services.recorder)
    return run_script(load_script(path), simulator, checks=checks), runtime


def test_there_are_at_least_thirty_call_scripts() -> None:
    assert len(SCRIPTS) >= 30


@pytest.mark.parametrize("path", _params())
def test_call_script_replays(path: Path, tmp_path: Path) -> None:
    result, _ = _replay(path, tmp_path)
    if not result.passed:
        pytest.fail(format_result(result, color=False), pytrace=False)


def _replay_all(tmp_path: Path) -> tuple[CoverageReport, Runtime]:
    results: list[ScriptResult] = []
    runtime: Runtime | None = None
    for index, path in enumerate(SCRIPTS):
        folder = tmp_path / str(index)
        folder.mkdir()
        result, runtime = _replay(path, folder)
        results.append(result)
    assert runtime is not None
    shapes = {name: FlowShape(*flow.shape()) for name, flow in runtime.flows.items()}
    return coverage_report(results, shapes), runtime


def test_call_scripts_cover_at_least_ninety_percent_of_the_hotline_states(
    tmp_path: Path,
) -> None:
    report, _ = _replay_all(tmp_path)
    assert report.state_pct(FLOW) >= MIN_STATE_COVERAGE, format_coverage(report, color=False)


def test_call_scripts_reach_every_hotline_state_a_reply_can_rest_in(tmp_path: Path) -> None:
    report, runtime = _replay_all(tmp_path)
    flow = runtime.flows[FLOW].flow
    resting = {name for name, state in flow.states.items() if state.type in RESTING_TYPES}
    # Reached only when Twilio reports a full or failed queue, which a scripted caller cannot
    # cause: tests/test_waiting.py drives it through the webhook.
    resting -= {"agent_unavailable"}
    assert len(resting) == 18
    assert resting <= set(report.flows[FLOW].visited_states), format_coverage(report, color=False)


def test_three_wrong_pins_hand_the_caller_over_as_verification_failed(tmp_path: Path) -> None:
    result, runtime = _replay(CALLS / "zh_three_wrong_pins_to_agent.yaml", tmp_path)
    record = runtime.services.recorder.record(result.call.call_sid)
    assert record is not None
    assert (record.outcome, record.reason, record.queue) == (
        "agent",
        "verification failed",
        "general",
    )
    assert record.handoff is not None
    assert (record.handoff.reason, record.handoff.verified) == ("verification failed", False)
    wrong = ["ask_pin", "check_pin", "wrong_pin"]
    assert result.call.states == [
        "welcome",
        "identify",
        *wrong,
        *wrong,
        "ask_pin",
        "check_pin",
        "agent",
    ]
    assert not any(MAIN_MENU_ZH in turn.text for turn in result.call.transcript)
