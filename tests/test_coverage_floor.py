"""``ivr replay --coverage --fail-under N`` and unreachable transitions counted apart.

Owns only this module; it replays one shipped script, so the floor it tests can fail both ways.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from ivr.cli.main import main
from ivr.testing.replay import FlowShape
from ivr.testing.replay import read_unreachable

SCRIPT = Path(__file__).parent / "calls" / "zh_star_goes_back.yaml"
# The floor holds for every flow: the callback call's flow needs a script of its own.
CALLBACK = Path(__file__).parent / "calls" / "zh_after_hours_stranger_cancels_the_callback.yaml"


def test_replay_fails_under_the_floor_and_passes_over_it(tmp_path: Path) -> None:
    runner = CliRunner(env={"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    low = runner.invoke(main, ["replay", "--coverage", "--fail-under", "99", str(SCRIPT)])
    assert low.exit_code == 1
    assert "transition coverage of 'hotline' is under 99% (--fail-under)" in low.output
    assert "transition coverage of 'callback' is under 99% (--fail-under)" in low.output
    high = runner.invoke(
        main, ["replay", "--coverage", "--fail-under", "1", str(SCRIPT), str(CALLBACK)]
    )
    assert high.exit_code == 0, high.output


def test_unreachable_transitions_are_counted_apart(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    pair = ("payment_details", "solved")  # no failure reason the wallet stores falls through
    rows = [{"flow": "hotline", "source": pair[0], "target": pair[1], "reason": "r"}]
    (folder / "unreachable.json").write_text(json.dumps(rows), encoding="utf-8")
    assert read_unreachable([folder]) == {"hotline": frozenset({pair})}
    runner = CliRunner(env={"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    result = runner.invoke(main, ["replay", "--coverage", "--no-color", str(folder)])
    assert "transitions" in result.output
    assert "/152 (" in result.output  # the hotline's 153 transitions, less the one listed
    assert "1 unreachable counted apart" in result.output


def test_a_state_only_unreachable_transitions_lead_to_is_counted_apart_too() -> None:
    moves = frozenset({("a", "b"), ("b", "c"), ("a", "c"), ("a", "d")})
    one_way_left = FlowShape(frozenset("abcd"), moves, frozenset({("a", "c"), ("a", "d")}))
    none_left = FlowShape(frozenset("abcd"), moves, frozenset({("a", "c"), ("b", "c")}))

    assert one_way_left.unreachable_states == {"d"}  # c is still reached from b
    assert none_left.unreachable_states == {"c"}
    assert none_left.reachable_states == {"a", "b", "d"}  # a, the start, is led to by nothing
