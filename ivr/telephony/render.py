"""TwiML writing: the only module that imports ``twilio.twiml``.

Owns how a ``reply.Reply`` becomes a TwiML document: the voice of each caller language (the
defaults are ``ivr.voice.languages``'), Play or Say for each piece of speech, the Redirect
after every Gather and Record (Twilio falls through on silence), hold music, and the
safety-net apology used when anything goes wrong. URLs come from a ``Urls`` the web layer
supplies, recordings from the ``Recordings`` lookup in ``Voices`` (``ivr.media.recordings``
implements it), and the words said outside the flow's states (apology, restart, connecting)
from the ``Announcements`` in ``Voices``, taken from the flow at start-up: no words are
written here. Nothing here knows about Flask or touches files.

Play or Say, one voice per sentence: a sentence is played only when every part of it with words
has a current recording and all of them were spoken by one voice; otherwise the whole sentence
is said, so a caller never hears a recording and Polly take turns within one sentence.
Neighbouring said sentences share one ``<Say>``. Values read digit by digit are
wrapped in SSML ``<say-as interpret-as="digits">`` (a short ``<break>`` between groups) for
Polly and Google voices, which read SSML. Money and dates are not: ``ivr.voice.reading``
already words them for the caller's language (``3000元``, ``昨天10点00分``), which
``say-as`` would undo.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Protocol
from xml.sax.saxutils import escape

from twilio.twiml.voice_response import Dial
from twilio.twiml.voice_response import Gather
from twilio.twiml.voice_response import Say
from twilio.twiml.voice_response import VoiceResponse

from ivr.engine.reply import Hangup
from ivr.engine.reply import Listen
from ivr.engine.reply import RecordMessage
from ivr.engine.reply import Reply
from ivr.engine.reply import Restart
from ivr.engine.reply import Transfer
from ivr.flow.prompts import phrase_lines
from ivr.flow.spec import Flow
from ivr.voice.languages import LANGUAGES
from ivr.voice.languages import Language
from ivr.voice.speech import Part
from ivr.voice.speech import Speech

DIAL_TIMEOUT = 20  # seconds an agent's phone rings before the call falls back
HOLD_PAUSE = 15  # seconds of quiet between hold announcements (without hold music)
HOLD_MUSIC = "hold"
DIGIT_BREAK = "300ms"
SSML_VOICES = ("Polly.", "Google.")
SENTENCE_ENDS = ("。", "！", "？", ".", "!", "?", "；", ";")


@dataclass(frozen=True)
class Voice:
    language: str  # Twilio's <Say language=…>
    voice: str  # e.g. Polly.Zhiyu-Neural

    @classmethod
    def of(cls, lang: Language, voice: str | None = None) -> Voice:
        """How ``lang`` is said: its default Twilio voice, or ``voice`` when one is given."""
        return cls(lang.say_language, voice or lang.twilio_voice)


def default_voices() -> dict[str, Voice]:
    """Each supported language's default voice, by language code."""
    return {lang.code: Voice.of(lang) for lang in LANGUAGES}


class Recordings(Protocol):
    """Where current recordings are served: a URL to ``<Play>``, or None to say the words;
    and the voice that spoke each (a sentence is played only from recordings in one voice)."""

    def url(self, prompt: str, lang: str) -> str | None: ...
    def voice(self, prompt: str, lang: str) -> str | None: ...
    def music(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class Announcements:
    """What the flow that answers calls says outside its states, built once at start-up from its
    ``phrases`` so that nothing is read from the flow, a store or a session when it is needed:
    the apology when anything goes wrong and the restart of a call the IVR lost track of (in
    every language: the caller's may be unknown then), and the line a caller hears, in their
    language, as an agent takes them. Empty ones say nothing; start-up refuses a flow without
    them (``ivr.flow.validation.answering_problems``)."""

    apology: tuple[Speech, ...] = ()
    restart: tuple[Speech, ...] = ()
    connecting: Mapping[str, Speech] = field(default_factory=dict)  # by language, flow order

    @classmethod
    def of(cls, flow: Flow) -> Announcements:
        """``flow``'s announcements, each part tagged with its prompt id (played from a
        recording where a current one exists)."""
        return cls(
            apology=tuple(phrase_lines(flow, "apology").values()),
            restart=tuple(phrase_lines(flow, "restart").values()),
            connecting=phrase_lines(flow, "connecting"),
        )

    def connecting_in(self, lang: str) -> tuple[Speech, ...]:
        """The connecting line in ``lang``, else in the flow's first language."""
        found = self.connecting.get(lang) or next(iter(self.connecting.values()), None)
        return (found,) if found is not None else ()


@dataclass(frozen=True)
class Voices:
    """How each language is voiced: a Twilio voice, and recordings where current ones exist
    (``recordings`` None: everything is said, as with ``IVR_AUDIO=off``)."""

    by_lang: Mapping[str, Voice] = field(default_factory=default_voices)
    recordings: Recordings | None = None
    announcements: Announcements = Announcements()  # what is said outside the flow's states
    # documents rendered with their URLs left as tokens, by what they say (``render``)
    rendered: dict[tuple[object, ...], _Template] = field(
        default_factory=dict, compare=False, repr=False
    )

    def for_lang(self, lang: str) -> Voice:
        return self.by_lang.get(lang) or Voice(lang, "")


class Urls(Protocol):
    """Absolute or relative URLs of the IVR's own webhooks."""

    def voice(self) -> str: ...
    def step(self, n: int) -> str: ...
    def hold(self, queue: str) -> str: ...
    def queue_result(self, n: int) -> str: ...
    def recording_status(self) -> str: ...


def _say(parent: VoiceResponse | Gather, speeches: Iterable[Speech], voices: Voices) -> None:
    for speech in speeches:
        _speak(parent, speech, voices)


def _speak(parent: VoiceResponse | Gather, speech: Speech, voices: Voices) -> None:
    """One voice per sentence: a sentence whose every spoken part has a current recording, all
    by one voice, is played; any other sentence is said whole, in one ``<Say>`` with the
    sentences around it that are said too."""
    pending: list[Part] = []
    for sentence in _sentences(speech.pieces()):
        urls = _recorded(sentence, speech.lang, voices.recordings)
        if urls is None:
            pending.extend(sentence)
            continue
        _say_parts(parent, pending, speech.lang, voices)
        pending = []
        for url in urls:
            parent.play(url)
    _say_parts(parent, pending, speech.lang, voices)


def _sentences(parts: Iterable[Part]) -> list[list[Part]]:
    """``parts`` cut after each part that ends a sentence ("。", ".", "?" …)."""
    out: list[list[Part]] = [[]]
    for part in parts:
        out[-1].append(part)
        if part.text.rstrip().endswith(SENTENCE_ENDS):
            out.append([])
    return [sentence for sentence in out if sentence]


def _recorded(sentence: list[Part], lang: str, recordings: Recordings | None) -> list[str] | None:
    """The URLs that play ``sentence``, when recordings in one voice cover every part with
    words in it; else None (the sentence is said)."""
    if recordings is None:
        return None
    urls: list[str] = []
    spoken_by: set[str | None] = set()
    for part in sentence:
        if not any(ch.isalnum() for ch in part.text):
            continue  # punctuation or a space between two recordings
        url = recordings.url(part.prompt, lang) if part.prompt is not None else None
        if url is None:
            return None
        urls.append(url)
        spoken_by.add(recordings.voice(part.prompt or "", lang))
    return urls if urls and len(spoken_by) == 1 else None


def _say_parts(
    parent: VoiceResponse | Gather, parts: list[Part], lang: str, voices: Voices
) -> None:
    """One ``<Say>`` for ``parts`` (nothing when they hold no words)."""
    if not "".join(p.text for p in parts).strip():
        return
    v = voices.for_lang(lang)
    attrs = {"voice": v.voice} if v.voice else {}
    if not v.voice.startswith(SSML_VOICES) or not any(p.digits for p in parts):
        parent.say("".join(p.text for p in parts).strip(), language=v.language, **attrs)
        return
    say = Say(language=v.language, **attrs)
    for kind, text in _ssml_nodes(parts):
        if kind == "text":
            say.nest(text)
        elif kind == "digits":
            say.say_as(text, interpret_as="digits")
        else:
            say.break_(time=DIGIT_BREAK)
    parent.append(say)


def _ssml_nodes(parts: list[Part]) -> list[tuple[str, str]]:
    """("text" | "digits" | "break", words) nodes, neighbouring text joined (the builder keeps
    only the last string after an element) and the ends stripped."""
    nodes: list[tuple[str, str]] = []

    def text(words: str) -> None:
        if not words:
            return
        if nodes and nodes[-1][0] == "text":
            nodes[-1] = ("text", nodes[-1][1] + words)
        else:
            nodes.append(("text", words))

    for part in parts:
        at = 0
        for index, group in enumerate(part.digits):
            found = part.text.find(group, at)
            if found < 0:  # not as the value said it: say it as words
                break
            text(part.text[at:found])
            if index:
                nodes.append(("break", ""))
            nodes.append(("digits", group))
            at = found + len(group)
        text(part.text[at:])
    if nodes and nodes[0][0] == "text":
        nodes[0] = ("text", nodes[0][1].lstrip())
    if nodes and nodes[-1][0] == "text":
        nodes[-1] = ("text", nodes[-1][1].rstrip())
    return [n for n in nodes if n[0] != "text" or n[1]]


# Documents kept per ``Voices``; more distinct ones than this (said values: balances, dates)
# start the table afresh.
MAX_RENDERED = 2048


@dataclass(frozen=True)
class _Template:
    """A rendered document whose URLs are tokens, and the calls that give each its URL."""

    body: str
    urls: tuple[tuple[str, str, tuple[str, ...]], ...]  # (token, Urls method, its arguments)


class _UrlTokens:
    """``Urls`` that answers each call with a token and notes the call, so a rendered
    document can be kept and its URLs filled in per request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []

    def _token(self, method: str, *args: str) -> str:
        token = f"@@ivr-url-{len(self.calls)}@@"
        self.calls.append((token, method, args))
        return token

    def voice(self) -> str:
        return self._token("voice")

    def step(self, n: int) -> str:
        return self._token("step")  # the step comes from the reply when filled in

    def hold(self, queue: str) -> str:
        return self._token("hold", queue)

    def queue_result(self, n: int) -> str:
        return self._token("queue_result")

    def recording_status(self) -> str:
        return self._token("recording_status")


def render(reply: Reply, urls: Urls, voices: Voices) -> str:
    """The TwiML document for ``reply``. What it says is rendered once per ``voices`` (the
    menus, prompts and hold messages of a flow repeat on every call); the URLs, which carry
    the step, are filled in each time."""
    template = _kept(voices, (reply.say, reply.verb), lambda: _tokenised(reply, voices))
    body = template.body
    for token, method, args in template.urls:
        if method in ("step", "queue_result"):
            url = getattr(urls, method)(reply.step)
        else:
            url = getattr(urls, method)(*args)
        body = body.replace(token, escape(url, {'"': "&quot;"}), 1)
    return body


def _render(reply: Reply, urls: Urls, voices: Voices) -> str:
    response = VoiceResponse()
    _say(response, reply.say, voices)
    verb = reply.verb
    if isinstance(verb, Listen):
        speech = verb.speech_language is not None
        gather = Gather(
            input="dtmf speech" if speech else "dtmf",
            action=urls.step(reply.step),
            method="POST",
            timeout=verb.timeout,
            finish_on_key=verb.finish_on_key,
            num_digits=verb.num_digits,
            language=verb.speech_language,
            hints=verb.hints or None,
            speech_timeout="auto" if speech else None,
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
            recording_status_callback=urls.recording_status() if verb.status_callback else None,
            recording_status_callback_method="POST" if verb.status_callback else None,
        )
        response.redirect(urls.step(reply.step), method="POST")  # reached when nothing was said
    elif isinstance(verb, Transfer):
        _say(response, verb.hold, voices)
        if verb.dial is not None:
            dial = Dial(action=urls.queue_result(reply.step), method="POST", timeout=DIAL_TIMEOUT)
            dial.number(verb.dial)
            response.append(dial)
        else:
            response.enqueue(
                verb.twilio_queue,
                wait_url=urls.hold(verb.queue),
                wait_url_method="POST",
                action=urls.queue_result(reply.step),
                method="POST",
            )
    elif isinstance(verb, Hangup):
        response.hangup()
    elif isinstance(verb, Restart):
        _say(response, voices.announcements.restart, voices)
        response.redirect(urls.voice(), method="POST")
    return str(response)


def _tokenised(reply: Reply, voices: Voices) -> _Template:
    """``reply`` rendered with its URLs left as tokens, and the calls that give each its URL."""
    tokens = _UrlTokens()
    return _Template(_render(reply, tokens, voices), tuple(tokens.calls))


def _kept(voices: Voices, key: tuple[object, ...], build: Callable[[], _Template]) -> _Template:
    """What ``build`` makes, made once per ``voices`` and ``key``: the table is bounded
    (``MAX_RENDERED``), and starts afresh when full."""
    template = voices.rendered.get(key)
    if template is None:
        template = build()
        if len(voices.rendered) >= MAX_RENDERED:
            voices.rendered.clear()
        voices.rendered[key] = template
    return template


def _fixed(voices: Voices, key: tuple[object, ...], build: Callable[[], str]) -> str:
    """The document ``build`` writes, written once per ``voices`` and ``key`` (what it says
    and its URLs): the hold pages, the apology, goodbye and restart say the same each time."""
    return _kept(voices, key, lambda: _Template(build(), ())).body


def render_hold(
    message: Iterable[Speech],
    voices: Voices,
    *,
    offer: Iterable[Speech] = (),
    choice_url: str | None = None,
    offer_first: bool = False,
) -> str:
    """The document Twilio repeats while a caller waits in a queue: the announcement, the
    callback offer (a one-key Gather; silence falls through), then hold music when there is
    some, else a pause. ``offer_first`` when the queue is full: the offer leads. Written
    once for each thing it can say (the place in line and the wait vary by a few numbers)."""
    said = tuple(message)
    offered = tuple(offer)
    return _fixed(
        voices,
        ("hold", said, offered, choice_url, offer_first),
        lambda: _render_hold(said, voices, offered, choice_url, offer_first),
    )


def _render_hold(
    message: tuple[Speech, ...],
    voices: Voices,
    offered: tuple[Speech, ...],
    choice_url: str | None,
    offer_first: bool,
) -> str:
    response = VoiceResponse()
    gather = None
    if offered and choice_url is not None:
        gather = Gather(input="dtmf", num_digits=1, timeout=3, action=choice_url, method="POST")
        _say(gather, offered, voices)
    if gather is not None and offer_first:
        response.append(gather)
    _say(response, message, voices)
    if gather is not None and not offer_first:
        response.append(gather)
    music = voices.recordings.music(HOLD_MUSIC) if voices.recordings is not None else None
    if music is not None:
        response.play(music)
    else:
        response.pause(length=HOLD_PAUSE)
    return str(response)


@functools.cache
def render_leave() -> str:
    """Take the caller out of the queue; Twilio then calls the Enqueue action (leave).
    The same document each time: written once."""
    response = VoiceResponse()
    response.leave()
    return str(response)


def render_goodbye(message: Iterable[Speech], voices: Voices) -> str:
    """Say ``message`` and hang up (written once for each message)."""
    said = tuple(message)

    def build() -> str:
        response = VoiceResponse()
        _say(response, said, voices)
        response.hangup()
        return str(response)

    return _fixed(voices, ("goodbye", said), build)


def render_restart(urls: Urls, voices: Voices) -> str:
    """A call the IVR has no record of: say so, then start it over at the incoming-call URL
    (written once for each such URL)."""
    voice_url = urls.voice()

    def build() -> str:
        response = VoiceResponse()
        _say(response, voices.announcements.restart, voices)
        response.redirect(voice_url, method="POST")
        return str(response)

    return _fixed(voices, ("restart", voice_url), build)


def render_apology(queue: str, urls: Urls, voices: Voices) -> str:
    """Never dead air: an apology and a queue, built without touching the flow or session (the
    words were taken from the flow at start-up; written once for each queue and hold URL).
    Never raises."""
    hold_url = urls.hold(queue)

    def build() -> str:
        response = VoiceResponse()
        _say(response, voices.announcements.apology, voices)
        response.enqueue(queue, wait_url=hold_url, wait_url_method="POST")
        return str(response)

    return _fixed(voices, ("apology", queue, hold_url), build)


@functools.cache
def empty_response() -> str:
    """``<Response/>``: what a status callback answers (written once)."""
    return str(VoiceResponse())


# -- the agent's side of a queue ----------------------------------------------------------


def render_pickup(queue: str, connecting_url: str) -> str:
    """The agent's leg takes the caller at the front of ``queue``. Twilio first runs
    ``connecting_url`` on the caller's leg, then bridges the two."""
    response = VoiceResponse()
    dial = Dial()
    dial.queue(queue, url=connecting_url, method="POST")
    response.append(dial)
    return str(response)


def render_connecting(message: Iterable[Speech], voices: Voices) -> str:
    """Played to the dequeued caller; the bridge to the agent follows the last word."""
    response = VoiceResponse()
    _say(response, message, voices)
    return str(response)
