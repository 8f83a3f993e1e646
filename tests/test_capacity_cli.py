"""`ivr capacity` and `ivr demo calls` as a user runs them: the table, JSON and CSV, the
what-if options with the change in agents per hour, and slips said without a traceback."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result

from ivr.cli.main import main
from ivr.clock import ManualClock
from ivr.db import make_engine
from ivr.stores.records import CallRecorder
from tests.conftest import T0

ROOT = Path(__file__).resolve().parent.parent
TEN = T0  # Monday 2026-11-23 10:00 in Shanghai
DAY = ["--from", "2026-11-23", "--to", "2026-11-23"]


@pytest.fixture
def runner(cli_env: dict[str, str | None]) -> CliRunner:
    """The CLI on the shipped flows and recordings, wherever pytest runs from."""
    return CliRunner(
        env={
            **cli_env,
            "IVR_FLOWS_DIR": str(ROOT / "flows"),
            "IVR_AUDIO_DIR": str(ROOT / "audio_prompts"),
        }
    )


@pytest.fixture
def records(runner: CliRunner, tmp_path: Path) -> None:
    """Monday 10:00-11:00: 30 payments callers, one every two minutes; every third gives up
    after 120 s, the others are answered after 20 s and talk 300 s."""
    assert invoke(runner, "db", "upgrade").exit_code == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    clock = ManualClock(TEN)
    recorder = CallRecorder(engine, clock)
    for n in range(30):
        sid = f"CA{n:032x}"
        clock.set(TEN + timedelta(minutes=2 * n))
        recorder.start(sid, flow="hotline", caller="+8613800000001", lang="zh-CN")
        recorder.finish(sid, outcome="agent", queue="payments")
        recorder.handoff(
            sid, queue="payments", priority=0, account_id=None, caller_name=None,
            verified=False, issue=None, steps_tried=[], reason=None,
        )  # fmt: skip
        if n % 3 == 0:
            clock.advance(120)
            recorder.handoff_status(sid, "abandoned", waited_s=120)
        else:
            clock.advance(320)
            recorder.handoff_status(sid, "bridged", waited_s=20)
        recorder.close(sid, duration_s=300, status="completed")
    engine.dispose()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args))


def test_the_table_prints_what_was_measured_and_the_agents_each_hour_needs(
    runner: CliRunner, records: None
) -> None:
    result = invoke(runner, "capacity", *DAY)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Measured 2026-11-23 to 2026-11-23 (1 day, Asia/Shanghai): 30 calls, "
        "0 self-served (0%), 30 reached an agent queue (100%)"
    )
    assert lines[2] == (
        "payments: 80% answered within 20 s, at most 5% give up; "
        "handle time 300 s (20 answered), patience 160 s (10 gave up)"
    )
    assert lines[4].startswith("  Mon 10:00    30.0  100%   300 ( 20)   160 ( 10)    5   5   92%")
    assert lines[4].endswith("48%  ████████████████████████ 5")


def test_json_carries_every_figure_and_its_count(runner: CliRunner, records: None) -> None:
    result = invoke(runner, "capacity", *DAY, "--format", "json")

    document = json.loads(result.output)
    assert document["calls"] == 30
    assert document["queues"]["payments"] == {
        "handle_time": {"seconds": 300.0, "calls": 20, "from": "queue"},
        "patience": {"seconds": 160.0, "calls": 10, "from": "queue"},
    }
    (hour,) = document["hours"]
    assert (hour["queue"], hour["hour"], hour["calls_per_hour"]) == ("payments", "Mon 10:00", 30.0)
    assert (hour["agents_erlang_c"], hour["agents_erlang_a"], hour["agents"]) == (5, 5, 5)
    assert hour["model"] == "Erlang A"
    assert hour["service_level"] >= 0.8
    assert hour["abandon"] <= 0.05


def test_csv_has_one_row_per_queue_and_hour(runner: CliRunner, records: None) -> None:
    result = invoke(runner, "capacity", *DAY, "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 1
    assert (rows[0]["queue"], rows[0]["agents"], rows[0]["occupancy"]) == ("payments", "5", "0.483")


@pytest.mark.parametrize(
    ("option", "agents", "change"),
    [
        (["--containment", "+50%"], 4, -1),  # 30 → 15 calls an hour: half of all calls
        (["--arrivals", "x1.5"], 7, 2),
        (["--arrivals", "×2"], 8, 3),
        (["--arrivals", "+50%"], 7, 2),
        (["--aht", "600"], 8, 3),
    ],
)
def test_a_what_if_prints_the_change_in_agents_per_hour(
    runner: CliRunner, records: None, option: list[str], agents: int, change: int
) -> None:
    result = invoke(runner, "capacity", *DAY, *option, "--format", "json")

    (hour,) = json.loads(result.output)["hours"]
    assert (hour["agents_as_measured"], hour["agents"], hour["agents_change"]) == (
        5,
        agents,
        change,
    )


def test_the_table_of_a_what_if_shows_was_and_the_change(runner: CliRunner, records: None) -> None:
    result = invoke(runner, "capacity", *DAY, "--arrivals", "x1.5")

    assert "What if: arrivals ×1.5" in result.output
    header, row = result.output.splitlines()[4:6]
    assert header.endswith("occ  was  Δ")
    assert row.startswith("  Mon 10:00    45.0  100%   300 ( 20)   160 ( 10)    6   7   94%")
    assert row.endswith("52%    5 +2  ████████████████████████ 7")


def test_a_target_on_the_command_line_overrides_the_flows(runner: CliRunner, records: None) -> None:
    result = invoke(
        runner, "capacity", *DAY, "--target", "0.95", "--answer-within", "10", "--format", "json"
    )

    (hour,) = json.loads(result.output)["hours"]
    assert hour["agents"] == 6  # one more than for 80% within 20 s
    assert hour["service_level"] >= 0.95


def test_simulate_adds_the_simulated_service_level(runner: CliRunner, records: None) -> None:
    result = invoke(runner, "capacity", *DAY, "--simulate", "--format", "json")

    (hour,) = json.loads(result.output)["hours"]
    assert hour["simulated_service_level"] == pytest.approx(hour["service_level"], abs=0.03)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--containment", "lots"], "--containment 'lots' is not a change in percent"),
        (["--arrivals", "double"], "--arrivals 'double' is not a factor"),
        (["--aht", "0"], "--aht 0: a handle time is more than 0 s"),
        (["--from", "23/11/2026"], "--from '23/11/2026' is not a date"),
        (["--from", "2026-11-24", "--to", "2026-11-23"], "--to 2026-11-23 comes before"),
        (["--target", "80"], "the service-level share must be between 0 and 1"),
    ],
)
def test_a_slip_on_the_command_line_says_what_to_write(
    runner: CliRunner, records: None, args: list[str], problem: str
) -> None:
    result = invoke(runner, "capacity", *args)

    assert result.exit_code == 2
    assert problem in result.output
    assert "Traceback" not in result.output


def test_a_period_without_queued_callers_says_how_to_make_a_demo_day(runner: CliRunner) -> None:
    result = invoke(runner, "capacity", "--from", "2026-01-05")

    assert result.exit_code == 2
    assert "no caller reached an agent queue from 2026-01-05 to 2026-02-01 (0 calls" in (
        result.output
    )
    assert "ivr demo calls --day 2026-11-23" in result.output


def test_demo_calls_fill_the_records_that_capacity_then_measures(runner: CliRunner) -> None:
    made = invoke(runner, "demo", "calls", "--day", "2026-11-23", "--calls", "20", "--seed", "4")

    assert made.exit_code == 0, made.output
    assert made.output.splitlines()[0].startswith("20 calls placed on 2026-11-23 into sqlite:")
    assert made.output.splitlines()[-1] == "→ ivr capacity --from 2026-11-23 --to 2026-11-23"
    measured = invoke(runner, "capacity", *DAY, "--format", "json")
    assert json.loads(measured.output)["calls"] == 20


def test_demo_calls_refuse_a_day_that_is_not_a_date(runner: CliRunner) -> None:
    result = invoke(runner, "demo", "calls", "--day", "monday")

    assert result.exit_code == 2
    assert "--day 'monday' is not a date" in result.output
