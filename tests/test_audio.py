"""Recorded prompts: Play when a current recording exists, Say otherwise; the manifest, the
audio endpoint, hold music, and the transcript of a played prompt.

Each test builds its own recordings folder (tiny μ-law WAV files and a manifest written through
``ivr.media.recordings``) so exact TwiML can be compared; one test checks the committed set's format.
"""

from __future__ import annotations

import hashlib
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import cast

import pytest
from flask import Flask

from ivr.clock import ManualClock
from ivr.engine.reply import Hangup
from ivr.engine.reply import Reply
from ivr.errors import ConfigError
from ivr.flow.loader import load_flow
from ivr.flow.prompts import Prompt
from ivr.flow.prompts import flow_prompts
from ivr.media.recordings import PERSON
from ivr.media.recordings import AudioLibrary
from ivr.media.recordings import Entry
from ivr.media.recordings import read_manifest
from ivr.media.recordings import text_hash
from ivr.settings import Settings
from ivr.telephony.render import Announcements
from ivr.telephony.render import Urls
from ivr.telephony.render import Voices
from ivr.telephony.render import render
from ivr.telephony.render import render_apology
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.voice.speech import Part
from ivr.voice.speech import Speech
from ivr.web.app import create_app
from tests.conftest import PIN_KEY

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
SHIPPED = ROOT / "audio_prompts"
ZHANG = "+8613800000001"
ZH = 'language="cmn-CN" voice="Polly.Zhiyu-Neural"'
EN = 'language="en-US" voice="Polly.Joanna-Neural"'
WELCOME_ZH = "您好，欢迎致电数字钱包客服热线。"


def wav(samples: int = 80, fill: int = 0xFF) -> bytes:
    """An 8 kHz mono μ-law WAV file of ``samples`` samples."""
    data = bytes([fill]) * samples
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def hotline_prompts(flows: Path = FLOWS) -> list[Prompt]:
    return flow_prompts(load_flow(flows / "hotline.yaml"))


def shipped_prompts(flows: Path = FLOWS) -> list[Prompt]:
    """Every prompt of every flow in ``flows`` (the hotline and the callback call)."""
    return [p for path in sorted(flows.glob("*.yaml")) for p in flow_prompts(load_flow(path))]


def record(root: Path, prompts: Iterable[Prompt], *, voice: str = PERSON) -> bytes:
    """Put a recording of each prompt in ``root`` and note its text in the manifest."""
    library = AudioLibrary.open(root)
    data = wav()
    for p in prompts:
        rel = library.relative(p.id, p.lang)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        library.record(rel, p.text, voice)
    library.save()
    return data


def only(*ids: str, langs: tuple[str, ...] = ("zh-CN", "en-US")) -> list[Prompt]:
    return [p for p in hotline_prompts() if p.id in ids and p.lang in langs]


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    return folder


@pytest.fixture
def make_app(tmp_path: Path, clock: ManualClock, audio_dir: Path) -> Iterator[Any]:
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        settings = {
            "IVR_DATABASE_URL": f"sqlite:///{tmp_path / f'ivr{len(apps)}.sqlite3'}",
            "IVR_LOG_LEVEL": "WARNING",
            "IVR_AUDIO_DIR": str(audio_dir),
            "IVR_PIN_KEY": PIN_KEY,
            **config,
        }
        app = create_app(settings, clock=clock, environ={})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["ivr"].database.dispose()


def post(app: Flask, path: str, **form: str) -> str:
    response = app.test_client().post(path, data={"CallSid": "CA1", "From": ZHANG, **form})
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def greeting(app: Flask) -> str:
    body = post(app, "/voice")
    start = body.index("<Gather")
    return body[body.index(">", start) + 1 : body.index("</Gather>")]


def verified(app: Flask) -> None:
    post(app, "/voice")
    post(app, "/voice/step?n=1", Digits="1")
    post(app, "/voice/step?n=2", Digits="123456")


def spoken(body: str) -> list[tuple[str, str]]:
    """(tag, text) of each Play and Say before the Gather or Enqueue."""
    out = []
    for element in ET.fromstring(body):
        if element.tag not in ("Play", "Say"):
            break
        out.append((element.tag, element.text or ""))
    return out


# -- Play or Say -----------------------------------------------------------------------------


def test_a_current_recording_is_played_and_the_rest_is_said(make_app: Any, audio_dir: Path) -> None:
    data = record(audio_dir, only("hotline.welcome.prompt"))
    app = make_app()
    v = version(data)
    assert greeting(app) == (
        f"<Play>/audio/zh-CN/hotline.welcome.prompt.wav?v={v}</Play>"
        f"<Play>/audio/en-US/hotline.welcome.prompt.wav?v={v}</Play>"
        f"<Say {ZH}>中文服务请按1。</Say>"
        f"<Say {EN}>For English, press 2.</Say>"
        f"<Say {ZH}>人工服务请按0。重听请按9。</Say>"
        f"<Say {EN}>To speak to an agent, press 0. To hear these options again, press 9.</Say>"
    )


def test_without_recordings_every_prompt_is_said_as_before(make_app: Any) -> None:
    assert greeting(make_app()) == (
        f"<Say {ZH}>{WELCOME_ZH}</Say>"
        f"<Say {EN}>Welcome to the digital wallet hotline.</Say>"
        f"<Say {ZH}>中文服务请按1。</Say>"
        f"<Say {EN}>For English, press 2.</Say>"
        f"<Say {ZH}>人工服务请按0。重听请按9。</Say>"
        f"<Say {EN}>To speak to an agent, press 0. To hear these options again, press 9.</Say>"
    )


def test_ivr_audio_off_says_everything_even_when_recordings_are_current(
    make_app: Any, audio_dir: Path
) -> None:
    record(audio_dir, hotline_prompts())
    assert "<Play>" not in greeting(make_app(IVR_AUDIO=False))
    assert "<Play>" not in greeting(make_app(IVR_AUDIO="off"))
    assert greeting(make_app()).count("<Play>") == 8


def test_machine_made_recordings_are_previews_played_only_with_ivr_audio_all(
    make_app: Any, audio_dir: Path
) -> None:
    record(audio_dir, hotline_prompts(), voice="espeak-ng cmn")
    assert "<Play>" not in greeting(make_app())
    assert "<Play>" not in greeting(make_app(IVR_AUDIO="recorded"))
    assert greeting(make_app(IVR_AUDIO="all")).count("<Play>") == 8


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        ("recorded", "recorded"),
        ("all", "all"),
        ("OFF", "off"),
        ("0", "off"),
        ("false", "off"),
        ("on", "recorded"),
        ("1", "recorded"),
    ],
)
def test_ivr_audio_is_read_as_recorded_all_or_off_with_the_old_words_kept(
    raw: str, mode: str
) -> None:
    assert Settings.read({"IVR_AUDIO": raw}).audio == mode
    assert Settings.read({}).audio == "recorded"
    assert Settings().with_values({"IVR_AUDIO": False}).audio == "off"


def test_an_unclear_ivr_audio_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"IVR_AUDIO='maybe': expected one of recorded, all, off"):
        Settings.read({"IVR_AUDIO": "maybe"})


def test_a_recording_whose_text_was_edited_in_the_flow_is_stale_and_said(
    make_app: Any, audio_dir: Path, tmp_path: Path
) -> None:
    data = record(audio_dir, only("hotline.welcome.prompt"))
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (FLOWS / "hotline.yaml").read_text(encoding="utf-8")
    assert text.count(WELCOME_ZH) == 1
    edited = text.replace(WELCOME_ZH, "您好，欢迎致电钱包热线。")
    (flows / "hotline.yaml").write_text(edited, encoding="utf-8")

    app = make_app(IVR_FLOWS_DIR=str(flows))
    assert greeting(app).startswith(
        f"<Say {ZH}>您好，欢迎致电钱包热线。</Say>"
        f"<Play>/audio/en-US/hotline.welcome.prompt.wav?v={version(data)}</Play>"
    )
    library = AudioLibrary.open(audio_dir)
    [zh] = [
        p for p in hotline_prompts(flows) if p.id == "hotline.welcome.prompt" and p.lang == "zh-CN"
    ]
    status = library.status(zh)
    assert (status.status, status.file) == ("stale", "zh-CN/hotline.welcome.prompt.wav")
    assert status.recorded == Entry(
        WELCOME_ZH, text_hash(WELCOME_ZH), PERSON, hashlib.sha256(data).hexdigest()
    )


def test_a_recording_dropped_in_without_a_manifest_entry_is_not_played(
    make_app: Any, audio_dir: Path
) -> None:
    (audio_dir / "zh-CN").mkdir()
    (audio_dir / "zh-CN" / "hotline.welcome.prompt.wav").write_bytes(wav())
    [zh] = only("hotline.welcome.prompt", langs=("zh-CN",))
    assert AudioLibrary.open(audio_dir).status(zh).status == "unadopted"
    assert greeting(make_app()).startswith(f"<Say {ZH}>{WELCOME_ZH}</Say>")


def test_a_missing_recording_is_said_while_its_neighbours_play(
    make_app: Any, audio_dir: Path
) -> None:
    record(audio_dir, only("hotline.phrases.agent", langs=("zh-CN",)))
    data = wav()
    assert (
        f"<Play>/audio/zh-CN/hotline.phrases.agent.wav?v={version(data)}</Play>"
        f"<Say {ZH}>重听请按9。</Say>"
    ) in greeting(make_app())


def test_a_sentence_with_call_data_is_said_whole_in_one_voice(
    make_app: Any, audio_dir: Path
) -> None:
    record(
        audio_dir,
        only(
            "hotline.payment_details.prompt.0",
            "hotline.payment_details.prompt.1",
            "hotline.payment_details.prompt.2",
            "hotline.payment_details.prompt.3",
        ),
    )
    app = make_app()
    verified(app)
    body = post(app, "/voice/step?n=3", Digits="2")
    url = "/audio/zh-CN/hotline.payment_details.prompt.{}.wav?v=" + version(wav())
    said = spoken(body)
    assert url.format(0) not in body  # recorded, but the values would be another voice
    assert said[0] == ("Say", said[0][1])
    assert said[0][1].startswith(
        "您最近一笔失败的支付是昨天10点00分向朝阳电器支付的3000元，失败原因是超出每日支付限额。"
        "这笔支付超出了您设置的每日支付限额。"
    )


def ticket_status(app: Flask) -> str:
    """Wang Fang asks for the status of complaint ticket 10000001: the reply's TwiML."""
    wang = "+8613800000003"
    post(app, "/voice", From=wang)
    for n, keys in enumerate(["1", "123456", "6", "2"], 1):
        post(app, f"/voice/step?n={n}", Digits=keys, From=wang)
    return post(app, "/voice/step?n=5", Digits="10000001#", From=wang)


def test_digits_are_said_with_ssml_say_as_for_polly_voices(make_app: Any) -> None:
    assert (
        f'<Say {ZH}>工单<say-as interpret-as="digits">1 0 0 0 0 0 0 1</say-as>的状态是正在处理中'
    ) in ticket_status(make_app())


def test_voices_that_do_not_read_ssml_get_plain_words(make_app: Any) -> None:
    body = ticket_status(make_app(IVR_VOICE_ZH="woman"))
    assert '<Say language="cmn-CN" voice="woman">工单1 0 0 0 0 0 0 1的状态是正在处理中' in body


def test_played_urls_use_the_public_url_when_one_is_set(make_app: Any, audio_dir: Path) -> None:
    data = record(audio_dir, only("hotline.welcome.prompt", langs=("zh-CN",)))
    app = make_app(IVR_PUBLIC_URL="https://ivr.example.com/")
    assert greeting(app).startswith(
        "<Play>https://ivr.example.com/audio/zh-CN/hotline.welcome.prompt.wav"
        f"?v={version(data)}</Play>"
    )


def test_the_url_version_changes_when_a_recording_is_replaced(
    make_app: Any, audio_dir: Path
) -> None:
    record(audio_dir, only("hotline.welcome.prompt", langs=("zh-CN",)))
    before = greeting(make_app())
    (audio_dir / "zh-CN" / "hotline.welcome.prompt.wav").write_bytes(wav(fill=0x7F))
    record(audio_dir, [], voice="unused")  # nothing re-recorded: the new bytes are unadopted
    assert "?v=" not in greeting(make_app()).split("</Say>")[0]
    library = AudioLibrary.open(audio_dir)  # adopted, as `ivr prompts adopt` does
    library.record("zh-CN/hotline.welcome.prompt.wav", WELCOME_ZH, "person")
    library.save()
    after = greeting(make_app())
    assert f"?v={version(wav())}" in before
    assert f"?v={version(wav(fill=0x7F))}" in after


class Lookup:
    """``render.Recordings`` over a dict: (prompt, lang) -> URL."""

    def __init__(
        self, urls: dict[tuple[str, str], str], voices: dict[str, str] | None = None
    ) -> None:
        self.urls = urls
        self.voices = voices or {}

    def url(self, prompt: str, lang: str) -> str | None:
        return self.urls.get((prompt, lang))

    def voice(self, prompt: str, lang: str) -> str | None:
        return self.voices.get(prompt, PERSON)

    def music(self, name: str) -> str | None:
        return None


def rendered(*said: Speech, recordings: Lookup | None = None) -> str:
    reply = Reply(tuple(said), Hangup(), "hotline", "goodbye", 1)
    body = render(reply, cast(Urls, None), Voices(recordings=recordings))
    return body.removeprefix('<?xml version="1.0" encoding="UTF-8"?><Response>').removesuffix(
        "<Hangup /></Response>"
    )


def test_a_sentence_with_a_value_is_said_whole_never_half_played() -> None:
    said = Speech(
        "您有一笔来自青叶书店的89元9角退款。",
        "zh-CN",
        (
            Part("您有一笔来自", "p.0"),
            Part("青叶书店"),
            Part("的", "p.1"),
            Part("89元9角"),
            Part("退款。", "p.2"),
        ),
    )
    lookup = Lookup(
        {("p.0", "zh-CN"): "/a/0.wav", ("p.1", "zh-CN"): "/a/1.wav", ("p.2", "zh-CN"): "/a/2.wav"}
    )
    assert (
        rendered(said, recordings=lookup) == f"<Say {ZH}>您有一笔来自青叶书店的89元9角退款。</Say>"
    )
    assert rendered(said) == f"<Say {ZH}>您有一笔来自青叶书店的89元9角退款。</Say>"
    assert rendered(said, recordings=Lookup({("p.0", "en-US"): "/a/en.wav"})) == rendered(said)


def test_each_sentence_is_played_only_from_recordings_in_one_voice() -> None:
    said = Speech(
        "请选择。投诉请按6。重听请按9。",
        "zh-CN",
        (Part("请选择。", "menu"), Part("投诉请按6。", "six"), Part("重听请按9。", "nine")),
    )
    urls = {("menu", "zh-CN"): "/m.wav", ("six", "zh-CN"): "/6.wav", ("nine", "zh-CN"): "/9.wav"}
    assert rendered(said, recordings=Lookup(urls)) == (
        "<Play>/m.wav</Play><Play>/6.wav</Play><Play>/9.wav</Play>"
    )
    partly = Lookup({k: v for k, v in urls.items() if k[0] != "six"})
    assert rendered(said, recordings=partly) == (
        f"<Play>/m.wav</Play><Say {ZH}>投诉请按6。</Say><Play>/9.wav</Play>"
    )
    one_sentence = Speech("请选择投诉。", "zh-CN", (Part("请选择", "a"), Part("投诉。", "b")))
    two_voices = Lookup(
        {("a", "zh-CN"): "/a.wav", ("b", "zh-CN"): "/b.wav"}, {"a": PERSON, "b": "espeak-ng cmn"}
    )
    assert rendered(one_sentence, recordings=two_voices) == f"<Say {ZH}>请选择投诉。</Say>"


def test_a_phone_number_is_read_as_digit_groups_with_a_break_between() -> None:
    said = Speech(
        "您输入的号码是1 3 8, 0 0 0 0, 0 0 0 1。",
        "zh-CN",
        (
            Part("您输入的号码是", "p.0"),
            Part("1 3 8, 0 0 0 0, 0 0 0 1", digits=("1 3 8", "0 0 0 0", "0 0 0 1")),
            Part("。"),
        ),
    )
    digits = '<say-as interpret-as="digits">{}</say-as>'
    assert rendered(said) == (
        f"<Say {ZH}>您输入的号码是{digits.format('1 3 8')}, "
        f'<break time="300ms" />{digits.format("0 0 0 0")}, '
        f'<break time="300ms" />{digits.format("0 0 0 1")}。</Say>'
    )


# -- hold music ------------------------------------------------------------------------------


def test_the_hold_document_plays_hold_music_between_announcements(
    make_app: Any, audio_dir: Path
) -> None:
    (audio_dir / "music").mkdir()
    (audio_dir / "music" / "hold.wav").write_bytes(wav(fill=0x10))
    body = post(make_app(), "/voice/hold?queue=general", CallSid="CA-unknown")
    root = ET.fromstring(body)
    # place in line, hold message, callback offer, then the music
    assert [e.tag for e in root] == ["Say", "Say", "Gather", "Play"]
    assert root[3].text == f"/audio/music/hold.wav?v={version(wav(fill=0x10))}"


def test_without_hold_music_the_hold_document_pauses(make_app: Any) -> None:
    body = post(make_app(), "/voice/hold?queue=general", CallSid="CA-unknown")
    assert [e.tag for e in ET.fromstring(body)] == ["Say", "Say", "Gather", "Pause"]
    assert '<Pause length="15" />' in body


# -- the audio endpoint ----------------------------------------------------------------------


def test_a_recording_is_served_as_audio_with_caching_headers(
    make_app: Any, audio_dir: Path
) -> None:
    data = record(audio_dir, only("hotline.welcome.prompt", langs=("zh-CN",)))
    client = make_app().test_client()
    with client.get(f"/audio/zh-CN/hotline.welcome.prompt.wav?v={version(data)}") as response:
        assert response.status_code == 200
        assert response.mimetype == "audio/wav"
        assert response.get_data() == data
        assert response.cache_control.public is True
        assert response.cache_control.max_age == 86_400
        etag = response.headers["ETag"]
    path = "/audio/zh-CN/hotline.welcome.prompt.wav"
    with client.get(path, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


def test_an_mp3_recording_is_served_as_audio_mpeg(make_app: Any, audio_dir: Path) -> None:
    (audio_dir / "en-US").mkdir()
    (audio_dir / "en-US" / "hotline.welcome.prompt.mp3").write_bytes(b"ID3fake")
    with make_app().test_client().get("/audio/en-US/hotline.welcome.prompt.mp3") as response:
        assert (response.status_code, response.mimetype) == (200, "audio/mpeg")
        assert response.get_data() == b"ID3fake"


@pytest.mark.parametrize(
    "path",
    [
        "/audio/../outside.wav",
        "/audio/zh-CN/../../outside.wav",
        "/audio/%2e%2e/outside.wav",
        "/audio/%2E%2E%2Foutside.wav",
        "/audio/zh-CN/..%2f..%2foutside.wav",
        "/audio/zh-CN/%252e%252e%252foutside.wav",
        "/audio/..%5coutside.wav",
        "/audio//etc/passwd",
        "/audio/%2Fetc%2Fpasswd",
        "/audio/manifest.yaml",
        "/audio/root.wav",
        "/audio/zh-CN/notes.txt",
        "/audio/zh-CN/.hidden.wav",
        "/audio/zh-CN/link.wav",
        "/audio/zh-CN/missing.wav",
    ],
)
def test_the_audio_endpoint_refuses_anything_outside_its_recordings_with_404(
    make_app: Any, audio_dir: Path, tmp_path: Path, path: str
) -> None:
    record(audio_dir, only("hotline.welcome.prompt", langs=("zh-CN",)))
    (tmp_path / "outside.wav").write_bytes(wav())
    (audio_dir / "root.wav").write_bytes(wav())
    (audio_dir / "zh-CN" / "notes.txt").write_text("secret")
    (audio_dir / "zh-CN" / ".hidden.wav").write_bytes(wav())
    (audio_dir / "zh-CN" / "link.wav").symlink_to(tmp_path / "outside.wav")
    response = make_app().test_client().get(path)
    assert response.status_code == 404


# -- the simulator's transcript --------------------------------------------------------------


def test_the_transcript_shows_a_played_prompt_by_the_text_it_was_recorded_from(
    make_app: Any, audio_dir: Path, clock: ManualClock
) -> None:
    record(audio_dir, only("hotline.welcome.prompt", "hotline.welcome.option.1"))
    app = make_app()
    sim = Simulator(
        WsgiTransport(app),
        base_url="http://localhost",
        clock=clock,
        play_text=app.extensions["ivr"].play_text,
    )
    call = sim.dial(ZHANG)
    turns = [(t.kind, t.text) for t in call.result.transcript[:4]]
    assert turns == [
        ("play", WELCOME_ZH),
        ("play", "Welcome to the digital wallet hotline."),
        ("play", "中文服务请按1。"),
        ("say", "For English, press 2."),
    ]


def test_play_text_knows_only_the_library_urls(audio_dir: Path) -> None:
    record(audio_dir, only("hotline.welcome.prompt", langs=("zh-CN",)))
    (audio_dir / "music").mkdir()
    (audio_dir / "music" / "hold.wav").write_bytes(wav())
    library = AudioLibrary.open(audio_dir)
    assert library.play_text("http://h/audio/zh-CN/hotline.welcome.prompt.wav?v=1") == WELCOME_ZH
    assert library.play_text("https://h/audio/music/hold.wav") == "hold music"
    assert library.play_text("http://h/audio/zh-CN/unknown.wav") is None
    assert library.play_text("http://h/voice") is None


# -- the manifest ----------------------------------------------------------------------------


def test_the_manifest_keeps_each_text_with_its_hash_and_voice(audio_dir: Path) -> None:
    library = AudioLibrary(audio_dir)
    library.record("zh-CN/hotline.main_menu.prompt.wav", " 请选择您要咨询的问题。 ", "person")
    library.save()
    assert read_manifest(audio_dir / "manifest.yaml") == {
        "zh-CN/hotline.main_menu.prompt.wav": Entry(
            "请选择您要咨询的问题。",
            hashlib.sha256("请选择您要咨询的问题。".encode()).hexdigest(),
            "person",
        )
    }
    written = (audio_dir / "manifest.yaml").read_text(encoding="utf-8")
    assert "text: 请选择您要咨询的问题。" in written  # readable, not escaped


def test_a_broken_manifest_stops_the_app_at_start_naming_the_file_line_and_key(
    make_app: Any, audio_dir: Path
) -> None:
    manifest = audio_dir / "manifest.yaml"
    manifest.write_text("recordings:\n  zh-CN/x.wav: {text: hi}\n")

    with pytest.raises(ConfigError) as caught:
        make_app()

    assert str(caught.value) == (
        f"{manifest}:2: recordings.zh-CN/x.wav: expected keys text, sha256 (and voice)"
    )


def test_a_manifest_with_a_file_written_twice_is_refused_with_both_lines(audio_dir: Path) -> None:
    manifest = audio_dir / "manifest.yaml"
    entry = "{text: hi, sha256: abc, voice: espeak-ng cmn}"
    manifest.write_text(f"recordings:\n  zh-CN/x.wav: {entry}\n  zh-CN/x.wav: {entry}\n")

    with pytest.raises(ConfigError) as caught:
        read_manifest(manifest)

    assert str(caught.value) == (
        f"{manifest}:3:3: recordings.zh-CN/x.wav: not valid YAML: key 'zh-CN/x.wav' is written "
        "twice in one mapping (first on line 2)"
    )


def test_unused_recordings_are_the_ones_no_prompt_has(audio_dir: Path) -> None:
    record(audio_dir, only("hotline.welcome.prompt", langs=("zh-CN",)))
    (audio_dir / "zh-CN" / "hotline.gone.prompt.wav").write_bytes(wav())
    (audio_dir / "music").mkdir()
    (audio_dir / "music" / "hold.wav").write_bytes(wav())
    library = AudioLibrary.open(audio_dir)
    assert library.unused(hotline_prompts()) == ["zh-CN/hotline.gone.prompt.wav"]


# -- the committed set -----------------------------------------------------------------------


def _wav_format(path: Path) -> tuple[int, int, int]:
    """(format tag, channels, sample rate) of a WAV file."""
    data = path.read_bytes()
    assert (data[:4], data[8:12]) == (b"RIFF", b"WAVE"), path
    at = 12
    while at < len(data):
        chunk, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        if chunk == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", data[at + 8 : at + 16])
            return tag, channels, rate
        at += 8 + size
    raise AssertionError(f"{path}: no fmt chunk")


def test_every_prompt_of_the_shipped_flows_has_a_current_shipped_recording() -> None:
    """Both flows, both languages: with ``IVR_AUDIO=all`` a called-back customer hears the
    voice a caller hears, and ``ivr check`` on a fresh clone finds nothing missing or stale."""
    statuses = AudioLibrary.open(SHIPPED).statuses(shipped_prompts())
    assert {s.prompt.id.split(".")[0] for s in statuses} == {"callback", "hotline"}
    assert [
        f"{s.prompt.lang} {s.prompt.id}: {s.status}" for s in statuses if s.status != "current"
    ] == []


def test_the_committed_recordings_are_telephone_wav_and_all_in_the_manifest() -> None:
    library = AudioLibrary.open(SHIPPED)
    files = library.files()
    assert "music/hold.wav" in files
    recorded = {rel for rel in files if not rel.startswith("music/")}
    assert recorded == set(library.entries)
    assert len(recorded) >= 150
    for rel, path in files.items():
        assert _wav_format(path) == (7, 1, 8000), rel  # μ-law, mono, 8 kHz
    for rel, entry in library.entries.items():
        assert entry.sha256 == text_hash(entry.text), rel
    total = sum(p.stat().st_size for p in files.values())
    assert total < 11_000_000  # 309 prompts (both flows), about 9.9 MB in all


# -- the lines said outside any state ------------------------------------------------------------

APOLOGY_ZH = "抱歉，系统暂时出现问题，正在为您转接人工客服。"
APOLOGY_EN = "Sorry, something went wrong on our side. Let me put you through to an agent."
QUEUE_GENERAL = (
    '<Enqueue waitUrl="/voice/hold?queue=general" waitUrlMethod="POST">general</Enqueue>'
)


def test_the_apology_is_played_from_its_recordings_then_the_caller_queues(
    make_app: Any, audio_dir: Path
) -> None:
    data = record(audio_dir, only("hotline.phrases.apology"))

    assert post(make_app(), "/voice/fallback", ErrorCode="11200") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Play>/audio/zh-CN/hotline.phrases.apology.wav?v={version(data)}</Play>"
        f"<Play>/audio/en-US/hotline.phrases.apology.wav?v={version(data)}</Play>"
        f"{QUEUE_GENERAL}</Response>"
    )


def test_the_apology_taken_at_start_up_needs_neither_the_flows_nor_the_session_store(
    make_app: Any,
) -> None:
    app = make_app(IVR_AUDIO=False)
    runtime = app.extensions["ivr"]

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("gone")

    object.__setattr__(runtime, "flows", Broken())
    object.__setattr__(runtime, "store", Broken())
    runtime.engine.flows = {}

    assert post(app, "/voice/fallback", ErrorCode="11200") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Say {ZH}>{APOLOGY_ZH}</Say><Say {EN}>{APOLOGY_EN}</Say>{QUEUE_GENERAL}</Response>"
    )


def test_a_call_the_ivr_has_no_record_of_hears_the_flows_restart_line_then_starts_over(
    make_app: Any, audio_dir: Path
) -> None:
    data = record(audio_dir, only("hotline.phrases.restart", langs=("zh-CN",)))

    assert post(make_app(), "/voice/step?n=4", Digits="1") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Play>/audio/zh-CN/hotline.phrases.restart.wav?v={version(data)}</Play>"
        f"<Say {EN}>Sorry, we lost track of your call. Let's start again.</Say>"
        '<Redirect method="POST">/voice</Redirect></Response>'
    )


class GeneralQueue:
    """``render.Urls`` enough for an apology: the hold URL of a queue."""

    def hold(self, queue: str) -> str:
        return f"/voice/hold?queue={queue}"


def test_an_apology_without_announcements_still_queues_the_caller_and_never_raises() -> None:
    body = render_apology("general", cast(Urls, GeneralQueue()), Voices())

    assert body == f'<?xml version="1.0" encoding="UTF-8"?><Response>{QUEUE_GENERAL}</Response>'


def test_announcements_of_the_hotline_hold_each_line_tagged_with_its_prompt_id() -> None:
    announcements = Announcements.of(load_flow(FLOWS / "hotline.yaml"))

    assert [(s.lang, s.text) for s in announcements.apology] == [
        ("zh-CN", APOLOGY_ZH),
        ("en-US", APOLOGY_EN),
    ]
    assert [p.prompt for s in announcements.restart for p in s.parts] == [
        "hotline.phrases.restart",
        "hotline.phrases.restart",
    ]
    assert [s.text for s in announcements.connecting_in("en-US")] == [
        "Connecting you to an agent now."
    ]
    assert [s.text for s in announcements.connecting_in("fr-FR")] == ["现在为您接通人工客服。"]
    assert Announcements().connecting_in("zh-CN") == ()
