"""`ivr report` as a user runs it: the table, JSON and CSV of a hand-built day of records
(``tests/test_reports.py`` describes it), and the slips it turns into a next step."""

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
from ivr.stores.reports import Filters
from ivr.stores.reports import report
from tests.conftest import T0
from tests.test_reports import SHANGHAI
from tests.test_reports import Day
from tests.test_reports import fill

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner(cli_env: dict[str, str | None]) -> CliRunner:
    return CliRunner(env={**cli_env, "IVR_FLOWS_DIR": str(ROOT / "flows"), "IVR_AUDIO": "off"})


@pytest.fixture
def records(runner: CliRunner, tmp_path: Path) -> str:
    assert invoke(runner, "db", "upgrade").exit_code == 0
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = make_engine(url)
    clock = ManualClock(T0)
    fill(Day(CallRecorder(engine, clock), clock))
    engine.dispose()
    return url


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args))


def test_the_table_says_the_figures_then_each_state_then_each_split(
    runner: CliRunner, records: str
) -> None:
    result = invoke(runner, "report")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:6] == [
        "Calls (Asia/Shanghai): 8",
        "  self-served                 3   37.5%",
        "  to an agent                 3   37.5%",
        "  hung up in the menus        1   12.5%",
        "  error                       1   12.5%",
        "  not over yet                0    0.0%",
    ]
    assert "  containment: 2 self-served with no repeat call within 24 h (25.0% of calls)" in lines
    assert "  time to agent: median 100 s, p90 160 s (2 answered calls)" in lines
    assert "  answers: 5 by keys, 1 by speech (16.7% spoken)" in lines
    assert "  survey: 2 answers, mean 3.00 of 5 (1: 0  2: 1  3: 0  4: 1  5: 0)" in lines
    menu = next(line for line in lines if line.startswith("  main_menu "))
    assert menu.split() == ["main_menu", "3", "1", "33.3%", "0", "4", "1", "1", "50.0%"]
    assert [line for line in lines if line.startswith("By ")] == [
        "By issue", "By language", "By flow version",
    ]  # fmt: skip


def test_json_is_the_report_document(runner: CliRunner, records: str) -> None:
    result = invoke(runner, "report", "--format", "json", "--since", "2026-11-23")

    assert result.exit_code == 0, result.output
    engine = make_engine(records)
    since = (T0 - timedelta(hours=10)).astimezone(SHANGHAI)
    expected = report(engine, Filters(since=since), SHANGHAI).as_json()
    engine.dispose()
    assert json.loads(result.output) == expected
    assert expected["filters"]["since"] == "2026-11-23T00:00:00+08:00"
    assert expected["calls"] == 8


def test_csv_has_one_figure_a_line(runner: CliRunner, records: str) -> None:
    result = invoke(runner, "report", "--format", "csv")

    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["split", "group", "figure", "value"]
    for row in (
        ["all", "all", "calls", "8"],
        ["all", "all", "outcomes.error", "1"],
        ["all", "all", "time_in_queue_s.median", "45.0"],
        ["all", "all", "states.main_menu.hung_up", "1"],
        ["all", "all", "states.welcome.reprompt_share", "0.0"],
        ["all", "all", "by_hour.10", "2"],
        ["all", "all", "timeline.step", "hour"],
        ["all", "all", "timeline.points.2026-11-23T10:00:00+08:00.contained", "1"],
        ["all", "all", "timeline.points.2026-11-23T10:00:00+08:00.in_queue_share", ""],
        ["issue", "login", "contained", "2"],
        ["lang", "en-US", "outcomes.error", "1"],
        ["version", "v2", "survey.scores.2", "1"],
    ):
        assert row in rows


def test_flow_and_until_filter_the_calls(runner: CliRunner, records: str) -> None:
    other = invoke(runner, "report", "--format", "json", "--flow", "other")
    early = invoke(runner, "report", "--format", "json", "--until", "2026-11-23T10:30")

    assert json.loads(other.output)["outcomes"]["error"] == 1
    assert json.loads(other.output)["calls"] == 1
    assert json.loads(early.output)["calls"] == 2


@pytest.mark.parametrize(
    ("args", "problem", "next_step"),
    [
        (["--since", "monday"], "since 'monday' is neither a day", "--since 2026-11-23"),
        (["--since", "2026-11-24", "--until", "2026-11-23"], "is not after since", "--since"),
        (["--since", "2026-12-01"], "no calls in the records from 2026-12-01T00:00:00+08:00",
         "ivr demo calls --day 2026-11-23"),
        (["--flow", "nothing"], "no calls in the records of flow nothing", "ivr demo calls"),
        (["--until", "2026-11-01"], "no calls in the records before 2026-11-02T00:00:00+08:00",
         "widen --since/--until"),
    ],
)  # fmt: skip
def test_a_slip_says_what_to_do_next(
    runner: CliRunner, records: str, args: list[str], problem: str, next_step: str
) -> None:
    result = invoke(runner, "report", *args)

    assert result.exit_code == 2
    assert problem in result.output
    assert next_step in result.output
    assert "Traceback" not in result.output


def test_a_demo_day_fills_every_figure_of_the_report(runner: CliRunner) -> None:
    made = invoke(runner, "demo", "calls", "--day", "2026-11-23", "--calls", "60", "--seed", "5")
    assert made.exit_code == 0, made.output

    doc = json.loads(invoke(runner, "report", "--format", "json").output)
    assert doc["calls"] == 60
    assert all(doc["outcomes"][name] > 0 for name in ("self_served", "agent", "abandoned"))
    assert 0 < doc["contained"] < doc["outcomes"]["self_served"]
    assert doc["input"]["speech"] > 0
    assert doc["survey"]["answers"] > 0
    states = {s["state"]: s for s in doc["states"]}
    assert states["welcome"]["pressed_0"] + states["main_menu"]["pressed_0"] > 0
    assert sum(s["hung_up"] for s in doc["states"]) == doc["outcomes"]["abandoned"]
    assert set(doc["by"]["lang"]) == {"zh-CN", "en-US"}
    assert {"login", "payment_failed", "none"} <= set(doc["by"]["issue"])
