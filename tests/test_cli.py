"""The `ivr` command, driven through click's CliRunner as a user would run it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main

CALLS = Path(__file__).parent / "calls"
INVALID = Path(__file__).parent / "flows" / "invalid"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # The CLI reads settings from the environment like any user's shell.
    monkeypatch.setenv("IVR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("IVR_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("IVR_FLOWS_DIR", raising=False)
    monkeypatch.delenv("IVR_CLOCK", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    return CliRunner()


def test_check_passes_on_the_shipped_flows(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "flow 'hotline', 53 states, 129 transitions" in result.output


def test_check_lists_every_problem_with_file_and_key_and_exits_non_zero(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(INVALID / "duplicate_option_key.yaml", folder / "hotline.yaml")
    result = runner.invoke(main, ["check", "--flows", str(folder)])
    assert result.exit_code == 1
    assert f"{folder / 'hotline.yaml'}: states." in result.output
    assert "is already used by" in result.output


def test_serve_refuses_to_start_on_a_broken_flow_and_says_what_to_do(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(INVALID / "duplicate_option_key.yaml", folder / "hotline.yaml")
    monkeypatch.setenv("IVR_FLOWS_DIR", str(folder))
    result = runner.invoke(main, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "is already used by" in result.output
    assert "run `ivr check`" in result.output


def test_replay_runs_scripts_and_ends_with_the_summary_line(runner: CliRunner) -> None:
    scripts = [str(CALLS / "zh_unlock_li_na.yaml"), str(CALLS / "zh_stolen_zhang_wei.yaml")]
    result = runner.invoke(main, ["replay", "--no-color", *scripts])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1] == "2 passed, 0 failed"


def test_replay_isolates_scripts_so_an_unlock_does_not_leak_into_the_next(
    runner: CliRunner,
) -> None:
    both = [str(CALLS / "zh_unlock_li_na.yaml"), str(CALLS / "en_unlock_li_na.yaml")]
    result = runner.invoke(main, ["replay", "--no-color", *both])
    assert result.output.rstrip().splitlines()[-1] == "2 passed, 0 failed"


def test_replay_reports_a_failing_script_with_a_diff_and_exits_one(
    runner: CliRunner, tmp_path: Path
) -> None:
    script = tmp_path / "wrong.yaml"
    script.write_text(
        "name: expects the wrong greeting\nfrom: '+8613800000001'\nlang: zh-CN\n"
        "steps:\n  - expect: 欢迎光临\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["replay", "--no-color", str(script)])
    assert result.exit_code == 1
    assert "欢迎光临" in result.output
    assert result.output.rstrip().splitlines()[-1] == "0 passed, 1 failed"


def test_replay_coverage_reports_the_hotline(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["replay", "--no-color", "--coverage", str(CALLS / "zh_unlock_li_na.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "hotline: states " in result.output
    assert "states never reached:" in result.output


def test_replay_of_a_missing_path_says_what_to_give(runner: CliRunner) -> None:
    result = runner.invoke(main, ["replay", "no/such/folder"])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output


def test_demo_reset_restores_a_locked_account(runner: CliRunner, tmp_path: Path) -> None:
    from ivr.clock import SystemClock
    from ivr.db import make_engine
    from ivr.wallet import Wallet
    from ivr.wallet import ensure_demo

    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0  # the schema, then the demo
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    ensure_demo(engine, SystemClock())
    wallet = Wallet(engine, SystemClock())
    li = wallet.find_by_phone("+8613800000002")
    assert li is not None
    assert wallet.unlock(li.id, key="test")
    result = runner.invoke(main, ["demo", "reset"])
    assert result.exit_code == 0, result.output
    after = wallet.find_by_phone("+8613800000002")
    assert after is not None
    assert after.status == "locked"
    engine.dispose()


def test_call_is_an_interactive_phone_in_the_terminal(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["call", "--from", "+8613800000002", "--lang", "en"], input="123456\n0\nq\n"
    )
    assert result.exit_code == 0, result.output
    assert "Please enter your 6-digit phone PIN" in result.output
    assert "Thank you, Li Na, you are verified." in result.output
