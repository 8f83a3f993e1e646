"""The browser phone's calls: simulated calls a web page drives, one action at a time.

Owns ``PhoneCalls`` (the calls the browser phone has placed, by an id the page holds),
``PhoneCall`` (one of them: its simulator and ``Call``, the caller's steps as call-script
steps, what it changed), ``CallTimeClock`` (the app's clock, which shows a call placed "at"
another time that time while its webhooks run) and ``saved_script`` (a call as the YAML call
script ``ivr replay`` runs).

Why it lives in ``testing``: a browser call runs "through the real webhooks, driven by the
project's simulator on the server". The simulator is ``testing``'s, and ``testing`` sits above
``web``, so the web layer cannot drive it; this module does, through the app's own WSGI callable
(``ivr.testing.factories.LocalSimulators``: the app's public URL, Twilio's signature when
``TWILIO_AUTH_TOKEN`` is set, recordings read as their text). The ``/phone`` pages are
``ivr.testing.console_web``'s; ``ivr serve`` installs them (the CLI may import both). No Flask
here: the pages hand in plain values and get plain data back.

A queued browser call is a real waiting caller: its hand-off is in the call records, so
``/agent/`` lists it; ``PhoneCalls.bridge`` is how the agent page's pick-up button reaches it
(``ivr.web.agents.Bridge``): the agent's leg runs the real ``/agent/pickup`` document, the
caller hears "connecting you now", and after the talk the queue's result runs (the survey).

Everything a call does is read from the simulator's transcript; every step a person takes is
kept as the call script step that does it again, so "save as call script" replays the call.
"""

from __future__ import annotations

import contextvars
import secrets
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import tzinfo
from typing import Any

from flask import Flask

from ivr.clock import Clock
from ivr.clock import ManualClock
from ivr.clock import as_utc
from ivr.errors import DialProblem
from ivr.errors import SimulationError
from ivr.flow.spec import Flow
from ivr.hotline.dialer import Dialer
from ivr.hotline.dialer import RetryPolicy
from ivr.phones import is_caller_id
from ivr.stores.callbacks import CallbackAttempt
from ivr.stores.callbacks import CallbackBook
from ivr.stores.callbacks import CallbackRequest
from ivr.telephony.calls import RING_TIMEOUT
from ivr.telephony.calls import TwilioPlacer
from ivr.telephony.numbers import Credentials
from ivr.testing.factories import LocalSimulators
from ivr.testing.factories import random_first_call
from ivr.testing.generate import fixed_text_heard
from ivr.testing.scripts import Agent
from ivr.testing.scripts import Dial
from ivr.testing.scripts import Hangup
from ivr.testing.scripts import Hold
from ivr.testing.scripts import Press
from ivr.testing.scripts import Record
from ivr.testing.scripts import Say
from ivr.testing.scripts import Step
from ivr.testing.scripts import Wait
from ivr.testing.scripts import describe_outcome
from ivr.testing.simulator import Call
from ivr.testing.simulator import OutboundRequest
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import Turn
from ivr.testing.twilio_api import FakeCallsApi
from ivr.voice.languages import language
from ivr.wallet.demo import CHEN_JIE
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import LIU_YANG
from ivr.wallet.demo import SUN_LI
from ivr.wallet.demo import WANG_FANG
from ivr.wallet.demo import WU_LEI
from ivr.wallet.demo import YANG_JING
from ivr.wallet.demo import ZHANG_WEI
from ivr.wallet.demo import ZHAO_MIN
from ivr.wallet.demo import ZHOU_QIANG
from ivr.web.runtime import Runtime

#: The callers the page offers, in the demo data's order.
DEMO_CALLERS = (
    ZHANG_WEI,
    LI_NA,
    WANG_FANG,
    LIU_YANG,
    ZHAO_MIN,
    CHEN_JIE,
    YANG_JING,
    ZHOU_QIANG,
    WU_LEI,
    SUN_LI,
)
#: Calls kept at once; the oldest is dropped (hung up first) beyond it.
MAX_CALLS = 50
#: How long an agent talks to a browser caller picked up from the agent page (simulated).
TALK_SECONDS = 60
#: Seconds a browser caller speaks into a recording (voicemail).
RECORD_SECONDS = 5
#: The account of the fake Twilio REST API the browser phone's dialer places calls through.
DIAL_ACCOUNT = Credentials("AC" + "e" * 32, "browser-phone")
#: How a ringing callback can be met, as ``Simulator.answer`` plays it: (answered_by,
#: network). Declining a call on a mobile phone reaches Twilio as ``busy``.
PICK_UPS: dict[str, tuple[str, str | None]] = {
    "answer": ("human", None),
    "decline": ("human", "busy"),
    "busy": ("human", "busy"),
    "no-answer": ("human", "no-answer"),
    "machine": ("machine_end_beep", None),
}

_call_time: contextvars.ContextVar[Clock | None] = contextvars.ContextVar(
    "ivr_phone_call_time", default=None
)


class CallTimeClock:
    """The app's clock: ``inner`` (the configured one), except while a browser call placed at
    a chosen time runs its webhooks in this thread: then that call's simulated clock."""

    def __init__(self, inner: Clock) -> None:
        self.inner = inner

    def now(self) -> datetime:
        override = _call_time.get()
        return override.now() if override is not None else self.inner.now()


@contextmanager
def _at(clock: Clock | None) -> Iterator[None]:
    token = _call_time.set(clock)
    try:
        yield
    finally:
        _call_time.reset(token)


@dataclass(frozen=True)
class Caller:
    """A demo customer the page offers."""

    phone: str
    name: str
    name_en: str
    status: str


@dataclass
class PhoneCall:
    """One browser call: the simulated call and the steps that make it again."""

    id: str
    sim: Simulator
    call: Call
    caller: str
    lang: str | None  # the language chosen on the page (None: chosen at the menu)
    at: datetime  # when the call was placed (simulated time)
    timed: bool  # placed at a chosen time: its webhooks see the call's own clock
    before: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)  # where each step's turns begin
    script_effects: list[str] = field(default_factory=list)
    played: dict[int, str] = field(default_factory=dict)  # transcript index -> media URL
    effects: list[str] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    callback: int | None = None  # the callback request this outbound call is an attempt of
    flow: str | None = None  # the flow answering the call (None: the app's hotline)

    @contextmanager
    def driving(self) -> Iterator[None]:
        """Hold the call's lock; its webhooks see its clock when it was placed at a time."""
        with self.lock, _at(self.sim.clock if self.timed else None):
            yield


@dataclass
class PageDialer(Dialer):
    """The app's dialer, as a page runs it: the same due, pacing, cap and retry rules, but
    for the number the page calls from only (``only``), so that a page never rings another
    person's callback."""

    only: str | None = None

    def due(self, request: CallbackRequest) -> bool:
        return (self.only is None or request.phone == self.only) and super().due(request)


class PagePlacer(TwilioPlacer):
    """Places a page's callbacks through its fake REST API. A call that API does not know
    rang on a page before the server restarted: it is over, and nobody met it."""

    def status(self, call_sid: str) -> str | None:
        try:
            return super().status(call_sid)
        except DialProblem:
            return "no-answer"


@dataclass(frozen=True)
class Ringing:
    """A callback the dialer placed, ringing the browser phone of ``request.to``."""

    request: OutboundRequest
    callback: CallbackRequest
    attempt: int  # the attempt's number (1 for the first call)
    at: datetime  # when it started ringing (the dialer's clock)
    since: float = field(default_factory=time.monotonic)  # when, in real time


class PhoneCalls:
    """The browser phone's calls against ``app`` (whose runtime is read, never changed)."""

    def __init__(self, app: Flask, *, clock: CallTimeClock | None = None) -> None:
        self.app = app
        self.runtime: Runtime = app.extensions["ivr"]
        self.clock = clock
        self._factory = LocalSimulators(app, first_call=random_first_call())
        self._calls: OrderedDict[str, PhoneCall] = OrderedDict()
        self._lock = threading.Lock()
        self._ringing: OrderedDict[str, Ringing] = OrderedDict()
        self._dial_lock = threading.Lock()
        #: The dialer's time: moved on by the page ("let time pass"), never back.
        self.dial_clock = ManualClock(self.runtime.services.clock.now())
        self.api = FakeCallsApi(
            DIAL_ACCOUNT.account_sid, DIAL_ACCOUNT.auth_token, first_call=random_first_call()
        )
        self._dialer: PageDialer | None = None
        #: Real seconds a callback rings before it rings out (no-answer), page open or not.
        self.ring_out = float(RING_TIMEOUT)

    @property
    def flow(self) -> Flow:
        return self.runtime.flows[self.runtime.flow_name].flow

    # -- who can call ------------------------------------------------------------------------

    def callers(self) -> list[Caller]:
        """The demo customers (``ivr.wallet.demo``) the wallet holds."""
        found = []
        for phone in DEMO_CALLERS:
            account = self.runtime.services.wallet.find_by_phone(phone)
            if account is not None:
                found.append(Caller(phone, account.name_zh, account.name_en, account.status))
        return found

    # -- placing and driving -----------------------------------------------------------------

    def dial(
        self, caller: str, *, lang: str | None = None, at: datetime | None = None
    ) -> PhoneCall:
        """Place a call from ``caller``; with ``lang``, press the welcome menu's key for it."""
        if not is_caller_id(caller):
            raise SimulationError(f"{caller!r} is not a phone number, such as +8613800000001")
        if lang is not None and lang not in self.flow.languages:
            raise SimulationError(
                f"{lang!r} is not a language of the flow: {', '.join(self.flow.languages)}"
            )
        if at is not None and self.clock is None:
            raise SimulationError("this server cannot place a call at another time")
        with self._lock:  # the factory numbers CallSids: one at a time
            sim = self._factory()
        sim.clock.set(as_utc(at) if at is not None else self.runtime.services.clock.now())
        played: dict[int, str] = {}
        sim.play_text = self._player(sim, played)
        before = self._snapshot(caller)
        placed = sim.clock.now()
        with _at(sim.clock if at is not None else None):
            call = sim.dial(caller)
        phone = PhoneCall(
            id=secrets.token_urlsafe(9),
            sim=sim,
            call=call,
            caller=caller,
            lang=lang,
            at=placed,
            timed=at is not None,
            before=before,
            played=played,
        )
        key = self._language_key(lang)
        with phone.driving():
            if key is not None and call.waiting_for == "gather" and call.state == self.flow.start:
                self._act(phone, "press", key)
        self._keep(phone)
        return phone

    def _player(self, sim: Simulator, played: dict[int, str]) -> Callable[[str], str | None]:
        """The simulator's ``play_text``, noting in ``played`` which turn played which URL
        (the page plays the recording itself)."""
        words = self.runtime.play_text

        def heard(url: str) -> str | None:
            current = sim.last_call
            where = len(current.result.transcript) if current is not None else 0
            # The simulator fetches the app's own URL; the page, on whatever host it was
            # opened, fetches the path.
            parts = urllib.parse.urlsplit(url)
            played[where] = parts.path + (f"?{parts.query}" if parts.query else "")
            return words(url)

        return heard

    def _language_key(self, lang: str | None) -> str | None:
        if lang is None:
            return None
        start = self.flow.states[self.flow.start]
        return next((o.key for o in start.options if o.lang == lang), None)

    def get(self, call_id: str) -> PhoneCall | None:
        with self._lock:
            return self._calls.get(call_id)

    def act(self, call_id: str, action: str, value: str = "") -> PhoneCall:
        """Do what the page asks: press, say, silence, record, hold, dial (the party
        answers), hangup. ``SimulationError`` when the call cannot (ended, not waiting)."""
        phone = self.get(call_id)
        if phone is None:
            raise LookupError(call_id)
        with phone.driving():
            self._act(phone, action, value)
        return phone

    def _act(self, phone: PhoneCall, action: str, value: str) -> None:  # noqa: C901 - one branch per action
        call = phone.call
        mark = len(call.result.transcript)
        step: Step
        if action == "press":
            keys = value.strip()
            call.press(keys)
            step = Press(keys)
        elif action == "say":
            text = " ".join(value.split())
            if not text:
                raise SimulationError("say needs words")
            call.say(text)
            step = Say(text)
        elif action == "silence":
            call.silence()
            step = Wait()
        elif action == "record":
            call.record(RECORD_SECONDS, finish="#")
            step = Record(RECORD_SECONDS, "#")
        elif action == "hold":
            if call.waiting_for != "queue":
                # The page's hold tick raced the queue's end (an agent picked up, the caller
                # was bridged): the hold music is over; nothing to do, nothing to refuse.
                return
            call.hold(1)
            step = Hold(1)
        elif action == "dial":
            call.dial_result("completed")
            step = Dial("completed")
        elif action == "hangup":
            call.hangup()
            step = Hangup()
        else:
            raise SimulationError(
                f"unknown action {action!r}; the phone can press, say, silence, record, hold, "
                "dial or hangup"
            )
        self._note(phone, step, mark)

    def _note(self, phone: PhoneCall, step: Step, mark: int) -> None:
        """Keep ``step`` for the saved script, its turns from ``mark``; holds in a row become
        one ``hold: n`` (one action in a replay: its turns are all heard after it), silences
        one ``wait: n`` (n actions: only the last one's turns are heard after it)."""
        last = phone.steps[-1] if phone.steps else None
        if isinstance(step, Hold) and isinstance(last, Hold):
            phone.steps[-1] = Hold(last.cycles + step.cycles)
        elif isinstance(step, Wait) and isinstance(last, Wait):
            phone.steps[-1] = Wait(last.times + 1)
            phone.marks[-1] = mark
        else:
            phone.steps.append(step)
            phone.marks.append(mark)
        self._ended(phone)

    def waiting(self, call_sid: str) -> bool:
        """Whether ``call_sid`` is a browser call still up (the agent page lists it when its
        hand-off waits)."""
        return any(p.call.call_sid == call_sid and not p.call.ended for p in self._all())

    def bridge(self, call_sid: str, queue: str) -> bool:
        """An agent picks up the browser call ``call_sid`` waiting in ``queue`` from the agent
        page: through the real pickup document. False when no browser call is waiting so."""
        phone = next((p for p in self._all() if p.call.call_sid == call_sid), None)
        if phone is None:
            return False
        with phone.driving():
            if phone.call.waiting_for not in ("queue", "gather"):
                return False
            mark = len(phone.call.result.transcript)
            query = {"queue": queue}
            if self.runtime.settings.agent_token:  # the pickup document needs it (no header)
                query["token"] = self.runtime.settings.agent_token
            pickup = "/agent/pickup?" + urllib.parse.urlencode(query)
            try:
                phone.call.agent_answers(TALK_SECONDS, pickup=pickup)
            except SimulationError:
                return False
            saved = "/agent/pickup?" + urllib.parse.urlencode({"queue": queue})
            self._note(phone, Agent(seconds=TALK_SECONDS, pickup=saved), mark)
        return True

    # -- callbacks ringing the page ------------------------------------------------------------

    @property
    def dialer(self) -> PageDialer:
        """The app's callback dialer, placing calls through the fake REST API (``api``) at
        the dialer's time. ``SimulationError`` when the app books no callbacks."""
        rt = self.runtime
        if rt.callbacks is None:
            raise SimulationError("this server books no callbacks (no callback store)")
        if self._dialer is None:
            self._dialer = PageDialer(
                book=rt.callbacks,
                wallet=rt.services.wallet,
                flow=self.flow,
                placer=PagePlacer(DIAL_ACCOUNT, http_client=self.api),
                clock=self.dial_clock,
                base_url=rt.settings.public_url or "http://localhost",
                from_number=self._factory().to,
                name="browser-phone",
                rate=rt.settings.dial_rate,
                policy=RetryPolicy.of(rt.settings),
                lease=timedelta(seconds=rt.settings.callback_lease),
                sleep=self.dial_clock.advance,
            )
        return self._dialer

    def callbacks(self, phone: str) -> list[tuple[CallbackRequest, list[CallbackAttempt]]]:
        """The callbacks booked for ``phone`` (any status), each with its attempts."""
        book = self.runtime.callbacks
        if book is None:
            return []
        return [(r, book.attempts(r.id)) for r in book.listed() if r.phone == phone]

    def _dial_time(self, phone: str) -> datetime:
        """Now for the dialer: never before its last run, the server's clock, or the end of
        any browser call of ``phone`` (one placed at a chosen time books from then)."""
        times = [self.dial_clock.now(), self.runtime.services.clock.now()]
        times += [p.sim.clock.now() for p in self._all() if p.caller == phone]
        return max(times)

    def next_due(self, phone: str) -> datetime | None:
        """When the first pending callback of ``phone`` becomes due (its booked time or retry
        delay past, and its queue open), from the dialer's time; None when none is pending."""
        now = self._dial_time(phone)
        moments = []
        for request, _ in self.callbacks(phone):
            if request.status == "pending":
                hours = self.flow.hours_of(request.queue)
                moments.append(hours.next_opening(max(now, request.earliest())))
        return as_utc(min(moments)) if moments else None

    def run_dialer(
        self, phone: str, *, advance: float = 0, until_due: bool = False
    ) -> list[Ringing]:
        """Let ``advance`` seconds pass (or, ``until_due``, until the first pending callback
        of ``phone`` is due), then run one round of the dialer for ``phone``'s callbacks: each
        call it places rings the page. What rings ``phone`` now."""
        dialer = self.dialer
        if (advance or until_due) and self.clock is None:
            raise SimulationError("this server cannot move time: run the dialer now instead")
        if advance < 0:
            raise SimulationError("time passes forwards only")
        with self._dial_lock:
            at = self._dial_time(phone)
            if until_due:
                due = self.next_due(phone)
                if due is None:
                    raise SimulationError(f"no callback of {phone} is waiting to be placed")
                at = max(at, due)
            self.dial_clock.set(at + timedelta(seconds=advance))
            before = len(self.api.created)
            dialer.only = phone
            with _at(self.dial_clock if self.clock is not None else None):
                placed = dialer.run_once()
            requests = {r.call_sid: r for r in self.api.requests[before:]}
            for done in placed:
                if done.call_sid is not None and done.call_sid in requests:
                    self._ringing[done.call_sid] = Ringing(
                        requests[done.call_sid],
                        done.request,
                        done.attempt.number,
                        self.dial_clock.now(),
                    )
        return self.ringing(phone)

    def ringing(self, phone: str) -> list[Ringing]:
        """The callbacks ringing ``phone``'s page, first placed first. Any callback that has
        rung ``ring_out`` seconds unanswered (its page closed, say) rings out first: a
        no-answer attempt, retried by the dialer's rules."""
        now = time.monotonic()
        with self._dial_lock:
            old = [sid for sid, r in self._ringing.items() if now - r.since >= self.ring_out]
        for sid in old:
            try:
                self.pick_up(sid, "no-answer")
            except LookupError:  # pragma: no cover - met by its page meanwhile
                pass
        with self._dial_lock:
            return [r for r in self._ringing.values() if r.request.to == phone]

    def pick_up(self, call_sid: str, how: str) -> PhoneCall:
        """Meet the ringing callback ``call_sid``: ``answer`` (a person), ``decline`` or
        ``busy`` (Twilio hears busy), ``no-answer`` (it rings out), ``machine`` (voicemail
        answers, the message is left). Runs through the real ``/voice/callback`` webhooks;
        the call, answered or not, is a browser call the page shows. ``LookupError`` when
        nothing rings so."""
        if how not in PICK_UPS:
            raise SimulationError(f"{how!r}: a ringing phone can {', '.join(PICK_UPS)}")
        with self._dial_lock:
            ringing = self._ringing.pop(call_sid, None)
        if ringing is None:
            raise LookupError(call_sid)
        answered_by, network = PICK_UPS[how]
        request = ringing.request
        with self._lock:
            sim = self._factory()
        sim.clock.set(ringing.at)
        played: dict[int, str] = {}
        sim.play_text = self._player(sim, played)
        timed = self.clock is not None
        before = self._snapshot(request.to)
        with _at(sim.clock if timed else None):
            call = sim.answer(request, answered_by=answered_by, network=network)
        phone = PhoneCall(
            id=secrets.token_urlsafe(9),
            sim=sim,
            call=call,
            caller=request.to,
            lang=ringing.callback.lang,
            at=ringing.at,
            timed=timed,
            before=before,
            played=played,
            callback=ringing.callback.id,
            flow=self.runtime.settings.callback_flow,
        )
        with phone.lock:
            self._ended(phone)
        self._keep(phone)
        return phone

    def _ended(self, phone: PhoneCall) -> None:
        """Once a call ends: its lasting effects, and for a callback Twilio's final status
        (what the dialer would ask after a lost status callback)."""
        if not phone.call.ended:
            return
        if phone.effects is None:
            phone.effects = self._changes(phone)
        if phone.callback is not None and phone.call.result.call_status:
            self.api.statuses[phone.call.call_sid] = phone.call.result.call_status

    def _callback_effects(self, phone: PhoneCall) -> list[str]:
        """For a callback call: where its callback stands after this attempt."""
        book = self.runtime.callbacks
        if phone.callback is None or book is None:
            return []
        request = book.by_id(phone.callback)
        return [] if request is None else [_callback_effect(request)]

    # -- the calls kept ----------------------------------------------------------------------

    def _all(self) -> list[PhoneCall]:
        with self._lock:
            return list(self._calls.values())

    def _keep(self, phone: PhoneCall) -> None:
        with self._lock:
            self._calls[phone.id] = phone
            dropped = []
            while len(self._calls) > MAX_CALLS:
                dropped.append(self._calls.popitem(last=False)[1])
        for old in dropped:  # a call dropped while up is hung up, as a closed page would
            with old.driving():
                if not old.call.ended:
                    old.call.hangup()

    # -- what a call changed -----------------------------------------------------------------

    def _snapshot(self, caller: str) -> dict[str, Any]:
        wallet = self.runtime.services.wallet
        account = wallet.find_by_phone(caller)
        if account is None:
            return {}
        return {
            "status": account.status,
            "tickets": {t.number for t in wallet.tickets(account.id)},
            "sms": {m.id for m in wallet.outbox(account.id)},
        }

    def _changes(self, phone: PhoneCall) -> list[str]:
        """The lasting effects of the call, in words: account, tickets, SMS, callback."""
        out: list[str] = []
        wallet = self.runtime.services.wallet
        account = wallet.find_by_phone(phone.caller)
        before = phone.before
        if account is not None and before:
            where = f'phone: "{phone.caller}"'
            if account.status != before["status"]:
                out.append(f"account {before['status']} → {account.status}")
                phone.script_effects.append(f"account: {{{where}, status: {account.status}}}")
            tickets = wallet.tickets(account.id)
            kinds: dict[str, int] = {}
            for ticket in tickets:
                if ticket.number not in before["tickets"]:
                    voicemail = " (with a voicemail)" if ticket.recording_url else ""
                    out.append(f"ticket {ticket.number} opened: {ticket.kind}{voicemail}")
                    kinds[ticket.kind] = sum(t.kind == ticket.kind for t in tickets)
            for kind, count in sorted(kinds.items()):
                phone.script_effects.append(f"tickets: {{{where}, kind: {kind}, count: {count}}}")
            outbox = wallet.outbox(account.id)
            sent = [m for m in outbox if m.id not in before["sms"]]
            for message in sent:
                out.append(f"SMS to {message.to_phone}: {message.body}")
            if sent:
                phone.script_effects.append(f"sms: {{{where}, count: {len(outbox)}}}")
        book = self.runtime.services.callbacks
        callback = book.get(phone.call.call_sid) if isinstance(book, CallbackBook) else None
        if callback is not None:
            out.append(f"callback requested ({callback.status})")
        out.extend(self._callback_effects(phone))
        for handoff in self.runtime.records.handoffs():
            if handoff.call_sid == phone.call.call_sid:
                out.append(f"handed to an agent in {handoff.queue}: {handoff.status}")
        return out


def _callback_effect(request: CallbackRequest) -> str:
    """A callback's state after an attempt, in words."""
    if request.status == "pending" and request.next_try_at is not None:
        return (
            f"callback {request.id}: attempt {request.attempts} not answered; "
            f"tried again from {request.next_try_at.isoformat()}"
        )
    if request.status == "failed":
        return f"callback {request.id}: out of attempts; ticket {request.ticket}"
    return f"callback {request.id}: {request.status}"


# -- what the page shows -------------------------------------------------------------------------


def turn_json(turn: Turn, audio: str | None) -> dict[str, Any]:
    """One turn for the page: ``lang`` as Twilio was told (``cmn-CN``), ``language`` as the
    flow and the browser name it (``zh-CN``; None when not said in a known language)."""
    return {
        "speaker": turn.speaker,
        "kind": turn.kind,
        "text": turn.text,
        "lang": turn.lang,
        "language": _code(turn.lang),
        "state": turn.state,
        "audio": audio,
        "cut": turn.cut,
    }


def call_json(phone: PhoneCall, since: int = 0) -> dict[str, Any]:
    """The call as the page sees it: the turns from ``since``, where it is, how it ended."""
    call = phone.call
    result = call.result
    turns = []
    last_audio: tuple[str, str] | None = None  # (text, url) of the play before: loop="n"
    for index, turn in enumerate(result.transcript):
        audio = phone.played.get(index)
        if turn.kind == "play" and audio is None and last_audio and last_audio[0] == turn.text:
            audio = last_audio[1]
        if turn.kind == "play" and audio is not None:
            last_audio = (turn.text, audio)
        if index >= since:
            turns.append(turn_json(turn, audio))
    outcome = result.outcome
    spec = call.gather
    return {
        "id": phone.id,
        "call_sid": call.call_sid,
        "caller": phone.caller,
        "at": phone.at.isoformat(),
        "turns": turns,
        "next": len(result.transcript),
        "state": call.state,
        "path": list(result.states),
        "waiting_for": call.waiting_for,
        "in_queue": call.in_queue,
        # How the page collects keys before sending them, as Twilio's <Gather> would.
        "gather": None
        if spec is None or call.waiting_for != "gather"
        else {
            "input": list(spec.input),
            "num_digits": spec.num_digits,
            "finish_on_key": spec.finish_on_key,
            "timeout": spec.timeout,
        },
        "ended": call.ended,
        "outcome": None
        if outcome is None
        else {
            "kind": outcome.kind,
            "queue": outcome.queue,
            "detail": outcome.detail,
            "text": describe_outcome(outcome),
        },
        "effects": phone.effects or [],
        "steps": len(phone.steps),
        "flow": phone.flow,
        "callback": phone.callback,
    }


def callback_json(
    request: CallbackRequest, attempts: list[CallbackAttempt], zone: tzinfo = UTC
) -> dict[str, Any]:
    """A booked callback for the page: where it stands and every attempt; ``earliest_local``
    is its earliest time in ``zone`` (the hotline's)."""
    return {
        "id": request.id,
        "queue": request.queue,
        "issue": request.issue,
        "status": request.status,
        "requested_at": request.requested_at.isoformat(),
        "earliest": request.earliest().isoformat(),
        "earliest_local": request.earliest().astimezone(zone).isoformat(timespec="minutes"),
        "attempts": [
            {"number": a.number, "outcome": a.outcome, "answered_by": a.answered_by}
            for a in attempts
        ],
        "ticket": request.ticket,
    }


def ringing_json(ringing: Ringing) -> dict[str, Any]:
    """A callback ringing the page."""
    return {
        "call_sid": ringing.request.call_sid,
        "from": ringing.request.from_,
        "to": ringing.request.to,
        "callback": ringing.callback.id,
        "issue": ringing.callback.issue,
        "attempt": ringing.attempt,
        "at": ringing.at.isoformat(),
    }


# -- save as call script -------------------------------------------------------------------------


def saved_script(phone: PhoneCall, flow: Flow, name: str | None = None) -> str:
    """The call as a call script: each step, then a fixed prompt heard after it and the
    state it left the call in; the outcome and the lasting effects, as ``ivr replay`` checks."""
    call = phone.call
    lang = _language_of(call, phone.lang or flow.default_language)
    title = name or f"{phone.caller} calls from the browser phone ({lang})"
    lines = [
        "# Saved by the browser phone (/phone); `ivr replay <this file>` runs it again.",
        f"name: {_quote(title)}",
        f'from: "{phone.caller}"',
        f"lang: {lang}",
        f'at: "{phone.at.isoformat()}"',
        "steps:",
    ]
    heard, states = _per_step(phone)
    for index, step in enumerate([None, *phone.steps]):
        if isinstance(step, Say):  # quoted: what a person typed may look like YAML
            lines.append(f"  - say: {_quote(step.text)}")
        elif step is not None:
            lines.append(f"  - {step.describe()}")
        text = fixed_text_heard(flow, lang, heard[index], states[index], retries=False)
        if text is not None:
            lines.append(f"  - expect: {_quote(text)}")
        live = index < len(phone.steps) or not call.ended  # expect_state needs a live call
        if live and states[index] is not None:
            lines.append(f"  - expect_state: {states[index]}")
    outcome = call.result.outcome
    if outcome is not None and outcome.kind != "failed":
        queue = f", queue: {outcome.queue}" if outcome.queue else ""
        lines.append(f"outcome: {{kind: {outcome.kind}{queue}}}")
    if phone.script_effects:
        lines.append("effects:")
        lines.extend(f"  - {line}" for line in phone.script_effects)
    return "\n".join(lines) + "\n"


def _per_step(phone: PhoneCall) -> tuple[list[str], list[str | None]]:
    """What the IVR said after the dial and after each step, and the state each step left
    the call resting in."""
    transcript = phone.call.result.transcript
    bounds = [0, *phone.marks, len(transcript)]
    heard: list[str] = []
    states: list[str | None] = []
    current: str | None = None
    for index in range(len(phone.steps) + 1):
        said = ""
        for turn in transcript[bounds[index] : bounds[index + 1]]:
            if turn.speaker == "ivr" and turn.state is not None:
                current = turn.state
            if turn.speaker == "ivr" and turn.kind in ("say", "play"):
                said += turn.text
        heard.append(said)
        states.append(current)
    return heard, states


def _language_of(call: Call, default: str) -> str:
    """The language the IVR spoke last, as the flow names it."""
    codes = [_code(t.lang) for t in call.result.transcript if t.speaker == "ivr"]
    return next((code for code in reversed(codes) if code is not None), default)


def _code(lang: str | None) -> str | None:
    """Twilio's name for a language (``cmn-CN``) as the flow's code (``zh-CN``)."""
    if not lang:
        return None
    try:
        return language(lang).code
    except ValueError:
        return None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
