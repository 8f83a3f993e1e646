"""TwiML writing: the only module that imports ``twilio.twiml``.

Owns how a ``reply.Reply`` becomes a TwiML document: voices and languages per caller
language, the Redirect after every Gather and Record (Twilio falls through on silence), and
the safety-net apology used when anything goes wrong. URLs come from a ``Urls`` the web layer
supplies; nothing here knows about Flask.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Protocol

from twilio.twiml.voice_response import Gather
from twilio.twiml.voice_response import VoiceResponse

from ivr.reply import Hangup
from ivr.reply import Listen
from ivr.reply import RecordMessage
from ivr.reply import Reply
from ivr.reply import Restart
from ivr.reply import Speech
from ivr.reply import Transfer

# Said when a webhook fails unexpectedly: the caller still reaches a person.
APOLOGY = (
    Speech("抱歉，系统暂时出现问题，正在为您转接人工客服。", "zh-CN"),
    Speech("Sorry, something went wrong on our side. Let me put you through to an agent.", "en-US"),
)
RESTART = (
    Speech("抱歉，我们没有找到您的通话记录，现在为您重新开始。", "zh-CN"),
    Speech("Sorry, we lost track of your call. Let's start again.", "en-US"),
)
HOLD_PAUSE = 15  # seconds of quiet between hold announcements


@dataclass(frozen=True)
class Voice:
    language: str  # Twilio's <Say language=…>
    voice: str  # e.g. Polly.Zhiyu-Neural


@dataclass(frozen=True)
class Voices:
    by_lang: Mapping[str, Voice] = field(
        default_factory=lambda: {
            "zh-CN": Voice("cmn-CN", "Polly.Zhiyu-Neural"),
            "en-US": Voice("en-US", "Polly.Joanna-Neural"),
        }
    )

    def for_lang(self, lang: str) -> Voice:
        return self.by_lang.get(lang) or Voice(lang, "")


class Urls(Protocol):
    """Absolute or relative URLs of the IVR's own webhooks."""

    def voice(self) -> str: ...
    def step(self, n: int) -> str: ...
    def hold(self, queue: str) -> str: ...
    def queue_result(self, n: int) -> str: ...


def _say(parent: VoiceResponse | Gather, parts: Iterable[Speech], voices: Voices) -> None:
    for part in parts:
        v = voices.for_lang(part.lang)
        if v.voice:
            parent.say(part.text, voice=v.voice, language=v.language)
        else:
            parent.say(part.text, language=v.language)


def render(reply: Reply, urls: Urls, voices: Voices) -> str:
    """The TwiML document for ``reply``."""
    response = VoiceResponse()
    _say(response, reply.say, voices)
    verb = reply.verb
    if isinstance(verb, Listen):
        gather = Gather(
            input="dtmf",
            action=urls.step(reply.step),
            method="POST",
            timeout=verb.timeout,
            finish_on_key=verb.finish_on_key,
            num_digits=verb.num_digits,
        )
        _say(gather, verb.prompt, voices)
        response.append(gather)
        response.redirect(urls.step(reply.step), method="POST")  # reached only on silence
    elif isinstance(verb, RecordMessage):
        _say(response, verb.prompt, voices)
        response.record(
            action=urls.step(reply.step),
            method="POST",
            max_length=verb.max_length,
            finish_on_key=verb.finish_on_key,
            timeout=verb.timeout,
            play_beep=True,
        )
        response.redirect(urls.step(reply.step), method="POST")  # reached when nothing was said
    elif isinstance(verb, Transfer):
        _say(response, verb.hold, voices)
        response.enqueue(
            verb.queue,
            wait_url=urls.hold(verb.queue),
            wait_url_method="POST",
            action=urls.queue_result(reply.step),
            method="POST",
        )
    elif isinstance(verb, Hangup):
        response.hangup()
    elif isinstance(verb, Restart):
        _say(response, RESTART, voices)
        response.redirect(urls.voice(), method="POST")
    return str(response)


def render_hold(message: Iterable[Speech], voices: Voices) -> str:
    """The document Twilio repeats while a caller waits in a queue."""
    response = VoiceResponse()
    _say(response, message, voices)
    response.pause(length=HOLD_PAUSE)
    return str(response)


def render_goodbye(message: Iterable[Speech], voices: Voices) -> str:
    response = VoiceResponse()
    _say(response, message, voices)
    response.hangup()
    return str(response)


def render_restart(urls: Urls, voices: Voices) -> str:
    response = VoiceResponse()
    _say(response, RESTART, voices)
    response.redirect(urls.voice(), method="POST")
    return str(response)


def render_apology(queue: str, urls: Urls, voices: Voices, step: int = 0) -> str:
    """Never dead air: an apology and a queue, built without touching the flow or session."""
    response = VoiceResponse()
    _say(response, APOLOGY, voices)
    response.enqueue(queue, wait_url=urls.hold(queue), wait_url_method="POST")
    return str(response)


def empty_response() -> str:
    """``<Response/>``: what a status callback answers."""
    return str(VoiceResponse())
