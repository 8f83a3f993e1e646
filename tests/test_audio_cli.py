"""``ivr prompts status|render|adopt``, the recordings warnings of ``ivr check`` and
``ivr call --audio``, driven through click's CliRunner as a user would run them.

Rendering needs espeak-ng and sox: the test skips, saying so, where they are missing, and
fails instead with IVR_REQUIRE_SERVICES=1 (CI installs them)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.media.recordings import AudioLibrary
from ivr.testing.simulator import Turn
from ivr.testing.speaker import Speaker
from tests.test_audio import FLOWS
from tests.test_audio import hotline_prompts
from tests.test_audio import only
from tests.test_audio import record
from tests.test_audio import shipped_prompts
from tests.test_audio import wav

MAIN_MENU_ZH = "请选择您要咨询的问题。"


def require_tts() -> None:
    """Skip (or, with IVR_REQUIRE_SERVICES=1, fail) when espeak-ng or sox is missing."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (apt-get install espeak-ng sox)"
    if os.environ.get("IVR_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; IVR_REQUIRE_SERVICES=1 makes it required", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    return folder


@pytest.fixture
def runner(cli_env: dict[str, str | None], audio_dir: Path) -> CliRunner:
    """The CLI with this test's recordings folder."""
    return CliRunner(env={**cli_env, "IVR_AUDIO_DIR": str(audio_dir)})


def edited_flows(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    text = (FLOWS / "hotline.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    (folder / "hotline.yaml").write_text(text.replace(old, new), encoding="utf-8")
    return folder


def wav_header(path: Path) -> tuple[bytes, int, int, int]:
    """(RIFF tag, format tag, channels, rate), the fmt chunk being the first (as sox writes)."""
    import struct

    data = path.read_bytes()
    tag, channels, rate = struct.unpack("<HHI", data[20:28])
    return data[:4], tag, channels, rate


# -- status --------------------------------------------------------------------------------


def test_status_lists_per_language_what_is_current_stale_missing_and_unadopted(
    runner: CliRunner, audio_dir: Path, tmp_path: Path
) -> None:
    record(audio_dir, only("hotline.welcome.prompt", "hotline.main_menu.prompt"))
    (audio_dir / "en-US" / "hotline.phrases.agent.wav").write_bytes(wav())
    flows = edited_flows(tmp_path, MAIN_MENU_ZH, "请告诉我们您要咨询的问题。")
    runner.env["IVR_FLOWS_DIR"] = str(flows)
    result = runner.invoke(main, ["prompts", "status", "--all"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    total = {
        lang: sum(1 for p in hotline_prompts(flows) if p.lang == lang)
        for lang in ("zh-CN", "en-US")
    }
    assert (
        f"en-US: {total['en-US']} prompts: 2 current, {total['en-US'] - 3} missing, 1 unadopted"
        in lines
    )
    assert (
        f"zh-CN: {total['zh-CN']} prompts: 1 current, 1 stale, {total['zh-CN'] - 2} missing"
        in lines
    )
    assert (
        "  ~ stale     hotline.main_menu.prompt  “请告诉我们您要咨询的问题。”"
        f"  (recorded from “{MAIN_MENU_ZH}”)"
    ) in lines
    assert "  ✓ current   hotline.welcome.prompt  “您好，欢迎致电数字钱包客服热线。”" in lines
    assert "  ? unadopted hotline.phrases.agent  “To speak to an agent, press 0.”" in lines
    assert "→ `ivr prompts adopt` records the text of recordings you dropped in" in lines


def test_status_without_all_hides_current_recordings_and_strict_fails_on_any_other(
    runner: CliRunner, audio_dir: Path
) -> None:
    record(audio_dir, only("hotline.welcome.prompt"))
    result = runner.invoke(main, ["prompts", "status", "--lang", "zh", "--strict"])
    assert result.exit_code == 1
    assert "hotline.welcome.prompt" not in result.output
    assert "  ✗ missing   hotline.main_menu.prompt  “请选择您要咨询的问题。”" in result.output
    assert "en-US" not in result.output


def test_status_names_recordings_no_prompt_has(runner: CliRunner, audio_dir: Path) -> None:
    (audio_dir / "zh-CN").mkdir()
    (audio_dir / "zh-CN" / "hotline.gone.prompt.wav").write_bytes(wav())
    result = runner.invoke(main, ["prompts", "status"])
    assert "unused (1): no prompt has these ids\n  zh-CN/hotline.gone.prompt.wav\n" in result.output


def test_an_unknown_language_or_prompt_is_refused_with_what_to_use(runner: CliRunner) -> None:
    result = runner.invoke(main, ["prompts", "status", "--lang", "fr"])
    assert result.exit_code == 2
    assert "unknown language 'fr'" in result.output
    assert "use one of en-US, zh-CN (or zh, en)" in result.output
    result = runner.invoke(main, ["prompts", "render", "--only", "hotline.nope.*"])
    assert result.exit_code == 2
    assert "no prompt matches hotline.nope.*" in result.output


# -- render --------------------------------------------------------------------------------


def test_render_makes_one_telephone_quality_recording_and_notes_its_text(
    runner: CliRunner, audio_dir: Path
) -> None:
    require_tts()
    result = runner.invoke(
        main, ["prompts", "render", "--lang", "zh", "--only", "hotline.main_menu.prompt"]
    )
    assert result.exit_code == 0, result.output
    assert "  [1/1] zh-CN hotline.main_menu.prompt  " in result.output
    assert "manifest updated" in result.output
    path = audio_dir / "zh-CN" / "hotline.main_menu.prompt.wav"
    assert wav_header(path) == (b"RIFF", 7, 1, 8000)  # μ-law, mono, 8 kHz
    assert path.stat().st_size > 8000  # more than a second of speech
    library = AudioLibrary.open(audio_dir)
    entry = library.entries["zh-CN/hotline.main_menu.prompt.wav"]
    assert (entry.text, entry.voice) == (MAIN_MENU_ZH, "espeak-ng cmn")
    [prompt] = only("hotline.main_menu.prompt", langs=("zh-CN",))
    assert library.status(prompt).status == "current"
    assert not (audio_dir / "music").exists()  # --only renders only what it names
    again = runner.invoke(
        main, ["prompts", "render", "--lang", "zh", "--only", "hotline.main_menu.prompt"]
    )
    assert again.output == "nothing to render: 1 recording(s) are current\n"


def test_render_says_how_to_install_espeak_ng_and_sox_when_they_are_missing(
    runner: CliRunner, tmp_path: Path
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    runner.env["PATH"] = str(empty)
    result = runner.invoke(main, ["prompts", "render", "--only", "hotline.main_menu.prompt"])
    assert result.exit_code == 2
    assert "espeak-ng and sox not found on PATH" in result.output
    assert "sudo apt-get install espeak-ng sox" in result.output
    assert "brew install espeak-ng sox" in result.output


def test_render_keeps_a_persons_stale_recording_and_one_not_yet_adopted(
    runner: CliRunner, audio_dir: Path, tmp_path: Path
) -> None:
    record(audio_dir, only("hotline.main_menu.prompt", langs=("zh-CN",)), voice="person")
    (audio_dir / "en-US").mkdir()
    (audio_dir / "en-US" / "hotline.main_menu.prompt.wav").write_bytes(wav())
    runner.env["IVR_FLOWS_DIR"] = str(edited_flows(tmp_path, MAIN_MENU_ZH, "请说。"))
    result = runner.invoke(main, ["prompts", "render", "--only", "hotline.main_menu.prompt"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "  keeping zh-CN/hotline.main_menu.prompt.wav (a person's recording; see `ivr prompts status`)",
        "  keeping en-US/hotline.main_menu.prompt.wav (not adopted; see `ivr prompts status`)",
        "nothing to render: 0 recording(s) are current",
    ]


# -- adopt ---------------------------------------------------------------------------------


def test_adopt_records_the_text_of_a_recording_a_person_dropped_in(
    runner: CliRunner, audio_dir: Path
) -> None:
    (audio_dir / "zh-CN").mkdir()
    (audio_dir / "zh-CN" / "hotline.main_menu.prompt.wav").write_bytes(wav())
    result = runner.invoke(main, ["prompts", "adopt"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"  adopted zh-CN/hotline.main_menu.prompt.wav  “{MAIN_MENU_ZH}”",
        "1 recording(s) adopted",
    ]
    entry = AudioLibrary.open(audio_dir).entries["zh-CN/hotline.main_menu.prompt.wav"]
    assert (entry.text, entry.voice) == (MAIN_MENU_ZH, "person")


def test_adopt_by_id_takes_a_re_recorded_stale_prompt_and_names_missing_files(
    runner: CliRunner, audio_dir: Path, tmp_path: Path
) -> None:
    record(audio_dir, only("hotline.main_menu.prompt", langs=("zh-CN",)))
    runner.env["IVR_FLOWS_DIR"] = str(edited_flows(tmp_path, MAIN_MENU_ZH, "请说。"))
    assert runner.invoke(main, ["prompts", "adopt"]).output.startswith(
        "0 recording(s) adopted\n  → no recording waits to be adopted"
    )
    result = runner.invoke(
        main, ["prompts", "adopt", "hotline.main_menu.prompt", "--voice", "王芳"]
    )
    assert result.output.splitlines() == [
        "  adopted zh-CN/hotline.main_menu.prompt.wav  “请说。”",
        "  no recording for hotline.main_menu.prompt in en-US "
        "(expected en-US/hotline.main_menu.prompt.wav)",
        "1 recording(s) adopted",
    ]
    entry = AudioLibrary.open(audio_dir).entries["zh-CN/hotline.main_menu.prompt.wav"]
    assert (entry.text, entry.voice) == ("请说。", "王芳")


def test_adopt_with_nothing_to_adopt_says_what_to_drop_in_and_what_to_pass(
    runner: CliRunner, audio_dir: Path
) -> None:
    result = runner.invoke(main, ["prompts", "adopt"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "0 recording(s) adopted",
        f"  → no recording waits to be adopted: drop a person's recording into {audio_dir} "
        "named <language>/<prompt id>.wav or .mp3 (e.g. zh-CN/callback.offer_by_name.prompt.0.wav), "
        "then run this again;",
        "    to adopt one re-recorded after its text changed, name it: "
        "`ivr prompts adopt <prompt id>` (`ivr prompts status --all` lists the ids)",
    ]


def test_a_person_recording_over_a_rendered_file_is_adopted_and_never_rendered_over(
    runner: CliRunner, audio_dir: Path, tmp_path: Path
) -> None:
    record(audio_dir, only("hotline.main_menu.prompt", langs=("zh-CN",)))  # rendered
    recorded = audio_dir / "zh-CN" / "hotline.main_menu.prompt.wav"
    persons = wav() + b"\x00" * 16  # a person records over it, same name
    recorded.write_bytes(persons)
    runner.env["IVR_FLOWS_DIR"] = str(edited_flows(tmp_path, MAIN_MENU_ZH, "请说。"))

    render = runner.invoke(main, ["prompts", "render", "--only", "hotline.main_menu.prompt"])
    assert render.exit_code == 0, render.output
    assert render.output.splitlines()[0] == (
        "  keeping zh-CN/hotline.main_menu.prompt.wav (not adopted; see `ivr prompts status`)"
    )
    assert recorded.read_bytes() == persons

    adopt = runner.invoke(main, ["prompts", "adopt", "--lang", "zh"])
    assert adopt.output.splitlines() == [
        "  adopted zh-CN/hotline.main_menu.prompt.wav  “请说。”",
        "1 recording(s) adopted",
    ]
    forced = runner.invoke(
        main, ["prompts", "render", "--force", "--only", "hotline.main_menu.prompt", "--lang", "zh"]
    )
    assert forced.output.splitlines()[0] == (
        "  keeping zh-CN/hotline.main_menu.prompt.wav (a person's recording; "
        "see `ivr prompts status`)"
    )
    assert recorded.read_bytes() == persons


def test_an_mp3_dropped_in_beside_a_rendered_wav_is_found_for_adoption(
    runner: CliRunner, audio_dir: Path
) -> None:
    record(audio_dir, only("hotline.main_menu.prompt", langs=("zh-CN",)))
    (audio_dir / "zh-CN" / "hotline.main_menu.prompt.mp3").write_bytes(b"ID3 a person")
    result = runner.invoke(main, ["prompts", "adopt"])
    assert result.output.splitlines() == [
        f"  adopted zh-CN/hotline.main_menu.prompt.mp3  “{MAIN_MENU_ZH}”",
        "1 recording(s) adopted",
    ]


# -- ivr check -----------------------------------------------------------------------------


def test_check_warns_about_stale_and_missing_recordings_but_passes(
    runner: CliRunner, audio_dir: Path
) -> None:
    prompts = shipped_prompts()
    record(audio_dir, [p for p in prompts if p.id != "hotline.main_menu.prompt"])
    library = AudioLibrary.open(audio_dir)
    library.record("en-US/hotline.welcome.prompt.wav", "Welcome, old words.", "espeak-ng en-us")
    library.save()
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        f"! recordings: 1 stale, 2 missing of {len(prompts)} (said with <Say> until current)"
        in lines
    )
    assert "    stale     en-US hotline.welcome.prompt" in lines
    assert "    missing   zh-CN hotline.main_menu.prompt" in lines
    assert "  → `ivr prompts status` lists them; `ivr prompts render` makes them" in lines


def test_check_says_all_recordings_are_current(runner: CliRunner, audio_dir: Path) -> None:
    prompts = shipped_prompts()
    record(audio_dir, prompts)
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0
    assert f"✓ {len(prompts)} recordings, all current" in result.output.splitlines()


# -- ivr call --audio ----------------------------------------------------------------------


def fake_programs(folder: Path, log: Path) -> None:
    """``play`` and ``espeak-ng`` that only write down how they were called."""
    folder.mkdir()
    scripts = {
        "play": f'echo "play $*" >> {log}\n',
        "espeak-ng": f'echo "espeak-ng $*" >> {log}\nwhile [ $# -gt 0 ]; do '
        'if [ "$1" = "-w" ]; then : > "$2"; fi; shift; done\n',
    }
    for name, body in scripts.items():
        path = folder / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_call_with_audio_plays_the_recordings_and_voices_the_rest(
    runner: CliRunner, audio_dir: Path, tmp_path: Path
) -> None:
    record(audio_dir, only("hotline.welcome.prompt"))
    log = tmp_path / "played.log"
    fake_programs(tmp_path / "bin", log)
    runner.env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    result = runner.invoke(main, ["call", "--audio"], input="q\n")
    assert result.exit_code == 0, result.output
    assert "    IVR    ♪ 您好，欢迎致电数字钱包客服热线。" in result.output.splitlines()
    played = log.read_text().splitlines()
    assert played[0] == f"play -q {audio_dir / 'zh-CN' / 'hotline.welcome.prompt.wav'}"
    assert played[1] == f"play -q {audio_dir / 'en-US' / 'hotline.welcome.prompt.wav'}"
    assert played[2].startswith("espeak-ng -v cmn -w ")
    assert played[2].endswith(" 中文服务请按1。")
    assert played[3].startswith("play -q ")


def test_call_without_audio_says_every_prompt_in_whole_sentences(
    runner: CliRunner, audio_dir: Path
) -> None:
    record(audio_dir, hotline_prompts())
    result = runner.invoke(
        main, ["call", "--from", "+8613800000002", "--lang", "en"], input="123456\nq\n"
    )
    assert "    IVR    Thank you, Li Na, you are verified." in result.output.splitlines()
    assert "♪" not in result.output


def test_call_with_audio_where_no_player_exists_says_why_and_goes_on(
    runner: CliRunner, tmp_path: Path
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    runner.env["PATH"] = str(empty)
    result = runner.invoke(main, ["call", "--audio"], input="q\n")
    assert result.exit_code == 0, result.output
    assert "--audio: no audio player here: neither `play` nor `aplay` is installed" in result.output
    assert "call ended caller-hangup" in result.output


# -- the speaker -----------------------------------------------------------------------------


def test_the_speaker_falls_silent_after_the_first_failure_saying_why(audio_dir: Path) -> None:
    record(audio_dir, only("hotline.welcome.prompt", langs=("zh-CN",)))
    calls: list[list[str]] = []
    warnings: list[str] = []

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ALSA lib: Unknown PCM default\n")

    speaker = Speaker(
        ["play", "-q"], None, AudioLibrary.open(audio_dir), run=run, warn=warnings.append
    )
    text_of = speaker.heard(AudioLibrary.open(audio_dir).play_text)
    url = "http://localhost/audio/zh-CN/hotline.welcome.prompt.wav?v=1"
    text = text_of(url)
    turn = Turn("ivr", "play", text or "", None, "http://localhost/voice", "welcome")
    speaker.play([turn, turn])
    assert calls == [["play", "-q", str(audio_dir / "zh-CN" / "hotline.welcome.prompt.wav")]]
    assert warnings == [
        "(cannot play sound: play failed: ALSA lib: Unknown PCM default; going on without audio)"
    ]
