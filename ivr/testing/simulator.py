"""The Twilio-faithful caller: plays Twilio's voice engine against any IVR webhook.

Owns the transports (``WsgiTransport`` in-process, ``HttpTransport`` over the network), the
call model (``Simulator`` → ``Call`` → ``CallResult`` of ``Turn`` s) and the execution of voice
TwiML as Twilio does it (see ``shared/TWILIO.md``): standard request parameters, signatures,
cookies, HTTP redirects, fallback URL, verbs and their actions, queues, the status callback.
Time is simulated with ``ManualClock``: nothing here sleeps.

What TwiML Twilio accepts is ``ivr.telephony.twiml_schema``'s job; this module only runs it. It must
not import Flask (any WSGI app is driven through ``werkzeug.test``) and knows nothing about
the IVR's flows: it sees only HTTP.

Choices where Twilio's documentation is silent (each is deliberate, keep them documented):

- A hold cycle runs the ``waitUrl`` document once and lasts at least ``hold_cycle_seconds``
  of simulated time. Entering the queue fetches nothing until the caller holds.
- ``actionOnEmptyResult`` posts without ``Digits``. ``Digits`` always travel with
  ``FinishedOnKey`` (the key that ended the Gather, else empty), as Twilio sends them.
- A caller hanging up in a queue, or ``<Hangup>`` in a waitUrl document, calls the Enqueue
  ``action`` with ``QueueResult=hangup``; the reply is ignored.
- ``<Reject>`` anywhere but first in the first document hangs up (the call is answered).
- ``<Leave>`` outside a queue is an error; an empty recording falls through to the next verb.
- Any 3xx is followed with GET and no form (so a redirected Gather action loses ``Digits``).
- An exception raised by a WSGI app propagates (Twilio would see a 500): easier to debug.
"""

from __future__ import annotations

import email.message
import hashlib
import http.client
import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
import xml.parsers.expat
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from time import perf_counter
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal
from typing import Protocol
from typing import cast
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import TreeBuilder

from twilio.request_validator import RequestValidator
from werkzeug.test import Client

from ivr.clock import ManualClock
from ivr.errors import SimulationError
from ivr.errors import TwimlError
from ivr.telephony.twiml_schema import check_document

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

API_VERSION = "2010-04-01"
MAX_HTTP_REDIRECTS = 10
DEFAULT_MAX_QUEUE_SIZE = 100
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
TWIML_TYPES = ("text/xml", "application/xml")
DIAL_STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled")

# Twilio's error codes sent to the fallback URL.
HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
TOO_MANY_REDIRECTS = 11215
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200
INVALID_CONTENT_TYPE = 12300


# --- transports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed: float  # seconds the webhook took (real time, for latency reporting)
    set_cookies: tuple[str, ...] = ()  # every Set-Cookie header (a dict keeps only one)


class Transport(Protocol):
    def send(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply: ...


class WsgiTransport:
    """Drive any WSGI callable in-process through ``werkzeug.test`` (no cookie jar of its own)."""

    def __init__(self, app: WSGIApplication) -> None:
        self._client = Client(app, use_cookies=False)

    def send(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        parts = urllib.parse.urlsplit(url)
        options: dict[str, Any] = {}
        if method == "POST":
            options["data"] = urllib.parse.urlencode(form)
            options["content_type"] = "application/x-www-form-urlencoded"
        started = perf_counter()
        response = self._client.open(
            parts.path or "/",
            base_url=f"{parts.scheme}://{parts.netloc}",
            query_string=parts.query,
            method=method,
            headers=list(headers.items()),
            **options,
        )
        try:
            body = response.get_data()
            elapsed = perf_counter() - started
            return HttpReply(
                status=response.status_code,
                headers={name.lower(): value for name, value in response.headers.items()},
                body=body,
                elapsed=elapsed,
                set_cookies=tuple(response.headers.getlist("Set-Cookie")),
            )
        finally:
            response.close()


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Hand 3xx replies back: the simulator follows them itself, as Twilio does."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class HttpTransport:
    """Real HTTP via urllib. Connection failures raise ``TwimlError`` ("connection failed").

    Proxy settings from the environment are ignored: Twilio connects to the webhook directly.
    """

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _KeepRedirects()
        )

    def send(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        data = urllib.parse.urlencode(form).encode() if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        started = perf_counter()
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, message, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, message, body = error.code, error.headers, error.read()
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise TwimlError(url, "", f"connection failed: {reason}") from error
        return HttpReply(
            status=status,
            headers={name.lower(): value for name, value in message.items()},
            body=body,
            elapsed=perf_counter() - started,
            set_cookies=tuple(message.get_all("Set-Cookie") or ()),
        )


# --- what the caller heard and did ------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One thing heard or done.

    ``text`` — say: the words (SSML stripped, ``<sub alias>`` spoken as its alias, whitespace
    collapsed); play: ``play_text(url)`` or ``"[play URL]"``; pause: ``""``; press: the keys as
    pressed; speech: the words; record: ``"<seconds>s <finish>"``; hold: the cycles; agent:
    ``"<talk>s"`` (queue) or ``"<DialCallStatus> <duration>s"`` (dial); silence, hangup: ``""``.
    """

    speaker: Literal["ivr", "caller"]
    kind: str
    text: str
    lang: str | None
    url: str
    state: str | None


@dataclass(frozen=True)
class Outcome:
    kind: Literal["hangup", "caller-hangup", "queued", "bridged", "dialed", "rejected", "failed"]
    queue: str | None = None  # queued/bridged: the Enqueue queue name
    number: str | None = None  # dialed: the number or queue dialed
    detail: str = ""  # failed: the error message; rejected: the reason


@dataclass(frozen=True)
class Recording:
    url: str
    duration: int
    digits: str


@dataclass
class CallResult:
    call_sid: str
    transcript: list[Turn] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    recordings: list[Recording] = field(default_factory=list)
    latencies: list[tuple[str, float]] = field(default_factory=list)
    #: (url, form) as put on the wire: for GET the URL carries the parameters and form is empty.
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@dataclass(frozen=True)
class GatherSpec:
    """The ``<Gather>`` the caller is at, with Twilio's defaults filled in."""

    input: tuple[str, ...]
    num_digits: int | None
    finish_on_key: str
    timeout: int
    speech_timeout: str
    language: str
    hints: str | None
    action_on_empty_result: bool
    action: str  # absolute
    method: str


# --- internal execution state -----------------------------------------------------------------


@dataclass(frozen=True)
class _Doc:
    url: str
    state: str | None


@dataclass
class _Frame:
    """Where execution stands in one document: the verbs still to run."""

    doc: _Doc
    verbs: list[Element]
    wait: bool  # a waitUrl document (or one reached from it)
    first: bool  # the call's first document


@dataclass
class _Pending:
    """A verb waiting for the caller; ``frame`` holds the verbs after it (the fall-through)."""

    kind: Literal["gather", "record", "dial"]
    element: Element
    frame: _Frame
    gather: GatherSpec | None = None


@dataclass
class _Queue:
    name: str
    sid: str
    action: str | None
    method: str
    wait_url: str | None
    wait_method: str
    max_size: int
    entered: datetime
    continuation: _Frame  # the verbs after <Enqueue>
    cycle_started: datetime  # when the current hold cycle began
    cycles_left: int = 0
    position: int = 1


class _FetchFailure(Exception):
    """A document Twilio could not use; ``code`` is the ErrorCode sent to the fallback URL."""

    def __init__(self, code: int, url: str, element: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.url = url
        self.element = element
        self.message = message


class _HeadersOnly:
    """Just enough of a urllib response for ``CookieJar.extract_cookies``."""

    def __init__(self, set_cookies: tuple[str, ...]) -> None:
        self._message = email.message.Message()
        for value in set_cookies:
            self._message["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._message


# --- the simulator ----------------------------------------------------------------------------


class Simulator:
    """Places simulated inbound calls to one IVR, the way Twilio would."""

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str = "https://ivr.example.test",
        voice_path: str = "/voice",
        status_path: str | None = "/voice/status",
        fallback_path: str | None = None,
        auth_token: str | None = None,
        clock: ManualClock | None = None,
        account_sid: str = "AC" + "0" * 32,
        to: str = "+864001234567",
        play_text: Callable[[str], str | None] | None = None,
        max_documents: int = 200,
        hold_cycle_seconds: int = 30,
        first_call: int = 1,
    ) -> None:
        """``first_call`` numbers the CallSids this simulator makes (``CA`` + 32 hex digits);
        give each simulator its own range when several talk to one server."""
        self.transport = transport
        self.base_url = base_url
        self.voice_url = urllib.parse.urljoin(base_url, voice_path)
        self.status_url = urllib.parse.urljoin(base_url, status_path) if status_path else None
        self.fallback_url = urllib.parse.urljoin(base_url, fallback_path) if fallback_path else None
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.clock = clock if clock is not None else ManualClock(datetime.now(UTC))
        self.account_sid = account_sid
        self.to = to
        self.play_text = play_text
        self.max_documents = max_documents
        self.hold_cycle_seconds = hold_cycle_seconds
        self.last_call: Call | None = None  # kept when dial() raises, to inspect the result
        self._calls = first_call - 1

    def dial(
        self, from_: str, *, call_sid: str | None = None, extra: Mapping[str, str] | None = None
    ) -> Call:
        """POST the voice URL with Twilio's standard parameters; run TwiML until the caller acts."""
        self._calls += 1
        sid = call_sid or f"CA{self._calls:032x}"
        call = Call(self, sid, from_, dict(extra or {}))
        self.last_call = call
        with call._guard():
            call._run(call._fetch(self.voice_url, "POST", {}, "", wait=False))
        return call


class Call:
    """One simulated call. Drive it as the caller; read ``result`` for what happened."""

    def __init__(self, sim: Simulator, call_sid: str, from_: str, extra: dict[str, str]) -> None:
        self.call_sid = call_sid
        self.result = CallResult(call_sid=call_sid)
        self._sim = sim
        self._from = from_
        self._extra = extra
        self._jar = http.cookiejar.CookieJar()
        self._started = sim.clock.now()
        self._answered = False  # True once Twilio has asked for a document with a call up
        self._documents = 0  # documents fetched since the caller last acted
        self._recordings = 0
        self._pending: _Pending | None = None
        self._queue: _Queue | None = None
        self._milestone: Outcome | None = None  # bridged / dialed: what the call achieved
        self._where = _Doc(sim.voice_url, None)
        self._mark = 0  # transcript length at the caller's last action

    # --- what the test reads ---

    @property
    def ended(self) -> bool:
        return self.result.outcome is not None

    @property
    def waiting_for(self) -> Literal["gather", "record", "queue", "dial"] | None:
        if self.ended:
            return None
        if self._pending is not None:
            return self._pending.kind
        return "queue" if self._queue is not None else None

    @property
    def gather(self) -> GatherSpec | None:
        return self._pending.gather if self._pending is not None else None

    @property
    def state(self) -> str | None:
        return self.result.states[-1] if self.result.states else None

    def heard(self) -> str:
        """Everything the IVR said or played since the caller's last action, joined with " "."""
        turns = self.result.transcript[self._mark :]
        return " ".join(t.text for t in turns if t.speaker == "ivr" and t.kind != "pause")

    # --- what the caller does ---

    def press(self, keys: str) -> None:
        """Press keys at a Gather (numDigits, finishOnKey not sent, extra keys dropped).

        At a ``<Record>`` the first key is the finish key of an empty recording.
        """
        if not keys or any(key not in "0123456789*#" for key in keys):
            raise SimulationError(f"keys must be 0-9, * or #, got {keys!r}")
        with self._guard():
            pending = self._expect("press keys", "gather", "record")
            self._caller("press", keys)
            if pending.kind == "record":
                self._finish_recording(pending, seconds=0, finish=keys[0])
                return
            spec = _spec(pending)
            if "dtmf" not in spec.input:
                self._no_input(pending, spec)
                return
            digits, finished_on = _collect(keys, spec)
            if finished_on is None:  # waited for more keys until the timeout
                self._sim.clock.advance(spec.timeout)
            if not digits:  # the finish key alone: no input, at once
                self._no_input(pending, spec, waited=False)
                return
            params = {"Digits": digits, "FinishedOnKey": finished_on or ""}
            self._run(self._gather_action(pending, spec, params))

    def say(self, text: str, confidence: float = 0.92) -> None:
        """Speak into a Gather whose input includes speech; otherwise it is silence."""
        with self._guard():
            pending = self._expect("speak", "gather")
            self._caller("speech", text)
            spec = _spec(pending)
            if "speech" not in spec.input:
                self._no_input(pending, spec)
                return
            if spec.speech_timeout.isdigit():
                self._sim.clock.advance(int(spec.speech_timeout))
            params = {"SpeechResult": text, "Confidence": str(confidence)}
            self._run(self._gather_action(pending, spec, params))

    def silence(self) -> None:
        """Say nothing: a Gather times out (falls through, or posts empty with
        actionOnEmptyResult); a Record ends empty on its timeout and falls through."""
        with self._guard():
            pending = self._expect("stay silent", "gather", "record")
            self._caller("silence", "")
            if pending.kind == "record":
                self._sim.clock.advance(_int(pending.element, "timeout", 5))
                self._run(pending.frame)
                return
            self._no_input(pending, _spec(pending))

    def record(self, seconds: int = 5, *, finish: str = "#") -> None:
        """Speak into a ``<Record>`` for ``seconds``, then press ``finish``.

        ``finish="hangup"`` hangs up; a key not in finishOnKey (or ``""``) lets the silence
        timeout end the recording; ``seconds`` beyond maxLength are cut at maxLength.
        """
        if seconds < 0:
            raise SimulationError(f"seconds must be 0 or more, got {seconds}")
        if finish not in ("", "hangup") and (len(finish) != 1 or finish not in "0123456789*#"):
            raise SimulationError(f'finish must be one key, "hangup" or "", got {finish!r}')
        with self._guard():
            pending = self._expect("record", "record")
            self._caller("record", f"{seconds}s {finish}".strip())
            self._finish_recording(pending, seconds=seconds, finish=finish)

    def hold(self, cycles: int = 1, *, position: int = 1) -> None:
        """Wait in the queue: run the waitUrl document ``cycles`` times.

        ``position`` is the caller's QueuePosition (and CurrentQueueSize). A Gather in the
        waitUrl document stops the holding until the caller acts; later cycles then go on.
        """
        if cycles < 1 or position < 1:
            raise SimulationError("hold needs cycles >= 1 and position >= 1")
        with self._guard():
            queue = self._in_queue("hold")
            if self._pending is not None:
                raise SimulationError(
                    f"call {self.call_sid} is at a <{self._pending.element.tag}> in the "
                    "queue's waitUrl document: press, say or stay silent first"
                )
            self._caller("hold", str(cycles))
            queue.cycles_left = cycles
            queue.position = position
            self._run(self._next_cycle(queue))

    def agent_answers(self, talk_seconds: int = 60) -> None:
        """An agent takes the queued caller; after the talk the Enqueue action gets
        ``QueueResult=bridged`` (no action: the verbs after ``<Enqueue>`` run)."""
        with self._guard():
            queue = self._in_queue("be answered by an agent")
            self._caller("agent", f"{talk_seconds}s")
            waited = self._seconds_since(queue.entered)
            self._queue = None
            self._pending = None
            self._milestone = Outcome("bridged", queue=queue.name)
            self._sim.clock.advance(talk_seconds)
            self._run(self._queue_result(queue, "bridged", waited))

    def dial_result(self, status: str = "completed", duration: int = 30) -> None:
        """End the ``<Dial>``: its action gets DialCallStatus and DialCallDuration
        (no action: the verbs after ``<Dial>`` run)."""
        if status not in DIAL_STATUSES:
            raise SimulationError(f"status must be one of {', '.join(DIAL_STATUSES)}")
        with self._guard():
            pending = self._expect("finish a dial", "dial")
            self._caller("agent", f"{status} {duration}s")
            dial = pending.element
            talked = status in ("completed", "answered")
            if talked:
                self._sim.clock.advance(duration)
                self._milestone = Outcome("dialed", number=_dialed(dial))
            elif status == "no-answer":
                self._sim.clock.advance(_int(dial, "timeout", 30))
            self._pending = None
            action = dial.get("action")
            if action is None:
                self._run(pending.frame)
                return
            params = {
                "DialCallStatus": status,
                "DialCallSid": "CA" + _digest(self.call_sid + "dial"),
                "DialCallDuration": str(duration if talked else 0),
            }
            url = self._resolve(pending.frame.doc, action)
            self._run(self._fetch(url, dial.get("method", "POST"), params, "Dial", wait=False))

    def hangup(self) -> None:
        """The caller hangs up; the status callback is sent."""
        with self._guard():
            if self.ended:
                raise SimulationError(f"call {self.call_sid} has already ended")
            self._caller("hangup", "")
            if self._pending is not None and self._pending.kind == "dial":
                self._milestone = Outcome("dialed", number=_dialed(self._pending.element))
            self._pending = None
            if self._queue is not None:
                self._queue_hangup(self._queue)
            self._end("caller-hangup")

    # --- the caller's side, internals ---

    def _expect(self, what: str, *kinds: str) -> _Pending:
        pending = self._pending
        if self.ended:
            raise SimulationError(f"call {self.call_sid} has ended: the caller cannot {what}")
        if pending is None or pending.kind not in kinds:
            at = self.waiting_for or "nothing"
            raise SimulationError(
                f"call {self.call_sid} is waiting for {at}: the caller cannot {what} now"
            )
        return pending

    def _in_queue(self, what: str) -> _Queue:
        if self.ended or self._queue is None:
            raise SimulationError(f"call {self.call_sid} is not in a queue: it cannot {what}")
        return self._queue

    def _caller(self, kind: str, text: str) -> None:
        self.result.transcript.append(
            Turn("caller", kind, text, None, self._where.url, self._where.state)
        )
        self._mark = len(self.result.transcript)
        self._documents = 0

    def _no_input(self, pending: _Pending, spec: GatherSpec, *, waited: bool = True) -> None:
        """Twilio's no-input: wait out the timeout, then fall through (or post empty)."""
        if waited:
            self._sim.clock.advance(spec.timeout)
        if spec.action_on_empty_result:
            self._run(self._gather_action(pending, spec, {}))
        else:
            self._pending = None
            self._run(pending.frame)

    def _gather_action(self, pending: _Pending, spec: GatherSpec, params: dict[str, str]) -> _Frame:
        self._pending = None
        return self._fetch(spec.action, spec.method, params, "Gather", wait=pending.frame.wait)

    def _finish_recording(self, pending: _Pending, *, seconds: int, finish: str) -> None:
        element = pending.element
        max_length = _int(element, "maxLength", 3600)
        finish_keys = element.get("finishOnKey", "1234567890*#")
        duration = min(seconds, max_length)
        self._sim.clock.advance(duration)
        digits: str | None = None
        if finish == "hangup":
            digits = "hangup"
        elif seconds < max_length and finish and finish in finish_keys:
            digits = finish
        elif seconds < max_length:  # no finishing key: the silence timeout ends it
            self._sim.clock.advance(_int(element, "timeout", 5))
        self._pending = None
        if duration == 0:  # an empty recording: Twilio goes on with the next verb
            if finish == "hangup":
                self._end("caller-hangup")
            else:
                self._run(pending.frame)
            return
        self._recordings += 1
        sid = f"RE{_digest(self.call_sid)[:16]}{self._recordings:016x}"
        account = self._sim.account_sid
        recording_url = f"https://api.twilio.com/{API_VERSION}/Accounts/{account}/Recordings/{sid}"
        self.result.recordings.append(Recording(recording_url, duration, digits or ""))
        params = {
            "RecordingUrl": recording_url,
            "RecordingDuration": str(duration),
            "RecordingSid": sid,
        }
        if digits is not None:
            params["Digits"] = digits
        action = self._resolve(pending.frame.doc, element.get("action") or pending.frame.doc.url)
        method = element.get("method", "POST")
        if finish == "hangup":  # Twilio still reports the recording; its reply is ignored
            self._notify(action, method, params)
            self._end("caller-hangup")
            return
        self._run(self._fetch(action, method, params, "Record", wait=pending.frame.wait))

    # --- queues ---

    def _queue_params(self, queue: _Queue) -> dict[str, str]:
        waited = str(self._seconds_since(queue.entered))
        return {
            "QueueSid": queue.sid,
            "QueuePosition": str(queue.position),
            "QueueTime": waited,
            "AvgQueueTime": waited,
            "CurrentQueueSize": str(queue.position),
            "MaxQueueSize": str(queue.max_size),
        }

    def _next_cycle(self, queue: _Queue) -> _Frame:
        """Start one hold cycle: fetch the waitUrl document (or play Twilio's hold music)."""
        queue.cycles_left -= 1
        queue.cycle_started = self._sim.clock.now()
        self._documents = 0
        doc = queue.continuation.doc
        if queue.wait_url is None:
            self._ivr("play", "[hold music]", None, doc)
            return _Frame(doc, [], wait=True, first=False)
        params = self._queue_params(queue)
        return self._fetch(queue.wait_url, queue.wait_method, params, "Enqueue", wait=True)

    def _end_cycle(self) -> _Frame | None:
        """A waitUrl document ran off its end: the cycle is over; maybe start the next."""
        queue = self._queue
        if queue is None:
            return None
        spent = self._seconds_since(queue.cycle_started)
        if spent < self._sim.hold_cycle_seconds:
            self._sim.clock.advance(self._sim.hold_cycle_seconds - spent)
        if queue.cycles_left > 0:
            return self._next_cycle(queue)
        return None

    def _queue_result(self, queue: _Queue, result: str, waited: int) -> _Frame:
        """Leaving the queue: the Enqueue action with QueueResult, or the verbs after it."""
        if queue.action is None:
            return queue.continuation
        params = {"QueueResult": result, "QueueSid": queue.sid, "QueueTime": str(waited)}
        return self._fetch(queue.action, queue.method, params, "Enqueue", wait=False)

    def _queue_hangup(self, queue: _Queue) -> None:
        if queue.action is not None:
            params = {
                "QueueResult": "hangup",
                "QueueSid": queue.sid,
                "QueueTime": str(self._seconds_since(queue.entered)),
            }
            self._notify(queue.action, queue.method, params)

    # --- running documents ---

    def _run(self, frame: _Frame | None) -> None:
        """Run verbs until the caller must act or the call ends."""
        while frame is not None and not self.ended:
            if not frame.verbs:  # ran off the end: a waitUrl cycle is over, else hang up
                if frame.wait:
                    frame = self._end_cycle()
                else:
                    self._end("hangup")
                    frame = None
                continue
            verb = frame.verbs.pop(0)
            self._where = frame.doc
            first = frame.first and not self._answered
            self._answered = True
            frame = self._execute(verb, frame, first=first)

    def _execute(self, verb: Element, frame: _Frame, *, first: bool) -> _Frame | None:
        """Run one verb; return the frame to go on with, or None when the caller must act."""
        tag, doc = verb.tag, frame.doc
        if tag in ("Say", "Play", "Pause"):
            self._prompt(verb, doc)
            return frame
        if tag == "Gather":
            for prompt in verb:
                self._prompt(prompt, doc)
            self._pending = _Pending("gather", verb, frame, _gather_spec(verb, doc))
            return None
        if tag in ("Record", "Dial"):
            self._pending = _Pending("record" if tag == "Record" else "dial", verb, frame)
            return None
        if tag == "Enqueue":
            self._enqueue(verb, frame)
            return None
        if tag == "Redirect":
            url = self._resolve(doc, (verb.text or "").strip())
            return self._fetch(url, verb.get("method", "POST"), {}, "Redirect", wait=frame.wait)
        if tag == "Leave":
            if self._queue is None or not frame.wait:
                raise TwimlError(doc.url, "Leave", "<Leave> only works for a caller in a queue")
            queue, self._queue = self._queue, None
            return self._queue_result(queue, "leave", self._seconds_since(queue.entered))
        if tag == "Reject" and first:
            reason = verb.get("reason", "rejected")
            status = "busy" if reason == "busy" else "no-answer"
            self._end("rejected", detail=reason, call_status=status)
            return None
        # <Hangup>, and <Reject> once the call is answered.
        if self._queue is not None:
            self._queue_hangup(self._queue)
        self._end("hangup")
        return None

    def _prompt(self, verb: Element, doc: _Doc) -> None:
        loop = _int(verb, "loop", 1)
        times = 1 if loop == 0 else loop  # loop="0" repeats until something else happens
        if verb.tag == "Pause":
            self._sim.clock.advance(_int(verb, "length", 1))
            self._ivr("pause", "", None, doc)
        elif verb.tag == "Say":
            for _ in range(times):
                self._ivr("say", _spoken(verb), verb.get("language"), doc)
        else:
            url = (verb.text or "").strip()
            if url:
                url = self._resolve(doc, url)
                text = self._heard_play(url)
            else:
                text = f"[digits {verb.get('digits', '')}]"
            for _ in range(times):
                self._ivr("play", text, None, doc)

    def _enqueue(self, verb: Element, frame: _Frame) -> None:
        doc = frame.doc
        name = (verb.text or "").strip() or verb.get("workflowSid", "")
        action = verb.get("action")
        wait_url = verb.get("waitUrl")
        self._queue = _Queue(
            name=name,
            sid="QU" + _digest(name),
            action=self._resolve(doc, action) if action is not None else None,
            method=verb.get("method", "POST"),
            wait_url=self._resolve(doc, wait_url) if wait_url is not None else None,
            wait_method=verb.get("waitUrlMethod", "POST"),
            max_size=_int(verb, "maxQueueSize", DEFAULT_MAX_QUEUE_SIZE),
            entered=self._sim.clock.now(),
            cycle_started=self._sim.clock.now(),
            continuation=frame,
        )

    def _heard_play(self, url: str) -> str:
        text = self._sim.play_text(url) if self._sim.play_text is not None else None
        return text if text is not None else f"[play {url}]"

    def _ivr(self, kind: str, text: str, lang: str | None, doc: _Doc) -> None:
        self.result.transcript.append(Turn("ivr", kind, text, lang, doc.url, doc.state))

    def _end(
        self,
        kind: Literal["hangup", "caller-hangup", "rejected", "failed"],
        *,
        detail: str = "",
        call_status: str = "completed",
    ) -> None:
        """End the call: settle the outcome, then send the status callback."""
        outcome: Outcome
        if kind in ("rejected", "failed"):
            outcome = Outcome(kind, detail=detail)
        elif self._queue is not None:
            outcome = Outcome("queued", queue=self._queue.name)
        elif self._milestone is not None:
            outcome = self._milestone
        else:
            outcome = Outcome(kind)
        duration = 0 if kind == "rejected" else self._seconds_since(self._started)
        self.result.outcome = outcome
        self._pending = None
        self._queue = None
        if self._sim.status_url is not None:
            params = {"CallStatus": call_status, "CallDuration": str(duration)}
            self._notify(self._sim.status_url, "POST", params)

    def _notify(self, url: str, method: str, extra: Mapping[str, str]) -> None:
        """A request whose reply Twilio ignores (status callback, a hung-up call's action)."""
        try:
            self._http(url, method, self._params(extra))
        except _FetchFailure:
            pass

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """A TwimlError ends the call as Twilio would ("an application error"), then re-raises."""
        try:
            yield
        except TwimlError as error:
            if not self.ended:
                self._ivr("say", APPLICATION_ERROR, "en-US", self._where)
                self._end("failed", detail=str(error))
            raise

    # --- HTTP ---

    def _params(self, extra: Mapping[str, str]) -> dict[str, str]:
        params = {
            "CallSid": self.call_sid,
            "AccountSid": self._sim.account_sid,
            "From": self._from,
            "To": self._sim.to,
            "CallStatus": "in-progress" if self._answered else "ringing",
            "ApiVersion": API_VERSION,
            "Direction": "inbound",
            "Caller": self._from,
            "Called": self._sim.to,
        }
        params.update(self._extra)
        params.update(extra)
        return params

    def _fetch(
        self, url: str, method: str, extra: Mapping[str, str], element: str, *, wait: bool
    ) -> _Frame:
        """Request a document and check it; on failure do what Twilio does (fallback URL)."""
        self._documents += 1
        if self._documents > self._sim.max_documents:
            raise TwimlError(
                url,
                element,
                f"more than {self._sim.max_documents} documents fetched without any caller "
                "action (a redirect loop?)",
            )
        params = self._params(extra)
        try:
            return self._load(url, method, params, wait=wait)
        except _FetchFailure as failure:
            fallback = self._sim.fallback_url
            if fallback is None:
                raise TwimlError(failure.url, failure.element, failure.message) from None
            params = dict(params, ErrorCode=str(failure.code), ErrorUrl=failure.url)
        try:
            return self._load(fallback, "POST", params, wait=wait)
        except _FetchFailure as failure:
            message = f"fallback URL failed too: {failure.message}"
            raise TwimlError(failure.url, failure.element, message) from None

    def _load(self, url: str, method: str, params: dict[str, str], *, wait: bool) -> _Frame:
        reply, url = self._http(url, method, params)
        if not 200 <= reply.status < 300:
            raise _FetchFailure(HTTP_RETRIEVAL_FAILURE, url, "", f"HTTP status {reply.status}")
        first = not self._answered
        state = reply.headers.get("x-ivr-state")
        # X-IVR-Path lists every state the webhook went through, X-IVR-State where it rests.
        path = [s for s in reply.headers.get("x-ivr-path", "").split(",") if s]
        for visited in path or ([state] if state is not None else []):
            self.result.states.append(visited)
            self.result.flows.append(reply.headers.get("x-ivr-flow", ""))
        doc = _Doc(url, state)
        media_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type.startswith("audio/"):  # Twilio plays an audio reply, then hangs up
            self._answered = True
            self._ivr("play", self._heard_play(url), None, doc)
            return _Frame(doc, [], wait=wait, first=first)
        if media_type not in TWIML_TYPES:
            shown = media_type or "none"
            message = f"Content-Type {shown} is neither TwiML (text/xml, application/xml) nor audio"
            raise _FetchFailure(INVALID_CONTENT_TYPE, url, "", message)
        try:
            root = parse_twiml(reply.body)
        except xml.parsers.expat.ExpatError as error:
            raise _FetchFailure(DOCUMENT_PARSE_FAILURE, url, "", f"not XML: {error}") from None
        problems = check_document(root, wait_url=wait)
        if problems:
            message = "; ".join(str(problem) for problem in problems)
            raise _FetchFailure(SCHEMA_VALIDATION, url, problems[0].element, message)
        return _Frame(doc, list(root), wait=wait, first=first)

    def _http(self, url: str, method: str, params: dict[str, str]) -> tuple[HttpReply, str]:
        """One webhook request, following up to 10 HTTP redirects (with GET and no form)."""
        for _ in range(MAX_HTTP_REDIRECTS + 1):
            reply = self._send(method, url, params)
            location = reply.headers.get("location")
            if not 300 <= reply.status < 400 or location is None:
                return reply, url
            url = urllib.parse.urljoin(url, location)
            method, params = "GET", {}
        message = f"more than {MAX_HTTP_REDIRECTS} HTTP redirects"
        raise _FetchFailure(TOO_MANY_REDIRECTS, url, "", message)

    def _send(self, method: str, url: str, params: dict[str, str]) -> HttpReply:
        """Put one request on the wire: signed, with the call's cookies; keep what came back."""
        form: dict[str, str] = params
        if method == "GET":
            if params:
                url += ("&" if urllib.parse.urlsplit(url).query else "?") + (
                    urllib.parse.urlencode(params)
                )
            form = {}
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if self._sim.validator is not None:
            headers["X-Twilio-Signature"] = str(self._sim.validator.compute_signature(url, form))
        probe = urllib.request.Request(url)
        self._jar.add_cookie_header(probe)
        cookie = probe.get_header("Cookie")
        if cookie:
            headers["Cookie"] = cookie
        self.result.requests.append((url, dict(form)))
        try:
            reply = self._sim.transport.send(method, url, form, headers)
        except TwimlError as error:
            message = str(error).removeprefix(f"{error.url}: ")
            raise _FetchFailure(HTTP_CONNECTION_FAILURE, url, "", message) from None
        self.result.latencies.append((url, reply.elapsed))
        if reply.set_cookies:
            response = cast(http.client.HTTPResponse, _HeadersOnly(reply.set_cookies))
            self._jar.extract_cookies(response, urllib.request.Request(url))
        return reply

    def _resolve(self, doc: _Doc, url: str) -> str:
        return urllib.parse.urljoin(doc.url, url)

    def _seconds_since(self, moment: datetime) -> int:
        return int((self._sim.clock.now() - moment).total_seconds())


# --- small pure pieces ------------------------------------------------------------------------


def parse_twiml(body: bytes) -> Element:
    """Parse XML as Twilio reads TwiML: without namespace processing, so SSML's
    ``<amazon:effect>`` keeps its plain name. Raises ``xml.parsers.expat.ExpatError``."""
    builder = TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.Parse(body, True)
    return builder.close()


def _int(element: Element, name: str, default: int) -> int:
    value = element.get(name)
    return int(value) if value is not None else default


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _spec(pending: _Pending) -> GatherSpec:
    assert pending.gather is not None  # a "gather" pending always carries its spec
    return pending.gather


def _gather_spec(verb: Element, doc: _Doc) -> GatherSpec:
    timeout = _int(verb, "timeout", 5)
    num_digits = verb.get("numDigits")
    return GatherSpec(
        input=tuple(verb.get("input", "dtmf").split()),
        num_digits=int(num_digits) if num_digits is not None else None,
        finish_on_key=verb.get("finishOnKey", "#"),
        timeout=timeout,
        speech_timeout=verb.get("speechTimeout", str(timeout)),
        language=verb.get("language", "en-US"),
        hints=verb.get("hints"),
        action_on_empty_result=verb.get("actionOnEmptyResult") == "true",
        action=urllib.parse.urljoin(doc.url, verb.get("action") or doc.url),
        method=verb.get("method", "POST"),
    )


def _collect(keys: str, spec: GatherSpec) -> tuple[str, str | None]:
    """The digits a Gather keeps from ``keys``, and the finish key if one ended it.

    The finish key itself is not kept; keys after numDigits or the finish key are dropped.
    Returns ``(digits, None)`` when the keys ran out (the Gather then waits out its timeout),
    and ``(digits, "")`` when numDigits ended it.
    """
    digits = ""
    for key in keys:
        if spec.finish_on_key and key == spec.finish_on_key:
            return digits, key
        digits += key
        if spec.num_digits is not None and len(digits) >= spec.num_digits:
            return digits, ""
    return digits, None


def _dialed(dial: Element) -> str:
    text = (dial.text or "").strip()
    if text:
        return text
    return " ".join((noun.text or "").strip() for noun in dial)


def _spoken(element: Element) -> str:
    """The words of a ``<Say>``: SSML tags dropped, ``<sub alias>`` read as its alias."""
    return " ".join(_words(element).split())


def _words(element: Element) -> str:
    if element.tag == "sub" and element.get("alias") is not None:
        own = element.get("alias", "")
    else:
        own = element.text or ""
        for child in element:
            spaced = child.tag in ("break", "p", "s")
            inner = _words(child)
            own += f" {inner} " if spaced else inner
            own += child.tail or ""
    return own
