"""One place that knows a language (``ivr.voice.languages``), and the modules that read it.

The Twilio voice and ``<Say>`` language, the recogniser's language, the espeak-ng voice and the
rules values are read by all come from one ``Language`` per supported code; these tests hold the
facts, the lookup by Twilio's names, and every reader to them.
"""

from __future__ import annotations

import ast
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

import ivr
from ivr.errors import TtsError
from ivr.media import tts
from ivr.settings import SETTINGS
from ivr.telephony.render import Voice
from ivr.telephony.render import Voices
from ivr.voice import intents
from ivr.voice.languages import CODES
from ivr.voice.languages import EN_US
from ivr.voice.languages import LANGUAGES
from ivr.voice.languages import ZH_CN
from ivr.voice.languages import Language
from ivr.voice.languages import language
from ivr.voice.languages import same_language
from ivr.voice.reading import DateOnly
from ivr.voice.reading import Localized
from ivr.voice.reading import Money
from ivr.voice.reading import When
from ivr.voice.reading import say_key
from ivr.voice.reading import say_value

NOW = datetime(2025, 11, 20, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai


def test_the_supported_languages_are_mandarin_then_english() -> None:
    assert LANGUAGES == (ZH_CN, EN_US)
    assert CODES == ("zh-CN", "en-US")
    assert [
        (lang.say_language, lang.twilio_voice, lang.recogniser, lang.espeak_voice)
        for lang in LANGUAGES
    ] == [
        ("cmn-CN", "Polly.Zhiyu-Neural", "cmn-Hans-CN", "cmn"),
        ("en-US", "Polly.Joanna-Neural", "en-US", "en-us"),
    ]


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("zh-CN", ZH_CN),
        ("cmn-CN", ZH_CN),
        ("cmn-Hans-CN", ZH_CN),
        ("zh", ZH_CN),
        ("CMN-cn", ZH_CN),
        ("en-US", EN_US),
        ("en", EN_US),
        ("en-GB", EN_US),
    ],
)
def test_a_language_is_found_by_its_code_or_any_of_twilios_names_for_it(
    name: str, found: Language
) -> None:
    assert language(name) is found


@pytest.mark.parametrize("name", ["fr-FR", "", "cmnx"])
def test_an_unsupported_language_is_refused_naming_the_supported_ones(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^unknown language {name!r}; supported: zh-CN, en-US$"):
        language(name)


def test_no_two_languages_share_a_name_or_a_primary_subtag() -> None:
    names = [name for lang in LANGUAGES for name in lang.names]
    subtags = [tag for lang in LANGUAGES for tag in lang.subtags]

    assert len(names) == len(set(names))
    assert len(subtags) == len(set(subtags))
    assert all(language(name) is lang for lang in LANGUAGES for name in lang.names)


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("cmn-CN", "zh-CN", True),
        ("en-GB", "en-US", True),
        ("en-US", "zh-CN", False),
        ("fr-FR", "fr-CA", True),
        ("fr-FR", "zh-CN", False),
    ],
)
def test_two_tags_are_the_same_language_when_they_name_one(
    one: str, other: str, same: bool
) -> None:
    assert same_language(one, other) is same


# -- the modules that read it ---------------------------------------------------------------------


def test_each_language_is_said_in_its_default_twilio_voice() -> None:
    assert Voices().by_lang == {
        "zh-CN": Voice("cmn-CN", "Polly.Zhiyu-Neural"),
        "en-US": Voice("en-US", "Polly.Joanna-Neural"),
    }


def test_a_voice_setting_overrides_only_the_voice() -> None:
    assert Voice.of(ZH_CN, "woman") == Voice("cmn-CN", "woman")
    assert Voice.of(EN_US, "") == Voice("en-US", "Polly.Joanna-Neural")


def test_each_languages_voice_setting_exists_with_its_default_voice() -> None:
    # settings.py keeps its own defaults; they must agree with the languages'.
    assert {lang.voice_setting: SETTINGS[lang.voice_setting][0] for lang in LANGUAGES} == {
        "IVR_VOICE_ZH": "Polly.Zhiyu-Neural",
        "IVR_VOICE_EN": "Polly.Joanna-Neural",
    }


def test_offline_recordings_use_each_languages_espeak_voice() -> None:
    assert [tts.describe(code) for code in CODES] == ["espeak-ng cmn", "espeak-ng en-us"]
    with pytest.raises(TtsError, match=r"^no espeak-ng voice for 'fr'; known: zh-CN, en-US$"):
        tts.voice_for("fr")


def test_speech_is_matched_by_the_rules_of_its_language_under_any_of_its_names() -> None:
    assert intents.normalise("我的退款", "cmn-Hans-CN") == intents.normalise("我的退款", "zh-CN")
    assert intents.normalise("My refunds", "en-GB") == "refund"


@pytest.mark.parametrize("lang", LANGUAGES, ids=lambda lang: lang.code)
def test_every_language_reads_every_kind_of_value(lang: Language) -> None:
    values = [Money(8990), When(NOW), DateOnly(NOW), Localized("您好", "hello")]

    said = [say_value(value, lang.code, now=NOW) for value in values] + [say_key("#", lang.code)]

    assert (
        said
        == {
            "zh": ["89元9角", "今天14点00分", "今天", "您好", "井号键"],
            "en": ["89 yuan and 90 fen", "today at 2:00 PM", "today", "hello", "pound"],
        }[lang.rules]
    )


def test_only_the_languages_module_spells_twilio_and_espeak_language_names() -> None:
    spelled = {
        value
        for lang in LANGUAGES
        for value in (lang.say_language, lang.twilio_voice, lang.recogniser, lang.espeak_voice)
        if value not in CODES  # en-US is also a code, which flows and scripts use everywhere
    }
    root = Path(ivr.__file__).parent
    # settings.py keeps the voice defaults as its own; the test above holds them equal.
    allowed = {root / "voice" / "languages.py", root / "settings.py"}
    found = sorted(
        f"{path.relative_to(root.parent)}:{node.lineno}: {node.value!r}"
        for path in root.rglob("*.py")
        if path not in allowed
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in spelled
    )

    assert found == []
