"""Every call script in ``tests/calls/`` (the hand-written ones and ``generated/``, which
``ivr scripts generate`` writes) replayed against the real hotline, once per test run.

Each script gets a fresh app (``tests.conftest.hotline_app``: its own SQLite database with the
demo customers, signatures checked, the clock at ``T0``) and a fresh simulator, so no script
sees another's effects. Every prompt of the hotline has a recording (stand-in WAV files, the
manifest noting each prompt's text, as ``ivr prompts render`` would), so every fixed word is
played and reads in the transcript as the text it was recorded from: a prompt id and a text
that disagree anywhere fail a script.

The ``replays`` session fixture replays each script the first time a test asks for it and keeps
the result and the app's runtime. One test per script fails with the same turn-by-turn diff as
``ivr replay``; the coverage floors and the tests of what a script cannot name (the hand-off an
agent sees, the call record) read the same replays instead of calling again. Under pytest-xdist
(``-n 2``) the module runs in one worker (``--dist loadfile`` in pyproject.toml), so this holds.

Owns only ``tests/calls/**`` and this module; it must not change the IVR or its flows.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.clock import ManualClock
from ivr.hotline.checks import wallet_checks
from ivr.testing.factories import LocalSimulators
from ivr.testing.replay import CoverageReport
from ivr.testing.replay import FlowShape
from ivr.testing.replay import coverage_report
from ivr.testing.replay import format_coverage
from ivr.testing.replay import format_result
from ivr.testing.replay import read_unreachable
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script
from ivr.testing.scripts import run_script
from ivr.web.runtime import Runtime
from tests.conftest import T0
from tests.conftest import hotline_app
from tests.conftest import runtime_of
from tests.test_audio import SHIPPED
from tests.test_audio import hotline_prompts
from tests.test_audio import record

CALLS = Path(__file__).parent / "calls"
SCRIPTS = discover([CALLS])
FLOW = "hotline"
MIN_STATE_COVERAGE = 100.0  # every state of the hotline is reached by a call script

# Scripts that fail because of a real IVR bug, with the bug: file stem -> reason.
KNOWN_BUGS: dict[str, str] = {}
RESTING_TYPES = frozenset({"menu", "entry", "record", "transfer", "hangup"})
MAIN_MENU_ZH = "请选择您要咨询的问题。"


@dataclass(frozen=True)
class Replayed:
    """One script's replay and the app it ran on (its wallet and call records stay readable)."""

    result: ScriptResult
    runtime: Runtime


class Replays:
    """Each script replayed at most once, on first request, on a fresh app and simulator."""

    def __init__(self, folder: Path, recordings: Path) -> None:
        self._folder = folder
        self._recordings = recordings
        self._done: dict[Path, Replayed] = {}

    def __getitem__(self, path: Path) -> Replayed:
        if path not in self._done:
            self._done[path] = self._replay(path)
        return self._done[path]

    def every(self) -> list[Replayed]:
        return [self[path] for path in SCRIPTS]

    def close(self) -> None:
        for replayed in self._done.values():
            replayed.runtime.database.dispose()

    def _replay(self, path: Path) -> Replayed:
        folder = self._folder / path.stem
        folder.mkdir()
        clock = ManualClock(T0)
        app = hotline_app(folder, clock, IVR_AUDIO_DIR=str(self._recordings))
        runtime = runtime_of(app)
        # Signed with the app's token, at its URL; a played prompt reads as the text it was
        # recorded from; the app's callback dialer wired in (a script's `callback:`).
        simulator = LocalSimulators(app, clock=clock)()
        checks = wallet_checks(runtime.services.wallet, runtime.services.recorder)
        result = run_script(load_script(path), simulator, checks=checks)
        runtime.database.dispose()  # closes the file; a later read opens it again
        return Replayed(result, runtime)


@pytest.fixture(scope="session")
def replays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replays]:
    folder = tmp_path_factory.mktemp("replays")
    recordings = folder / "audio"
    recordings.mkdir()
    record(recordings, hotline_prompts())
    shutil.copytree(SHIPPED / "music", recordings / "music")
    replays = Replays(folder, recordings)
    yield replays
    replays.close()


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


def test_there_are_at_least_thirty_call_scripts() -> None:
    assert len(SCRIPTS) >= 30


@pytest.mark.parametrize("path", _params())
def test_call_script_replays(path: Path, replays: Replays) -> None:
    result = replays[path].result
    if not result.passed:
        pytest.fail(format_result(result, color=False), pytrace=False)


# -- over every script ------------------------------------------------------------------------


def _coverage(replays: Replays) -> CoverageReport:
    every = replays.every()
    unreachable = read_unreachable([CALLS])
    shapes = {
        name: FlowShape(*flow.shape(), unreachable.get(name, frozenset()))
        for name, flow in every[0].runtime.flows.items()
    }
    return coverage_report([replayed.result for replayed in every], shapes)


def test_call_scripts_reach_every_hotline_state(replays: Replays) -> None:
    report = _coverage(replays)
    assert report.state_pct(FLOW) >= MIN_STATE_COVERAGE, format_coverage(report, color=False)


def test_call_scripts_take_every_hotline_transition_a_caller_can_take(replays: Replays) -> None:
    """The hand-written scripts and ``tests/calls/generated``; the transitions no caller can
    take are listed in its ``unreachable.json``, with the reason."""
    report = _coverage(replays)
    flow = report.flows[FLOW]
    assert flow.shape.unreachable == {
        ("payment_details", "solved"),  # the wallet stores no other failure reason
        # a PIN hash under a key the server lacks: no demo account has one
        ("check_pin", "pin_unchecked"),
        ("pin_unchecked", "agent"),
    }
    assert flow.transition_pct == 100.0, format_coverage(report, color=False)
    assert len(flow.shape.reachable) == 150


def test_call_scripts_reach_every_hotline_state_a_reply_can_rest_in(replays: Replays) -> None:
    report = _coverage(replays)
    flow = replays.every()[0].runtime.flows[FLOW].flow
    resting = {name for name, state in flow.states.items() if state.type in RESTING_TYPES}
    # agent_unavailable too: a script asks for a full queue (`agent: {result: queue-full}`)
    assert len(resting) == 24  # the lockout, no-PIN, freeze and closed-line menus: 5 more
    assert resting <= set(report.flows[FLOW].visited_states), format_coverage(report, color=False)


def test_every_script_hears_its_fixed_words_played_from_their_recordings(
    replays: Replays,
) -> None:
    """Ids and texts agree everywhere: the engine tags each fixed text with the id the
    manifest recorded it under, so played prompts read exactly as said ones would."""
    turns = [turn for replayed in replays.every() for turn in replayed.result.call.transcript]
    unknown = [turn.url for turn in turns if turn.text.startswith("[play")]
    assert unknown == []
    assert sum(1 for turn in turns if turn.kind == "play") > 10 * len(SCRIPTS)


# -- what a script cannot name: the agent's hand-off and the call record ----------------------


def test_three_wrong_pins_hand_the_caller_over_as_verification_failed(replays: Replays) -> None:
    replayed = replays[CALLS / "zh_three_wrong_pins_to_agent.yaml"]
    result = replayed.result
    record = replayed.runtime.services.recorder.record(result.call.call_sid)
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
        "pin_locked",
        "agent",
    ]
    assert not any(MAIN_MENU_ZH in turn.text for turn in result.call.transcript)


@pytest.mark.parametrize(
    "script", ["zh_stolen_zhang_wei.yaml", "en_stolen_wang_fang.yaml"], ids=["zh", "en"]
)
def test_a_stolen_account_is_handed_to_security_first_as_verified_with_the_step_tried(
    replays: Replays, script: str
) -> None:
    replayed = replays[CALLS / script]
    record = replayed.runtime.services.recorder.record(replayed.result.call.call_sid)
    assert record is not None
    handoff = record.handoff
    assert handoff is not None
    assert (handoff.queue, handoff.priority, handoff.verified, handoff.reason) == (
        "security",
        10,
        True,
        "account reported stolen",
    )
    assert handoff.steps_tried[0] == "stolen"


@pytest.mark.parametrize(
    "script",
    [
        "zh_unlock_li_na.yaml",
        "en_unlock_li_na.yaml",
        "en_limits_solved_then_hangs_up_at_the_survey_zhang_wei.yaml",
    ],
    ids=["zh", "en", "hung up at the survey"],
)
def test_an_unlock_that_solved_the_problem_is_recorded_as_self_served(
    replays: Replays, script: str
) -> None:
    replayed = replays[CALLS / script]
    record = replayed.runtime.services.recorder.record(replayed.result.call.call_sid)
    assert record is not None
    assert (record.outcome, record.handoff) == ("self_served", None)
