"""Caller-time figures and budgets (``ivr.flow.budgets``), recorded lengths
(``ivr.media.durations``) and their lines in ``ivr check``: on a small flow whose figures can be
worked out by hand (``tests/flows/budgets/small.yaml``, estimated at 2.5 words a second) and
on the hotline with its shipped recordings.

Owns only this module and ``tests/flows/budgets/``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.errors import FlowValidationError
from ivr.errors import WavHeaderError
from ivr.flow.budgets import NoRecordings
from ivr.flow.budgets import figures
from ivr.flow.budgets import violations
from ivr.flow.loader import load_flow
from ivr.media.durations import RecordedLengths
from ivr.media.durations import wav_seconds
from ivr.media.recordings import AudioLibrary
from ivr.voice.languages import EN_US
from ivr.voice.languages import ZH_CN

ROOT = Path(__file__).parent.parent
SMALL = Path(__file__).parent / "flows" / "budgets" / "small.yaml"
HOTLINE = ROOT / "flows" / "hotline.yaml"
SHIPPED = ROOT / "audio_prompts"


def test_the_stated_rates_are_four_and_a_half_characters_or_two_and_a_half_words_a_second() -> None:
    assert ZH_CN.seconds_to_say("请选择您要咨询的问题。") == pytest.approx(10 / 4.5)
    assert EN_US.seconds_to_say("For a failed payment, press 2.") == pytest.approx(6 / 2.5)


def test_the_small_flow_figures_are_the_ones_worked_out_by_hand() -> None:
    flow = load_flow(SMALL)
    fig = figures(flow, "en-US", NoRecordings())
    # "Hello there." 2 words, two option lines of 5 words: (2 + 10) / 2.5
    assert fig.agent_s["menu"] == pytest.approx(4.8)
    assert fig.agent_s["ask"] is None
    assert fig.agent_s["agent"] == 0.0
    # the whole menu before the answer: 12 words, the agent line 5, the repeat line 6
    assert fig.prompt_s == {"balance": pytest.approx(23 / 2.5)}
    assert fig.menu_options == {"menu": 2}
    assert fig.agent_keys is not None
    assert (fig.agent_keys.presses, fig.agent_keys.way) == (1, ("menu: 0",))
    assert fig.measured == 0
    assert fig.estimated > 0


def test_the_small_flow_breaks_each_budget_but_the_keys() -> None:
    flow = load_flow(SMALL)
    broken = violations(flow, [figures(flow, "en-US")])
    assert [(v.budget, v.where, v.figure) for v in broken] == [
        ("agent_within_s", "ask", None),
        ("prompt_s", "balance", pytest.approx(9.2)),
        ("menu_options", "menu", 2),
    ]
    assert str(broken[0]) == "ask (en-US): the caller is never told how to reach an agent"


@pytest.mark.parametrize(
    ("budgets", "problem"),
    [
        ("{agent_within: 30}", "unknown key 'agent_within'"),
        ("{agent_keys: 0}", "must be at least 1, got 0"),
        ("{prompt_s: fast}", "expected a number of seconds above 0, got 'fast'"),
    ],
)
def test_a_budget_slip_is_a_load_problem_naming_the_key(
    tmp_path: Path, budgets: str, problem: str
) -> None:
    text = SMALL.read_text(encoding="utf-8").replace(
        "budgets: {agent_within_s: 5, agent_keys: 1, menu_options: 1, prompt_s: 3}",
        f"budgets: {budgets}",
    )
    path = tmp_path / "small.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FlowValidationError) as caught:
        load_flow(path)
    assert problem in str(caught.value)
    assert "budgets" in str(caught.value)


def _wav(path: Path, data_bytes: int, *, extra: bytes = b"") -> None:
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)  # μ-law, mono, 8 kHz
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", data_bytes) + b"\xff" * data_bytes
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_a_wav_length_is_read_from_its_chunks_whatever_comes_between(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    # an odd-sized LIST chunk (padded) between fmt and data: no fixed header size holds
    _wav(path, 12_000, extra=b"LIST" + struct.pack("<I", 3) + b"abc\x00")
    assert wav_seconds(path) == 1.5


def test_a_file_that_is_not_a_wav_says_so(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"ID3 not a wave")
    with pytest.raises(WavHeaderError, match="not a RIFF/WAVE file"):
        wav_seconds(path)


def test_the_hotline_main_menu_announces_the_agent_after_23_to_27_seconds() -> None:
    flow = load_flow(HOTLINE)
    lengths = RecordedLengths(AudioLibrary.open(SHIPPED))
    zh = figures(flow, "zh-CN", lengths)
    en = figures(flow, "en-US", lengths)
    assert 23 < zh.agent_s["main_menu"] < 27  # type: ignore[operator]
    assert 21 < en.agent_s["main_menu"] < 25  # type: ignore[operator]
    assert zh.estimated == 0
    assert zh.measured > 100
    assert zh.measured > 200  # 61 states since the lockout and no-PIN menus
    assert zh.agent_keys is not None
    # No key at all since the PIN lockout: a caller whose PIN checks are locked who stays
    # silent at the greeting and at the lockout menu is put through (before it: "welcome: 0").
    assert (zh.agent_keys.presses, zh.agent_keys.way) == (
        0,
        ("welcome: silence", "identify: then", "pin_locked: silence"),
    )
    assert zh.agent_s["ask_phone"] is None


def test_a_stale_recording_is_estimated_instead(tmp_path: Path) -> None:
    lengths = RecordedLengths(AudioLibrary.open(SHIPPED))
    assert lengths.seconds("hotline.main_menu.prompt", "zh-CN", "请选择您要咨询的问题。")
    assert lengths.seconds("hotline.main_menu.prompt", "zh-CN", "改过的文字。") is None


def test_check_reports_the_hotline_budgets_as_warnings_and_strict_makes_them_errors(
    tmp_path: Path,
) -> None:
    runner = CliRunner(env={"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    plain = runner.invoke(main, ["check"])
    assert plain.exit_code == 0, plain.output
    assert "zh-CN: agent announced within" in plain.output
    assert "! " in plain.output
    assert "budgets: agent_within_s 30 broken at" in plain.output
    strict = runner.invoke(main, ["check", "--strict", "--budgets"])
    assert strict.exit_code == 1
    assert "caller-time budget(s) broken (--strict)" in strict.output
    assert "main_menu              menu" in strict.output
