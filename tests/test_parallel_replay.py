"""``ivr replay --jobs N``: the scripts run in N worker processes and read exactly as a serial
replay reads them (same results, same order, same coverage, same exit status), and the
worker's own steps (build the app, run the n-th script) checked in this process."""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import os
import pickle
import threading
from pathlib import Path
from types import MappingProxyType

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.settings import Settings
from ivr.testing import factories
from ivr.testing.factories import ParallelRunner
from ivr.testing.factories import job_count
from ivr.testing.factories import local_simulators
from ivr.testing.replay import replay
from ivr.testing.scripts import Script
from ivr.testing.scripts import ScriptResult
from ivr.testing.scripts import discover
from ivr.testing.scripts import load_script
from ivr.testing.scripts import run_script

CALLS = Path(__file__).parent / "calls"
# A call back (the dialer), lasting effects (a ticket number, an unlock), a speech call, and
# two scripts about the same account, so a leak from one worker's call into another shows.
SCRIPTS = [
    CALLS / "en_callback_busy_line_zhang_wei.yaml",
    CALLS / "zh_unlock_li_na.yaml",
    CALLS / "en_new_complaint_zhang_wei.yaml",
    CALLS / "en_unlock_li_na.yaml",
    CALLS / "zh_speech_topup_wang_fang.yaml",
]


def settings() -> Settings:
    return Settings.read({}, {"IVR_LOG_LEVEL": "WARNING", "IVR_MATCHER": "rules"})


def wrong_script(folder: Path) -> Path:
    script = folder / "wrong.yaml"
    script.write_text(
        "name: expects the wrong greeting\nfrom: '+8613800000001'\nlang: zh-CN\n"
        "steps:\n  - expect: 欢迎光临\n",
        encoding="utf-8",
    )
    return script


def test_two_jobs_print_exactly_what_one_prints_coverage_included(runner: CliRunner) -> None:
    paths = [str(path) for path in SCRIPTS]
    serial = runner.invoke(main, ["replay", "--no-color", "--coverage", *paths])
    two = runner.invoke(main, ["replay", "--no-color", "--coverage", "--jobs", "2", *paths])

    assert serial.exit_code == 0, serial.output
    assert two.exit_code == 0, two.output
    assert two.output == serial.output
    assert two.output.rstrip().splitlines()[-1] == f"{len(SCRIPTS)} passed, 0 failed"
    assert "hotline: states " in two.output


def test_a_failing_script_fails_with_two_jobs_too(runner: CliRunner, tmp_path: Path) -> None:
    paths = [str(SCRIPTS[1]), str(wrong_script(tmp_path)), str(SCRIPTS[3])]
    serial = runner.invoke(main, ["replay", "--no-color", *paths])
    two = runner.invoke(main, ["replay", "--no-color", "-j", "2", *paths])

    assert serial.exit_code == two.exit_code == 1
    assert two.output == serial.output
    assert "欢迎光临" in two.output
    assert two.output.rstrip().splitlines()[-1] == "2 passed, 1 failed"


def test_jobs_must_be_a_number_or_auto(runner: CliRunner) -> None:
    result = runner.invoke(main, ["replay", "--jobs", "many", str(SCRIPTS[1])])

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --jobs many: not a number of jobs",
        "  → give a number, or 0 or auto (one per CPU)",
    ]


def test_jobs_are_refused_against_a_server(runner: CliRunner) -> None:
    result = runner.invoke(main, ["replay", "--url", "http://127.0.0.1:1", "-j", "2"])

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("error: --jobs works in-process only")


def test_job_count_reads_a_number_auto_or_zero_as_one_per_cpu() -> None:
    cpus = multiprocessing.cpu_count()

    assert [job_count("3"), job_count(1), job_count("auto"), job_count("0")] == [3, 1, cpus, cpus]
    with pytest.raises(ValueError, match="0 \\(one per CPU\\) or more, not -1"):
        job_count("-1")
    with pytest.raises(ValueError, match="at least one worker"):
        ParallelRunner(settings(), 0)


def test_a_runner_kept_open_numbers_its_calls_on_across_replays() -> None:
    """Two replays on the same workers: the second's calls get new CallSids (as a serial
    factory's do), so neither meets the other's sessions, and both pass. A replay takes its
    last result without asking past it, and the workers stay for the next."""
    local = local_simulators(settings(), isolated=True)
    first, second = io.StringIO(), io.StringIO()
    with ParallelRunner(settings(), 2) as runner:
        runner.wait_ready()
        pids = runner.pids
        assert len(pids) == 2
        codes = [
            replay(SCRIPTS[:3], local, out=out, color=False, runner=runner)
            for out in (first, second)
        ]
        kept = runner.pids

    assert kept == pids
    assert codes == [0, 0]
    assert first.getvalue() == second.getvalue()
    assert runner.pids == []


def test_no_script_to_run_starts_no_worker(tmp_path: Path) -> None:
    local = local_simulators(settings(), isolated=True)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: no steps\n", encoding="utf-8")
    out = io.StringIO()

    code = replay([broken], local, out=out, color=False, runner=ParallelRunner(settings(), 2))

    assert code == 1
    assert out.getvalue().startswith(f"FAIL  {broken}")


def test_a_worker_runs_the_nth_script_with_the_call_sids_a_serial_replay_gives_it() -> None:
    script = load_script(SCRIPTS[1])
    serial = local_simulators(settings(), isolated=True)
    for _ in range(2):
        serial()  # two scripts ran before this one
    expected = run_script(script, serial())

    factories.start_worker(settings())
    result = factories._run_one((2, script))

    assert result.passed
    assert result.call.call_sid == expected.call.call_sid
    assert result.call.transcript == expected.call.transcript


def test_a_worker_that_could_not_build_its_app_fails_the_script_it_is_given(
    tmp_path: Path,
) -> None:
    broken = dataclasses.replace(settings(), flows_dir=tmp_path / "no-flows")
    factories.start_worker(broken)
    try:
        with pytest.raises(RuntimeError, match="could not build its app"):
            factories._run_one((0, load_script(SCRIPTS[1])))
    finally:
        factories.start_worker(settings())


def test_scripts_and_their_read_only_arguments_travel_to_the_workers_and_back() -> None:
    script = load_script(SCRIPTS[2])  # checks a lasting effect, whose arguments are read-only
    assert any(isinstance(effect.args, MappingProxyType) for effect in script.effects)

    buffer = io.BytesIO()
    multiprocessing.reduction.ForkingPickler(buffer).dump(script)
    back = pickle.loads(buffer.getvalue())

    assert back == script
    assert isinstance(back.effects[0].args, MappingProxyType)


def test_more_jobs_than_scripts_run_them_as_one_would(runner: CliRunner) -> None:
    one = [str(SCRIPTS[1])]
    serial = runner.invoke(main, ["replay", "--no-color", *one])
    many = runner.invoke(main, ["replay", "--no-color", "--jobs", "8", *one])

    assert many.exit_code == serial.exit_code == 0
    assert many.output == serial.output


def test_a_runner_not_kept_open_starts_its_workers_for_one_replay_and_stops_them() -> None:
    local = local_simulators(settings(), isolated=True)
    out = io.StringIO()
    runner = ParallelRunner(settings(), 2)

    code = replay(SCRIPTS[1:3], local, out=out, color=False, runner=runner)

    assert code == 0
    assert out.getvalue().rstrip().splitlines()[-1] == "2 passed, 0 failed"
    assert runner.pids == []


def test_the_whole_suite_replays_with_two_jobs_exactly_as_it_does_serially(
    runner: CliRunner,
) -> None:
    serial = runner.invoke(main, ["replay", "--no-color", "--coverage", str(CALLS)])
    two = runner.invoke(main, ["replay", "--no-color", "--coverage", "-j", "2", str(CALLS)])

    assert serial.exit_code == two.exit_code == 0, two.output[-2000:]
    assert two.output == serial.output
    scripts = len(discover([CALLS]))
    assert two.output.rstrip().splitlines()[-1] == f"{scripts} passed, 0 failed"


def test_no_thread_of_this_process_waits_on_the_workers() -> None:
    """The caller's own loop reads the workers' pipes: no handler thread wakes (and spins)
    whenever a result arrives, as multiprocessing.Pool's did."""
    local = local_simulators(settings(), isolated=True)
    threads = threading.active_count()
    with ParallelRunner(settings(), 2) as runner:
        runner.wait_ready()
        during = threading.active_count()
        code = replay(SCRIPTS[:2], local, out=io.StringIO(), color=False, runner=runner)

    assert code == 0
    assert during == threads


def test_results_come_back_with_the_very_scripts_given() -> None:
    scripts = [load_script(path) for path in SCRIPTS[:3]]

    results = list(ParallelRunner(settings(), 2)(scripts))

    assert [result.passed for result in results] == [True, True, True]
    assert all(result.script is script for result, script in zip(results, scripts, strict=True))


needs_fork = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(),
    reason="the workers must inherit this test's stand-in for running a script",
)


@needs_fork
def test_an_error_raised_in_a_worker_reaches_the_caller_in_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The results before it come first; the error carries the worker's traceback; a runner
    kept open then runs the next replay on fresh workers, as if nothing had happened."""
    scripts = [load_script(path) for path in SCRIPTS[:3]]
    run_one = factories._run_one

    def breaks_on_the_second(item: tuple[int, Script]) -> ScriptResult:
        if item[1].path == scripts[1].path:
            raise ValueError("the simulator broke")
        return run_one(item)

    monkeypatch.setattr(factories, "_run_one", breaks_on_the_second)
    with ParallelRunner(settings(), 2) as runner:
        results = runner(scripts)
        first = next(results)
        with pytest.raises(ValueError, match="^the simulator broke") as raised:
            next(results)
        broken = runner.pids
        monkeypatch.setattr(factories, "_run_one", run_one)
        again = list(runner(scripts))
        assert runner.pids != broken

    assert first.passed
    assert first.script is scripts[0]
    notes = getattr(raised.value, "__notes__", [])
    assert len(notes) == 1
    assert notes[0].startswith("raised in a replay worker:\nTraceback (most recent call last):")
    assert notes[0].endswith("ValueError: the simulator broke")
    assert [result.passed for result in again] == [True, True, True]
    assert [r.call.call_sid for r in again] == [r.call.call_sid for r in serial_results(6)[3:]]


@needs_fork
def test_a_worker_that_dies_fails_the_replay_instead_of_leaving_it_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(factories, "_run_one", exit_at_once)
    runner = ParallelRunner(settings(), 2)

    with pytest.raises(RuntimeError, match=r"^a replay worker stopped \(exit code 3\) before"):
        list(runner([load_script(SCRIPTS[1])]))
    assert runner.pids == []


def test_a_caller_that_stops_reading_leaves_nothing_running_for_the_next_replay() -> None:
    scripts = [load_script(path) for path in SCRIPTS]
    with ParallelRunner(settings(), 2) as runner:
        results = runner(scripts)
        first = next(results)
        results.close()
        rest = list(runner(scripts))

    assert first.passed
    assert [result.script for result in rest] == scripts
    serial = serial_results(10)[5:]  # the calls a serial replay makes the second time round
    assert [r.call.call_sid for r in rest] == [r.call.call_sid for r in serial]
    assert [r.call.transcript for r in rest] == [r.call.transcript for r in serial]


def exit_at_once(item: tuple[int, Script]) -> ScriptResult:
    """A script run that ends its process, as a crash in a C extension would."""
    os._exit(3)


def serial_results(count: int) -> list[ScriptResult]:
    """The first ``count`` results of replaying SCRIPTS again and again on one factory."""
    local = local_simulators(settings(), isolated=True)
    scripts = [load_script(path) for path in SCRIPTS]
    return [run_script(scripts[n % len(scripts)], local()) for n in range(count)]
