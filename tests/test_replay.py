"""The replay report: transcripts, colours, diffs, the summary line, coverage and the replay loop.

Calls run through the real simulator against ``TinyHotline`` (tests/test_scripts.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import click
import pytest

from ivr.clock import ManualClock
from ivr.errors import ScriptError
from ivr.testing.replay import FlowShape
from ivr.testing.replay import ScriptLoadFailure
from ivr.testing.replay import coverage_report
from ivr.testing.replay import format_coverage
from ivr.testing.replay import format_result
from ivr.testing.replay import inline_diff
from ivr.testing.replay import replay
from ivr.testing.replay import summary_line
from ivr.testing.scripts import ScriptResult
from ivr.testing.simulator import CallResult
from ivr.testing.simulator import Simulator
from tests.test_scripts import TinyHotline
from tests.test_scripts import make_simulator
from tests.test_scripts import run_text

BALANCE = """\
name: Li Na checks her balance
from: "+8613800000002"
steps:
  - expect: 中文服务请按1
  - press: "1"
  - say: 余额
  - expect_state: balance
outcome: {kind: hangup}
"""

WRONG_WORDS = """\
name: Li Na hears the wrong menu
from: "+8613800000002"
steps:
  - press: "1"
  - expect: 人工服务请按5
"""

TINY = FlowShape(
    states=frozenset(
        {
            "welcome",
            "main_menu",
            "balance",
            "queue",
            "hold",
            "goodbye",
            "voicemail",
            "saved",
            "password",
            "unlocked",
        }
    ),
    transitions=frozenset(
        {
            ("welcome", "welcome"),
            ("welcome", "goodbye"),
            ("welcome", "main_menu"),
            ("main_menu", "main_menu"),
            ("main_menu", "balance"),
            ("main_menu", "queue"),
            ("queue", "hold"),
            ("hold", "hold"),
            ("hold", "goodbye"),
            ("main_menu", "voicemail"),
            ("voicemail", "saved"),
            ("main_menu", "password"),
            ("password", "unlocked"),
            ("password", "main_menu"),
        }
    ),
)

VOICEMAIL_AFTER_SILENCE = """\
name: Li Na leaves a message after a silence
from: "+8613800000002"
steps:
  - press: "1"
  - wait
  - press: "3"
  - record: {seconds: 8, finish: "#"}
"""


def write_script(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# One result


def test_a_passing_call_reads_turn_by_turn(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(BALANCE, tmp_path, clock)

    assert format_result(result, color=False) == "\n".join(
        [
            f"PASS  Li Na checks her balance  ({tmp_path / 'call.yaml'}, zh-CN)",
            "    · welcome",
            "    IVR    您好，欢迎致电钱包客服。中文服务请按1。For English, press 2.",
            "      ✓ expect: 中文服务请按1",
            "    caller presses 1",
            "    · main_menu",
            "    IVR    查询余额请按1，人工服务请按2，留言请按3，解锁账户请按9。",
            "    caller says “余额”",
            "    · balance",
            "    IVR    您的余额是一百元。再见。",
            "      ✓ expect_state: balance",
            "    outcome: ended hangup",
        ]
    )


def test_a_failed_expectation_shows_expected_closest_diff_and_heard_where_it_failed(
    tmp_path: Path, clock: ManualClock
) -> None:
    result = run_text(WRONG_WORDS, tmp_path, clock)

    assert format_result(result, color=False).splitlines()[4:] == [
        "    · main_menu",
        "    IVR    查询余额请按1，人工服务请按2，留言请按3，解锁账户请按9。",
        "      ✗ step 2: expect: 人工服务请按5",
        "        expected the IVR to say '人工服务请按5'",
        "        expected:       人工服务请按5",
        "        closest (0.92): 人工服务请按2",
        "        diff:           人工服务请按[-5-]{+2+}",
        "                        ([-…-] expected only, {+…+} heard only)",
        "        heard:          查询余额请按1，人工服务请按2，留言请按3，解锁账户请按9。",
        "    caller (hangs up)",
        "    outcome: ended caller-hangup",
    ]


def test_a_failed_regex_shows_the_pattern_and_what_was_heard(
    tmp_path: Path, clock: ManualClock
) -> None:
    text = "name: r\nfrom: '+8613800000002'\nsteps:\n  - expect: {regex: '按[3-9]'}\n"
    result = run_text(text, tmp_path, clock)

    assert format_result(result, color=False).splitlines()[3:7] == [
        '      ✗ step 1: expect: {regex: "按[3-9]"}',
        "        expected the IVR to say something matching /按[3-9]/",
        "        pattern: /按[3-9]/",
        "        heard:   您好，欢迎致电钱包客服。中文服务请按1。For English, press 2.",
    ]


def test_a_failed_outcome_is_reported_after_the_call(tmp_path: Path, clock: ManualClock) -> None:
    result = run_text(BALANCE.replace("kind: hangup", "kind: bridged"), tmp_path, clock)

    assert format_result(result, color=False).splitlines()[-3:] == [
        "    outcome: ended hangup",
        "      ✗ after the call: outcome: {kind: bridged}",
        "        expected the call to end bridged, but it ended hangup",
    ]


def test_english_prompts_in_a_chinese_script_show_their_language(
    tmp_path: Path, clock: ManualClock
) -> None:
    text = "name: e\nfrom: '+8613800000002'\nsteps:\n  - press: '2'\n  - hangup\n"
    result = run_text(text, tmp_path, clock)

    assert format_result(result, color=False).splitlines()[5] == (
        "    IVR    [en-US] For your balance press 1, for an agent press 2,"
        " to leave a message press 3."
    )


def test_colours_tell_ivr_caller_pass_and_fail_apart(tmp_path: Path, clock: ManualClock) -> None:
    passed = format_result(run_text(BALANCE, tmp_path, clock), color=True).splitlines()
    failed = format_result(run_text(WRONG_WORDS, tmp_path, clock), color=True).splitlines()

    assert passed[0].startswith(click.style("PASS", fg="green", bold=True))
    assert passed[2] == "    {} {}".format(
        click.style("IVR   ", fg="cyan", bold=True),
        click.style("您好，欢迎致电钱包客服。中文服务请按1。For English, press 2.", fg="cyan"),
    )
    assert passed[4] == "    {} {}".format(
        click.style("caller", fg="yellow", bold=True), click.style("presses 1", fg="yellow")
    )
    assert failed[0].startswith(click.style("FAIL", fg="red", bold=True))
    assert failed[10] == "        diff:           人工服务请按{}{}".format(
        click.style("[-5-]", fg="red"), click.style("{+2+}", fg="green")
    )


def test_plain_output_has_no_escape_codes(tmp_path: Path, clock: ManualClock) -> None:
    assert "\x1b" not in format_result(run_text(WRONG_WORDS, tmp_path, clock), color=False)


def test_a_script_that_failed_to_load_reads_as_a_failure() -> None:
    failure = ScriptLoadFailure(
        "calls/bad.yaml", ScriptError("calls/bad.yaml", "steps[0].pres", "unknown step 'pres'")
    )

    assert format_result(failure, color=False) == (
        "FAIL  calls/bad.yaml\n    calls/bad.yaml: steps[0].pres: unknown step 'pres'"
    )


@pytest.mark.parametrize(
    ("expected", "heard", "diff"),
    [
        ("您的账户已被锁定", "您的账户已被冻结", "您的账户已被[-锁定-]{+冻结+}"),
        (
            "press 1 for your balance",
            "press 2 for your balance",
            "press [-1-]{+2+} for your balance",
        ),
        ("to leave a message", "to leave a voice message", "to leave a {+voice +}message"),
        ("中文服务请按1", "中文服务请按1", "中文服务请按1"),
    ],
)
def test_the_inline_diff_compares_english_by_word_and_chinese_by_character(
    expected: str, heard: str, diff: str
) -> None:
    assert inline_diff(expected, heard, color=False) == diff


def test_the_summary_line_is_exactly_passed_then_failed(tmp_path: Path, clock: ManualClock) -> None:
    good = run_text(BALANCE, tmp_path, clock)
    bad = run_text(WRONG_WORDS, tmp_path, clock)
    broken = ScriptLoadFailure("x.yaml", ScriptError("x.yaml", "", "not valid YAML"))

    assert summary_line([good, bad, good, broken]) == "2 passed, 2 failed"
    assert summary_line([]) == "0 passed, 0 failed"


# ---------------------------------------------------------------------------------------------
# Coverage


def calls_for_coverage(tmp_path: Path, clock: ManualClock) -> list[ScriptResult]:
    return [
        run_text(BALANCE, tmp_path, clock),
        run_text(VOICEMAIL_AFTER_SILENCE, tmp_path, clock),
    ]


def test_coverage_counts_the_states_and_transitions_the_calls_reached(
    tmp_path: Path, clock: ManualClock
) -> None:
    results = calls_for_coverage(tmp_path, clock)

    report = coverage_report(results, {"tiny": TINY})

    tiny = report.flows["tiny"]
    assert [result.call.states for result in results] == [
        ["welcome", "main_menu", "balance"],
        ["welcome", "main_menu", "main_menu", "voicemail", "saved"],
    ]
    assert tiny.visited_states == {"welcome", "main_menu", "balance", "voicemail", "saved"}
    assert tiny.visited_transitions == {
        ("welcome", "main_menu"),
        ("main_menu", "balance"),
        ("main_menu", "main_menu"),
        ("main_menu", "voicemail"),
        ("voicemail", "saved"),
    }
    assert (report.state_pct("tiny"), report.transition_pct("tiny")) == (50.0, 500 / 14)


def test_the_coverage_report_lists_what_was_never_reached(
    tmp_path: Path, clock: ManualClock
) -> None:
    report = coverage_report(calls_for_coverage(tmp_path, clock), {"tiny": TINY})

    assert format_coverage(report, color=False) == "\n".join(
        [
            "coverage:",
            "  tiny: states 5/10 (50.0%), transitions 5/14 (35.7%)",
            "    states never reached: goodbye, hold, password, queue, unlocked",
            "    transitions never taken: hold → goodbye, hold → hold, main_menu → password,"
            " main_menu → queue, password → main_menu, password → unlocked, queue → hold,"
            " welcome → goodbye, welcome → welcome",
        ]
    )


def test_equal_states_in_a_row_count_only_as_a_self_transition_the_flow_has() -> None:
    call = CallResult(
        call_sid="CA1",
        states=["a", "a", "b", "b", "c"],
        flows=["f", "f", "f", "f", "f"],
    )
    shape = FlowShape(
        frozenset({"a", "b", "c", "d"}), frozenset({("a", "a"), ("a", "b"), ("b", "c")})
    )

    flow = coverage_report([call], {"f": shape}).flows["f"]

    assert flow.visited_transitions == {("a", "a"), ("a", "b"), ("b", "c")}
    assert (flow.state_pct, flow.transition_pct) == (75.0, 100.0)


def test_coverage_keeps_flows_apart_and_ignores_unknown_ones() -> None:
    call = CallResult(
        call_sid="CA1",
        states=["a", "x", "b", "z"],
        flows=["f", "g", "f", "unknown"],
    )
    f = FlowShape(frozenset({"a", "b"}), frozenset({("a", "b")}))
    g = FlowShape(frozenset({"x", "y"}), frozenset({("x", "y")}))

    report = coverage_report([call], {"f": f, "g": g})

    assert list(report.flows) == ["f", "g"]
    assert report.flows["f"].visited_states == {"a", "b"}
    assert report.flows["f"].visited_transitions == frozenset()
    assert (report.state_pct("g"), report.transition_pct("g")) == (50.0, 0.0)


def test_a_flow_no_call_reached_shows_zero_coverage() -> None:
    shape = FlowShape(frozenset({"a"}), frozenset())

    report = coverage_report([], {"f": shape})

    assert format_coverage(report, color=False) == (
        "coverage:\n  f: states 0/1 (0.0%), transitions 0/0 (100.0%)\n    states never reached: a"
    )


# ---------------------------------------------------------------------------------------------
# The replay loop


def test_replay_runs_every_script_on_a_fresh_simulator_and_ends_with_the_summary(
    tmp_path: Path, clock: ManualClock
) -> None:
    calls = tmp_path / "calls"
    calls.mkdir()
    write_script(calls, "a_balance.yaml", BALANCE)
    write_script(calls, "b_wrong.yaml", WRONG_WORDS)
    write_script(calls, "c_broken.yaml", "name: x\nfrom: '+8613800000002'\nsteps: [dance]\n")
    write_script(calls, "d_voicemail.yml", VOICEMAIL_AFTER_SILENCE)
    apps: list[TinyHotline] = []

    def factory() -> Simulator:
        apps.append(TinyHotline())
        return make_simulator(apps[-1], clock)

    out = io.StringIO()
    code = replay([calls], factory, checks={}, coverage_shapes={"tiny": TINY}, out=out, color=False)

    text = out.getvalue()
    heads = [line for line in text.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert code == 1
    assert len(apps) == 3
    assert heads == [
        f"PASS  Li Na checks her balance  ({calls / 'a_balance.yaml'}, zh-CN)",
        f"FAIL  Li Na hears the wrong menu  ({calls / 'b_wrong.yaml'}, zh-CN)",
        f"FAIL  {calls / 'c_broken.yaml'}",
        f"PASS  Li Na leaves a message after a silence  ({calls / 'd_voicemail.yml'}, zh-CN)",
    ]
    assert "  tiny: states 5/10 (50.0%), transitions 5/14 (35.7%)" in text.splitlines()
    assert text.endswith("\n2 passed, 2 failed\n")


def test_replay_exits_zero_when_every_script_passes(tmp_path: Path, clock: ManualClock) -> None:
    path = write_script(tmp_path, "balance.yaml", BALANCE)
    out = io.StringIO()

    code = replay([path], lambda: make_simulator(TinyHotline(), clock), out=out, color=False)

    assert (code, out.getvalue().splitlines()[-1]) == (0, "1 passed, 0 failed")
    assert "coverage:" not in out.getvalue()


def test_replay_passes_the_effect_checks_to_every_script(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = TinyHotline()
    path = write_script(
        tmp_path,
        "unlock.yaml",
        "name: u\nfrom: '+8613800000002'\nsteps:\n  - press: '1'\n  - press: '9'\n"
        "  - press: '123456'\neffects:\n  - account: {phone: '+8613800000002', status: active}\n",
    )
    out = io.StringIO()

    code = replay(
        [path], lambda: make_simulator(app, clock), checks=app.checks(), out=out, color=False
    )

    assert (code, out.getvalue().splitlines()[-1]) == (0, "1 passed, 0 failed")


def test_replay_of_a_path_that_does_not_exist_fails(tmp_path: Path, clock: ManualClock) -> None:
    out = io.StringIO()

    code = replay(
        [tmp_path / "nowhere.yaml"],
        lambda: make_simulator(TinyHotline(), clock),
        out=out,
        color=False,
    )

    assert code == 1
    assert out.getvalue() == (
        f"FAIL  {tmp_path / 'nowhere.yaml'}\n    {tmp_path / 'nowhere.yaml'}: no such file\n\n"
        "0 passed, 1 failed\n"
    )


def test_replay_of_a_folder_without_scripts_fails(tmp_path: Path, clock: ManualClock) -> None:
    out = io.StringIO()

    code = replay([tmp_path], lambda: make_simulator(TinyHotline(), clock), out=out, color=False)

    assert code == 1
    assert out.getvalue() == f"no call scripts found in {tmp_path}\n0 passed, 0 failed\n"
