"""The languages the IVR speaks, and every fact about each one, in one place.

Owns, for each supported language: its code as flows, call scripts and the recordings folder
write it (``zh-CN``), the language Twilio's ``<Say>`` is given (``cmn-CN``) and its default
voice (``Polly.Zhiyu-Neural``, overridden by the setting named in ``voice_setting``), the
language Twilio's speech recogniser is given (``cmn-Hans-CN``), the espeak-ng voice and speed
for offline recordings, how neighbouring phrases are joined, how fast a prompt with no
recording is taken to be spoken (4.5 characters a second in Mandarin, 2.5 words a second in
English: the rates ``ivr check`` estimates caller time with), and the rule set
(``rules``) that ``voice.reading`` reads values by and ``voice.intents`` matches speech by.
``language(code)`` finds one by its code or by any of Twilio's names for it.

A third language is one more ``Language`` here and its texts in the flow file (plus, if it
follows neither rule set, its rules in ``voice.reading`` and ``voice.intents``).

Pure data: the standard library only, nothing else of ``ivr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

Rules = Literal["zh", "en"]
"""A rule set for reading values aloud and matching speech: ``zh`` (amounts in 元/角/分, dates
as 11月20日, words written without spaces) or ``en`` (yuan and fen, "on November 20", words)."""


@dataclass(frozen=True)
class Language:
    code: str  # as flows, call scripts and the recordings folder write it: zh-CN
    name: str  # for people: Mandarin
    say_language: str  # Twilio's <Say language=…>: cmn-CN
    twilio_voice: str  # the default Twilio voice: Polly.Zhiyu-Neural
    voice_setting: str  # the setting that overrides the voice: IVR_VOICE_ZH
    recogniser: str  # Twilio's <Gather language=…> for speech: cmn-Hans-CN
    espeak_voice: str  # espeak-ng's voice for offline recordings: cmn
    espeak_speed: int  # espeak-ng words a minute (its Mandarin is slow at its default 175)
    joiner: str  # between two phrases said one after the other: "" in Chinese, " " in English
    rules: Rules  # how values are read aloud and speech is matched
    subtags: tuple[str, ...]  # primary language subtags that mean this language: zh, cmn
    # How fast a prompt with no recording is taken to be spoken, for caller-time budgets
    # (``ivr check``): so many characters (``chars``: every letter or digit, a Chinese
    # character being one) or words (``words``: runs of letters or digits) a second.
    rate_unit: Literal["chars", "words"] = "words"
    rate_per_s: float = 2.5

    def seconds_to_say(self, text: str) -> float:
        """How long ``text`` takes to say at this language's stated rate."""
        if self.rate_unit == "chars":
            units = sum(1 for ch in text if ch.isalnum())
        else:
            units = len(_WORD_RE.findall(text))
        return units / self.rate_per_s

    @property
    def names(self) -> frozenset[str]:
        """Every exact name of this language, lower-cased: its code and Twilio's names."""
        return frozenset(n.lower() for n in (self.code, self.say_language, self.recogniser))


ZH_CN = Language(
    code="zh-CN",
    name="Mandarin",
    say_language="cmn-CN",
    twilio_voice="Polly.Zhiyu-Neural",
    voice_setting="IVR_VOICE_ZH",
    recogniser="cmn-Hans-CN",
    espeak_voice="cmn",
    espeak_speed=210,
    joiner="",
    rules="zh",
    subtags=("zh", "cmn"),
    rate_unit="chars",
    rate_per_s=4.5,
)
EN_US = Language(
    code="en-US",
    name="English",
    say_language="en-US",
    twilio_voice="Polly.Joanna-Neural",
    voice_setting="IVR_VOICE_EN",
    recogniser="en-US",
    espeak_voice="en-us",
    espeak_speed=170,
    joiner=" ",
    rules="en",
    subtags=("en",),
    rate_unit="words",
    rate_per_s=2.5,
)

# Every supported language. The order is the order of preference: the first is the default.
LANGUAGES: tuple[Language, ...] = (ZH_CN, EN_US)
CODES: tuple[str, ...] = tuple(lang.code for lang in LANGUAGES)


def language(code: str) -> Language:
    """The supported language ``code`` names, else ``ValueError`` listing the supported ones.

    ``code`` may be a language's code (``zh-CN``), one of Twilio's names for it (``cmn-CN``,
    ``cmn-Hans-CN``), or any tag whose primary subtag is the language's (``zh``, ``cmn``,
    ``en``, ``en-GB``); case does not matter. An exact name wins over a primary subtag.
    """
    wanted = code.strip().lower()
    for lang in LANGUAGES:
        if wanted in lang.names:
            return lang
    primary = wanted.split("-")[0]
    for lang in LANGUAGES:
        if primary in lang.subtags:
            return lang
    raise ValueError(f"unknown language {code!r}; supported: {', '.join(CODES)}")


def same_language(one: str, other: str) -> bool:
    """Whether two tags name the same language: ``cmn-CN`` (Twilio's) is ``zh-CN``, ``en-GB``
    is ``en-US``. Tags of languages not supported here are compared by primary subtag."""
    try:
        return language(one) == language(other)
    except ValueError:
        return one.split("-")[0].lower() == other.split("-")[0].lower()
