"""The `ivr` command, driven through click's CliRunner as a user would run it: its settings
come from the environment the runner gives it, and a slip (a bad setting, a broken flow, a
server that does not answer) says what is wrong and what to do next, never a traceback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result

from ivr.cli import main as cli_main
from ivr.cli.main import main
from ivr.clock import SystemClock
from ivr.db import make_engine
from ivr.wallet import Wallet
from ivr.wallet import ensure_demo

CALLS = Path(__file__).parent / "calls"
INVALID = Path(__file__).parent / "flows" / "invalid"


@pytest.fixture
def broken_flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(INVALID / "duplicate_option_key.yaml", folder / "hotline.yaml")
    return folder


def unused_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def error_lines(result: Result) -> list[str]:
    """What the command printed on stderr, having failed with the CLI's exit status 2."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # said and exited, not raised
    assert "Traceback" not in result.output
    return result.stderr.splitlines()


def test_check_passes_on_the_shipped_flows(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "flow 'hotline', 62 states, 153 transitions" in result.output


def test_check_lists_every_problem_with_file_and_key_and_exits_non_zero(
    runner: CliRunner, broken_flows: Path
) -> None:
    result = runner.invoke(main, ["check", "--flows", str(broken_flows)])
    assert result.exit_code == 1
    assert f"{broken_flows / 'hotline.yaml'}:26: states.main_menu.options[1].key: " in result.output
    assert "is already used by" in result.output


def test_check_reads_the_flows_folder_from_the_environment(
    runner: CliRunner, broken_flows: Path
) -> None:
    result = runner.invoke(main, ["check"], env={"IVR_FLOWS_DIR": str(broken_flows)})
    assert result.exit_code == 1
    assert f"{broken_flows / 'hotline.yaml'}:26: states.main_menu.options[1].key: " in result.output


def test_serve_refuses_to_start_on_a_broken_flow_and_says_what_to_do(
    runner: CliRunner, broken_flows: Path
) -> None:
    result = runner.invoke(main, ["serve", "--port", "1"], env={"IVR_FLOWS_DIR": str(broken_flows)})
    lines = error_lines(result)
    assert lines[0] == "1 problem(s) in flows:"
    assert "is already used by" in lines[1]
    assert lines[-2:] == [
        "error: the flows did not load, so nothing was started",
        "  → fix the files above, then run `ivr check`",
    ]


def test_replay_on_a_broken_flow_says_to_run_check(runner: CliRunner, broken_flows: Path) -> None:
    script = str(CALLS / "zh_unlock_li_na.yaml")
    result = runner.invoke(main, ["replay", script], env={"IVR_FLOWS_DIR": str(broken_flows)})
    assert error_lines(result)[-1] == "  → fix the files above, then run `ivr check`"


def test_a_bad_setting_is_named_with_the_next_step_before_any_command_runs(
    runner: CliRunner,
) -> None:
    result = runner.invoke(main, ["check"], env={"IVR_SESSION_STORE": "mongodb://x"})
    assert error_lines(result) == [
        "error: IVR_SESSION_STORE='mongodb://x' is not understood: use sql, memory or a "
        "redis:// URL",
        "  → fix the setting (see the README's Settings table) and try again",
    ]


def test_a_clock_that_is_not_a_time_is_refused_before_a_replay(runner: CliRunner) -> None:
    script = str(CALLS / "zh_unlock_li_na.yaml")
    result = runner.invoke(main, ["replay", script], env={"IVR_CLOCK": "next tuesday"})
    assert error_lines(result)[0] == (
        "error: IVR_CLOCK='next tuesday' is not an ISO 8601 time such as 2026-11-23T10:00:00+08:00"
    )


def test_replay_against_a_server_that_does_not_answer_says_to_start_it(
    runner: CliRunner,
) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    result = runner.invoke(main, ["replay", "--url", url, str(CALLS / "zh_unlock_li_na.yaml")])
    lines = error_lines(result)
    assert lines[0].startswith(f"error: no IVR answers at {url} (connection failed: ")
    assert lines[1] == "  → start it with `ivr serve` (or check the --url you gave)"


def test_a_call_to_a_server_that_does_not_answer_says_to_start_it(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    result = runner.invoke(main, ["call", "--url", url], input="q\n")
    assert error_lines(result)[1] == "  → start it with `ivr serve` (or check the --url you gave)"


def test_replay_runs_scripts_and_ends_with_the_summary_line(runner: CliRunner) -> None:
    scripts = [str(CALLS / "zh_unlock_li_na.yaml"), str(CALLS / "zh_stolen_zhang_wei.yaml")]
    result = runner.invoke(main, ["replay", "--no-color", *scripts])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1] == "2 passed, 0 failed"


def test_replay_settles_its_heap_once_the_app_is_built(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a server does: the app lives as long as the replay, so no collection walks it again
    (a full collection had paused a replay 87-94 ms at a time)."""
    settled: list[bool] = []
    monkeypatch.setattr(cli_main, "settle_heap", lambda: settled.append(True))
    result = runner.invoke(main, ["replay", "--no-color", str(CALLS / "zh_unlock_li_na.yaml")])
    assert result.exit_code == 0, result.output
    assert settled == [True]


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
    assert error_lines(result) == [
        "error: no such file or folder: no/such/folder",
        "  → give call scripts (*.yaml) or folders of them",
    ]


def test_demo_reset_restores_a_locked_account(runner: CliRunner, tmp_path: Path) -> None:
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


def _run_python(code: str, tmp_path: Path) -> str:
    """Run ``code`` in a fresh interpreter (no pytest logging handlers); its stdout."""
    env = {"PATH": "/usr/bin:/bin", "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_building_the_app_leaves_logging_to_the_entry_point(tmp_path: Path) -> None:
    code = (
        "import logging\n"
        "from ivr.web.app import create_app\n"
        "create_app({'IVR_LOG_LEVEL': 'DEBUG'})\n"
        "print(len(logging.getLogger().handlers), logging.getLogger().level)\n"
    )
    assert _run_python(code, tmp_path).split() == ["0", "30"]  # no handler, WARNING: untouched


def test_the_ivr_command_configures_logging_at_ivr_log_level(tmp_path: Path) -> None:
    code = (
        "import logging, os\n"
        "from ivr.cli.main import main\n"
        "os.environ['IVR_LOG_LEVEL'] = 'error'\n"
        "main.main(['check'], standalone_mode=False)\n"
        "print(len(logging.getLogger().handlers), logging.getLogger().level)\n"
    )
    assert _run_python(code, tmp_path).splitlines()[-1].split() == ["1", "40"]  # ERROR is 40
