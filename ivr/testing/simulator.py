"""The Twilio-faithful caller: plays Twilio's voice engine against any IVR webhook.

Owns the transports (``WsgiTransport`` in-process, ``HttpTransport`` over the network), the
call model (``Simulator`` → ``Call`` → ``CallResult`` of ``Turn`` s) and the execution of voice
TwiML as Twilio does it (see ``shared/TWILIO.md``): standard request parameters, signatures,
cookies, HTTP redirects, time limits, fallback URL, verbs and their actions, queues and the
agent's leg, barge-in, recording and partial-speech callbacks, status callbacks and events.
Time is simulated with ``ManualClock``: nothing here sleeps.

What TwiML Twilio accepts is ``ivr.telephony.twiml_schema``'s job; this module only runs it. It
must not import Flask (a WSGI app is called directly, as a WSGI server calls it) and knows
nothing about the IVR's flows: it sees only HTTP.

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
- A webhook slower than 15 s (in-process: the app's measured time) or a connection not made
  in 10 s is ErrorCode 11205, as Twilio's error page describes both timers.
- An unplayable ``<Play>`` (not 2xx, not ``audio/*``) is skipped with a warning; each media
  URL is fetched once per simulator, as Twilio caches media.
- Partial speech results come one per word (per character for text without spaces).
- Barge-in happens during the Gather's first nested prompt; later prompts are not heard.
- ``redirected``, ``redirected-from-bridged``, ``error`` and ``system-error`` run the Enqueue
  action's document like any other QueueResult.
- ``network="canceled"`` fetches the voice URL and ignores its reply; ``busy``,
  ``no-answer`` and ``failed`` never reach it.
- The agent's pickup leg is a separate call from ``agent_from`` with its own cookies.

Not modelled: ``<Connect>``, ``<Pay>``, ``<Start>``/``<Stop>``, ``<Refer>``, ``<Sms>``,
``<Echo>``, conferences (refused as "not simulated"); what a ``<Dial>`` noun does beyond the
status a test gives; transcription; answering-machine detection itself (``Simulator.answer``
is told who answers, and a machine hears the reply then hangs up); ``hints`` and
``profanityFilter``; real audio and recognition; Twilio's retries of a failed webhook;
cities and postcodes beyond ``places`` (the number's country is derived); the
``in-progress`` recording event.
"""

from __future__ import annotations

import email.message
import email.utils
import functools
import hashlib
import http.client
import http.cookiejar
import io
import sys
import urllib.parse
import urllib.request
import xml.parsers.expat
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from time import perf_counter
from types import MappingProxyType
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal
from typing import Protocol
from typing import cast
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import TreeBuilder

from twilio.request_validator import RequestValidator

from ivr.clock import ManualClock
from ivr.errors import SimulationError
from ivr.errors import TwimlError
from ivr.phones import country_of
from ivr.telephony.signatures import Fields
from ivr.telephony.twiml_schema import SchemaProblem
from ivr.telephony.twiml_schema import check_document

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

API_VERSION = "2010-04-01"
MAX_HTTP_REDIRECTS = 10
DEFAULT_MAX_QUEUE_SIZE = 100
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
#: statusCallbackEvent values, in the order Twilio reports them.
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
#: Twilio's AnsweredBy values (answering-machine detection on an outbound call).
ANSWERED_BY = (
    "human",
    "unknown",
    "fax",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
)
#: How a call can end before the IVR answers it (``Simulator.dial(network=...)``).
NETWORK_STATUSES = ("busy", "no-answer", "failed", "canceled")
#: QueueResult values a queue can end with besides bridged, leave and hangup
#: (``Call.queue_ends``); queue-full also comes by itself when ``waiting`` fills the queue.
QUEUE_ENDINGS = (
    "queue-full",
    "redirected",
    "redirected-from-bridged",
    "error",
    "system-error",
)
#: The verbs Twilio runs in a ``<Dial><Queue url>`` document, on the queued caller's leg.
QUEUE_URL_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})
TWIML_TYPES = ("text/xml", "application/xml")
#: How Twilio encodes a webhook's parameters (the body of a POST, the query of a GET).
FORM_TYPE = "application/x-www-form-urlencoded"
DIAL_STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled")
#: Twilio's timers for a webhook: 10 s to connect, 15 s for the whole response.
CONNECT_TIMEOUT = 10.0
RESPONSE_LIMIT = 15.0

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
    """Drive any WSGI callable in-process, as a WSGI server would: one environ per request
    (PEP 3333: the path percent-decoded, the query as sent, the headers as ``HTTP_*``, the
    form body with its ``Content-Type`` and ``Content-Length``), the status, headers and body
    collected from ``start_response`` and the returned iterable, which is then closed. No
    cookie jar of its own (the simulator keeps each call's).

    Twilio gives a webhook ``response_limit`` seconds (15) for its whole response; an app that
    takes longer fails as an HTTP connection failure (11205), as Twilio reports it. The app's
    time is measured with ``timer`` (``time.perf_counter``; tests inject a fake one).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        response_limit: float = RESPONSE_LIMIT,
        timer: Callable[[], float] = perf_counter,
    ) -> None:
        self._app = app
        self.response_limit = response_limit
        self._timer = timer

    def send(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        body = form_encode(form).encode("ascii") if method == "POST" else None
        environ = wsgi_environ(method, url, body, headers)
        started = self._timer()
        status, header_list, content = _run_wsgi(self._app, environ)
        elapsed = self._timer() - started
        if elapsed > self.response_limit:
            raise TwimlError(url, "", _too_slow(elapsed, self.response_limit))
        return HttpReply(
            status=int(status.split(None, 1)[0]),
            headers={name.lower(): value for name, value in header_list},
            body=content,
            elapsed=elapsed,
            set_cookies=tuple(v for name, v in header_list if name.lower() == "set-cookie"),
        )


def wsgi_environ(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str]
) -> dict[str, Any]:
    """The WSGI environ a server builds for a request to ``url`` (absolute) with ``headers``
    and, for a form post, the urlencoded ``body``."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        **_url_environ(url),
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body is not None:
        environ["CONTENT_TYPE"] = FORM_TYPE
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            key = "HTTP_" + key
            environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ


@functools.lru_cache(maxsize=4096)
def _url_environ(url: str) -> Mapping[str, Any]:
    """What of a WSGI environ ``url`` alone decides, worked out once per URL (a call requests
    the same few URLs again and again). Read-only: each environ copies it."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    raw_uri = path + ("?" + parts.query if parts.query else "")
    return MappingProxyType(
        {
            "SCRIPT_NAME": "",
            # PEP 3333: the decoded path's bytes, carried as latin-1 text
            "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": parts.query,
            "REQUEST_URI": raw_uri,
            "RAW_URI": raw_uri,
            "SERVER_NAME": parts.hostname or "localhost",
            "SERVER_PORT": str(port),
            "HTTP_HOST": parts.netloc,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": parts.scheme or "http",
        }
    )


def _run_wsgi(
    app: WSGIApplication, environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call ``app``: its status line, headers and whole body (``write()`` output first), its
    iterable closed afterwards as a server closes it."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def start_response(
        status: str, header_list: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info:
            raise exc_info[1].with_traceback(exc_info[2])
        started.append((status, header_list))
        return written.append

    result = app(environ, start_response)
    try:
        chunks = [chunk for chunk in result if chunk]
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise TwimlError(environ["PATH_INFO"], "", "the WSGI app never called start_response")
    status, header_list = started[-1]
    return status, header_list, b"".join(written + chunks)


class HttpTransport:
    """Real HTTP via ``http.client``, with Twilio's two timers: ``connect_timeout`` (10 s) to
    open the connection, ``response_limit`` (15 s, connection included) for the whole
    response, however slowly it trickles in. Connection failures and timeouts raise
    ``TwimlError`` (the simulator reports them as 11205, as Twilio does).

    Proxy settings from the environment are ignored: Twilio connects to the webhook directly.
    """

    def __init__(
        self,
        timeout: float = RESPONSE_LIMIT,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        chunk_size: int = 8192,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.chunk_size = chunk_size

    def send(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        parts = urllib.parse.urlsplit(url)
        body = form_encode(form).encode("ascii") if method == "POST" else None
        sent = dict(headers)
        if body is not None:
            sent["Content-Type"] = FORM_TYPE
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        started = perf_counter()
        deadline = started + self.timeout
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.netloc, timeout=self.connect_timeout)
        try:
            try:
                connection.connect()
            except OSError as error:
                raise TwimlError(url, "", f"connection failed: {error}") from error
            try:
                _limit(connection, deadline)
                connection.request(method, target, body=body, headers=sent)
                _limit(connection, deadline)
                response = connection.getresponse()
                chunks: list[bytes] = []
                while True:
                    _limit(connection, deadline)
                    chunk = response.read1(self.chunk_size)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except (TimeoutError, _Overdue):
                elapsed = perf_counter() - started
                raise TwimlError(url, "", _too_slow(elapsed, self.timeout)) from None
            except (OSError, http.client.HTTPException) as error:
                raise TwimlError(url, "", f"connection failed: {error}") from error
        finally:
            connection.close()
        return HttpReply(
            status=response.status,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=b"".join(chunks),
            elapsed=perf_counter() - started,
            set_cookies=tuple(response.headers.get_all("Set-Cookie") or ()),
        )


class _Overdue(Exception):
    """The whole-response deadline passed between two reads (internal to ``HttpTransport``)."""


def _limit(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Give the socket only the time left before ``deadline``: one limit for the whole
    response, not one per read."""
    left = deadline - perf_counter()
    if left <= 0:
        raise _Overdue
    if connection.sock is not None:
        connection.sock.settimeout(left)


def _too_slow(elapsed: float, limit: float) -> str:
    return f"no complete response within {limit:g} s (took {elapsed:.1f} s)"


# --- what the caller heard and did ------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One thing heard or done.

    ``text`` — say: the words (SSML stripped, ``<sub alias>`` spoken as its alias, whitespace
    collapsed); play: ``play_text(url)`` or ``"[play URL]"``; pause: ``""``; press: the keys as
    pressed; speech: the words; record: ``"<seconds>s <finish>"``; hold: the cycles; agent:
    ``"<talk>s"`` (queue), ``"<QueueResult>"`` (a queue that ended otherwise) or
    ``"<DialCallStatus> <duration>s"`` (dial); beep (a ``<Record>``'s tone), silence,
    hangup: ``""``. ``cut`` marks a prompt the caller interrupted (barge-in): they heard
    only its beginning.
    """

    speaker: Literal["ivr", "caller"]
    kind: str
    text: str
    lang: str | None
    url: str
    state: str | None
    cut: bool = False


@dataclass(frozen=True)
class Outcome:
    kind: Literal[
        "hangup", "caller-hangup", "queued", "bridged", "dialed", "rejected", "failed", "unanswered"
    ]
    queue: str | None = None  # queued/bridged: the Enqueue queue name
    number: str | None = None  # dialed: the number or queue dialed
    detail: str = ""  # failed: the error message; rejected: the reason; unanswered: the status


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
    #: The CallStatus the status callback reported at the end (completed, busy, ...).
    call_status: str | None = None
    #: What Twilio would log to its debugger without ending the call (an unplayable <Play>).
    warnings: list[str] = field(default_factory=list)


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


@dataclass(frozen=True)
class Place:
    """Where a number is, for Twilio's ``FromCity``/``FromState``/``FromZip`` fields."""

    city: str = ""
    state: str = ""
    zip: str = ""


@dataclass(frozen=True)
class OutboundRequest:
    """A call an application asked Twilio to place (``calls.create``): what the simulator
    needs to play the person who answers. ``from_`` is the application's Twilio number,
    ``to`` the person's; ``machine_detection`` is ``Enable`` or ``DetectMessageEnd`` (or
    None: no ``AnsweredBy`` is sent)."""

    call_sid: str
    to: str
    from_: str
    url: str
    method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    machine_detection: str | None = None


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
    prompts: int = 0  # transcript index where the Gather's nested prompts begin


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
        status_events: Collection[str] = ("completed",),
        waiting: Mapping[str, int] | None = None,
        places: Mapping[str, Place] | None = None,
        check_media: bool = True,
        agent_from: str = "+8613900000000",
        dialer: Callable[[], Sequence[OutboundRequest]] | None = None,
    ) -> None:
        """``first_call`` numbers the CallSids this simulator makes (``CA`` + 32 hex digits);
        give each simulator its own range when several talk to one server.

        ``status_events`` are the ``statusCallbackEvent`` s the status URL gets (initiated,
        ringing, answered, completed). ``waiting`` counts callers already in each queue (an
        ``<Enqueue>`` at its ``maxQueueSize`` is ``queue-full``). ``places`` gives a number's
        city, state and postcode (the country comes from the number itself). ``check_media``
        fetches each ``<Play>`` URL once, as Twilio does before playing it. ``agent_from``
        is the agent's phone when an agent picks a caller up through a pickup URL.
        ``dialer`` runs the application's callback dialer once and returns the calls it asked
        Twilio to place (``ivr.testing.factories`` wires one in-process); ``answer`` plays
        the person each one rings.
        """
        unknown = set(status_events) - set(STATUS_EVENTS)
        if unknown:
            raise SimulationError(
                f"unknown status events {sorted(unknown)}; allowed: {', '.join(STATUS_EVENTS)}"
            )
        self.transport = transport
        self.base_url = base_url
        self.voice_url = urllib.parse.urljoin(base_url, voice_path)
        self.status_url = urllib.parse.urljoin(base_url, status_path) if status_path else None
        self.fallback_url = urllib.parse.urljoin(base_url, fallback_path) if fallback_path else None
        self.auth_token = auth_token or None
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.clock = clock if clock is not None else ManualClock(datetime.now(UTC))
        self.account_sid = account_sid
        self.to = to
        self.play_text = play_text
        self.max_documents = max_documents
        self.hold_cycle_seconds = hold_cycle_seconds
        self.last_call: Call | None = None  # kept when dial() raises, to inspect the result
        self.status_events = frozenset(status_events)
        self.waiting = dict(waiting or {})
        self.places = dict(places or {})
        self.check_media = check_media
        self.agent_from = agent_from
        self.dialer = dialer
        self._calls = first_call - 1
        self._media: dict[str, str | None] = {}  # a <Play> URL -> why it cannot play, or None

    def dial(
        self,
        from_: str,
        *,
        call_sid: str | None = None,
        extra: Mapping[str, str] | None = None,
        network: str | None = None,
    ) -> Call:
        """POST the voice URL with Twilio's standard parameters; run TwiML until the caller acts.

        ``network`` makes the call end before the IVR answers it, as the status callback then
        reports: ``canceled`` (the caller gives up while the voice URL is being fetched: its
        reply is never run), ``busy``, ``no-answer`` or ``failed`` (the carrier ends it: the
        voice URL is never requested).
        """
        if network is not None and network not in NETWORK_STATUSES:
            allowed = ", ".join(NETWORK_STATUSES)
            raise SimulationError(f"network must be one of {allowed}, got {network!r}")
        self._calls += 1
        sid = call_sid or f"CA{self._calls:032x}"
        call = Call(self, sid, from_, dict(extra or {}))
        self.last_call = call
        with call._guard():
            call._progress("initiated")
            if network in ("busy", "no-answer", "failed"):
                call._end("unanswered", detail=network, call_status=network)
                return call
            call._progress("ringing")
            frame = call._fetch(self.voice_url, "POST", {}, "", wait=False)
            if network == "canceled":
                call._end("unanswered", detail=network, call_status=network)
                return call
            call._run(frame)
        return call

    def answer(
        self,
        request: OutboundRequest,
        *,
        answered_by: str = "human",
        network: str | None = None,
    ) -> Call:
        """Play the person ``request`` rings: Twilio requests its ``url`` when the phone is
        answered, with ``Direction=outbound-api`` and, when machine detection was asked for,
        ``AnsweredBy`` (``human``, ``machine_start``, ``machine_end_beep``, ``fax``,
        ``unknown``...). ``network`` ends the call unanswered instead (``busy``,
        ``no-answer``, ``failed``, ``canceled``): the URL is never requested and the status
        callback says why. A machine hears the reply and hangs up when it ends.
        """
        if network is not None and network not in NETWORK_STATUSES:
            allowed = ", ".join(NETWORK_STATUSES)
            raise SimulationError(f"network must be one of {allowed}, got {network!r}")
        if answered_by not in ANSWERED_BY:
            raise SimulationError(
                f"answered_by must be one of {', '.join(ANSWERED_BY)}, got {answered_by!r}"
            )
        extra = {"Direction": "outbound-api"}
        if request.machine_detection:
            extra["AnsweredBy"] = answered_by
        call = Call(self, request.call_sid, request.from_, extra, outbound=request)
        self.last_call = call
        with call._guard():
            call._progress("initiated")
            if network is not None:
                call._end("unanswered", detail=network, call_status=network)
                return call
            call._progress("ringing")
            frame = call._fetch(request.url, request.method, {}, "", wait=False)
            call._run(frame)
            if answered_by not in ("human", "unknown") and not call.ended:
                call.hangup()  # a machine records what it is told, then the call ends
        return call


class Call:
    """One simulated call. Drive it as the caller; read ``result`` for what happened."""

    def __init__(
        self,
        sim: Simulator,
        call_sid: str,
        from_: str,
        extra: dict[str, str],
        *,
        outbound: OutboundRequest | None = None,
    ) -> None:
        self.call_sid = call_sid
        # An outbound call rings ``outbound.to`` and reports to its own status callback.
        self._to = outbound.to if outbound is not None else sim.to
        self._status_url = outbound.status_callback if outbound is not None else sim.status_url
        self._direction = "outbound-api" if outbound is not None else "inbound"
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
        self._where = _Doc(outbound.url if outbound is not None else sim.voice_url, None)
        self._mark = 0  # transcript length at the caller's last action
        self._sequence = 0  # SequenceNumber of the next status callback
        self._fixed: dict[str, str] | None = None  # the parameters every request carries

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
    def in_queue(self) -> bool:
        """Whether the caller is in a queue (holding, or at a Gather of its hold music)."""
        return self._queue is not None and not self.ended

    @property
    def gather(self) -> GatherSpec | None:
        return self._pending.gather if self._pending is not None else None

    @property
    def state(self) -> str | None:
        return self.result.states[-1] if self.result.states else None

    def heard(self) -> str:
        """Everything the IVR said or played since the caller's last action, joined with " "."""
        turns = self.result.transcript[self._mark :]
        return " ".join(
            t.text for t in turns if t.speaker == "ivr" and t.kind not in ("pause", "beep")
        )

    # --- what the caller does ---

    def press(self, keys: str, *, early: bool = False) -> None:
        """Press keys at a Gather (numDigits, finishOnKey not sent, extra keys dropped).

        ``early``: the first key comes while the Gather's first nested prompt is still
        playing; it cuts that prompt off and the prompts after it are never heard (a key
        always barges in). At a ``<Record>`` the first key is the finish key of an empty
        recording.
        """
        if not keys or any(key not in "0123456789*#" for key in keys):
            raise SimulationError(f"keys must be 0-9, * or #, got {keys!r}")
        with self._guard():
            pending = self._expect("press keys", "gather", "record")
            if early:
                self._barge_in(pending, "press")
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

    def say(self, text: str, confidence: float = 0.92, *, early: bool = False) -> None:
        """Speak into a Gather whose input includes speech; otherwise it is silence.

        ``early``: speak over the first nested prompt; it is cut off unless the Gather has
        ``bargeIn="false"``. Before the action, a ``partialResultCallback`` gets the words as
        they are recognised, one request per word (per character for text without spaces).
        """
        with self._guard():
            pending = self._expect("speak", "gather")
            spec = _spec(pending)
            if early and "speech" in spec.input and pending.element.get("bargeIn") != "false":
                self._barge_in(pending, "speak")
            self._caller("speech", text)
            if "speech" not in spec.input:
                self._no_input(pending, spec)
                return
            self._partial_results(pending, spec, text)
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
                started = self._sim.clock.now()
                self._sim.clock.advance(_int(pending.element, "timeout", 5))
                self._pending = None
                self._recording_status(pending.element, pending.frame.doc, None, started)
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

    def agent_answers(self, talk_seconds: int = 60, *, pickup: str | None = None) -> None:
        """An agent takes the queued caller; after the talk the Enqueue action gets
        ``QueueResult=bridged`` (no action: the verbs after ``<Enqueue>`` run).

        ``pickup`` (a URL, relative to the base URL) is what the agent's phone runs: its
        ``<Dial><Queue url=…>`` must name the caller's queue, and the ``url`` document runs
        on the caller's leg before the two are bridged (``QueueSid``, ``QueueTime``,
        ``DequeingCallSid``), as Twilio does: "you are being connected" is heard and tested.
        """
        with self._guard():
            queue = self._in_queue("be answered by an agent")
            self._caller("agent", f"{talk_seconds}s")
            if pickup is not None:
                self._agent_leg(queue, urllib.parse.urljoin(self._sim.base_url, pickup))
            waited = self._seconds_since(queue.entered)
            self._queue = None
            self._pending = None
            self._milestone = Outcome("bridged", queue=queue.name)
            self._sim.clock.advance(talk_seconds)
            self._run(self._queue_result(queue, "bridged", waited))

    def queue_ends(self, result: str) -> None:
        """The queue ends for the caller without an agent: the Enqueue action gets
        ``QueueResult=result`` (``queue-full``, ``redirected``, ``redirected-from-bridged``,
        ``error``, ``system-error``) and its document runs (no action: the verbs after
        ``<Enqueue>``)."""
        if result not in QUEUE_ENDINGS:
            raise SimulationError(f"result must be one of {', '.join(QUEUE_ENDINGS)}")
        with self._guard():
            queue = self._in_queue(f"end with {result}")
            self._caller("agent", result)
            waited = 0 if result == "queue-full" else self._seconds_since(queue.entered)
            self._queue = None
            self._pending = None
            self._run(self._queue_result(queue, result, waited))

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

    def _barge_in(self, pending: _Pending, what: str) -> None:
        """The caller acts during the Gather's first nested prompt: it is cut off there, and
        the prompts after it are never played."""
        if pending.kind != "gather":
            raise SimulationError(
                f"only a <Gather>'s prompts can be interrupted: cannot {what} early"
            )
        heard = self.result.transcript
        prompts = [
            index
            for index in range(pending.prompts, len(heard))
            if heard[index].kind in ("say", "play")
        ]
        if not prompts:
            raise SimulationError(f"this <Gather> plays no prompt: cannot {what} early")
        first = prompts[0]
        heard[first] = replace(heard[first], cut=True)
        del heard[first + 1 :]

    def _partial_results(self, pending: _Pending, spec: GatherSpec, text: str) -> None:
        """``partialResultCallback``: the recognised words so far, one request per word
        (``UnstableSpeechResult``, ``Stability``, ``SequenceNumber``); replies are ignored."""
        callback = pending.element.get("partialResultCallback")
        if callback is None:
            return
        url = self._resolve(pending.frame.doc, callback)
        method = pending.element.get("partialResultCallbackMethod", "POST")
        pieces = text.split() if " " in text.strip() else list(text.strip())
        joiner = " " if " " in text.strip() else ""
        for count in range(1, len(pieces) + 1):
            params = {
                "UnstableSpeechResult": joiner.join(pieces[:count]),
                "Stability": f"{count / len(pieces):.2f}",
                "SequenceNumber": str(count - 1),
                "LanguageCode": spec.language,
            }
            self._notify(url, method, params)

    def _gather_action(self, pending: _Pending, spec: GatherSpec, params: dict[str, str]) -> _Frame:
        self._pending = None
        return self._fetch(spec.action, spec.method, params, "Gather", wait=pending.frame.wait)

    def _finish_recording(self, pending: _Pending, *, seconds: int, finish: str) -> None:
        element = pending.element
        max_length = _int(element, "maxLength", 3600)
        finish_keys = element.get("finishOnKey", "1234567890*#")
        duration = min(seconds, max_length)
        started = self._sim.clock.now()
        self._sim.clock.advance(duration)
        digits: str | None = None
        if finish == "hangup":
            digits = "hangup"
        elif seconds < max_length and finish and finish in finish_keys:
            digits = finish
        elif seconds < max_length:  # no finishing key: the silence timeout ends it
            silence = _int(element, "timeout", 5)
            self._sim.clock.advance(silence)
            if duration and element.get("trim") == "do-not-trim":  # the silence is kept
                duration = min(duration + silence, max_length)
        self._pending = None
        if duration == 0:  # an empty recording: Twilio goes on with the next verb
            self._recording_status(element, pending.frame.doc, None, started)
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
        ready = dict(params, RecordingStartTime=_rfc2822(started))
        ready.pop("Digits", None)  # the action's field, not the recording's
        if finish == "hangup":  # Twilio still reports the recording; its reply is ignored
            self._notify(action, method, params)
            self._recording_status(element, pending.frame.doc, ready, started)
            self._end("caller-hangup")
            return
        frame = self._fetch(action, method, params, "Record", wait=pending.frame.wait)
        self._recording_status(element, pending.frame.doc, ready, started)
        self._run(frame)

    def _recording_status(
        self, element: Element, doc: _Doc, ready: dict[str, str] | None, started: datetime
    ) -> None:
        """``recordingStatusCallback``, after the action: ``completed`` with the file's
        details, or ``absent`` for an empty recording when ``recordingStatusCallbackEvent``
        asks for it. Only Twilio's recording fields are sent, not the call's."""
        callback = element.get("recordingStatusCallback")
        if callback is None:
            return
        events = element.get("recordingStatusCallbackEvent", "completed").split()
        status = "completed" if ready is not None else "absent"
        if status not in events:
            return
        params = {
            "AccountSid": self._sim.account_sid,
            "CallSid": self.call_sid,
            "RecordingStatus": status,
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
            "ErrorCode": "0",
        }
        if ready is not None:
            params.update(ready)
        else:
            params["RecordingStartTime"] = _rfc2822(started)
            params["RecordingDuration"] = "0"
        url = self._resolve(doc, callback)
        method = element.get("recordingStatusCallbackMethod", "POST")
        try:
            self._http(url, method, params)
        except _FetchFailure:
            pass

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

    def _agent_leg(self, queue: _Queue, pickup: str) -> None:
        """The agent's phone runs ``pickup``; its ``<Dial><Queue url>`` document then runs on
        the caller's leg (only Play, Say, Pause and Redirect, as Twilio allows there)."""
        agent_sid = "CA" + _digest(self.call_sid + "agent")
        params = {
            "CallSid": agent_sid,
            "AccountSid": self._sim.account_sid,
            "From": self._sim.agent_from,
            "To": self._sim.to,
            "CallStatus": "in-progress",
            "ApiVersion": API_VERSION,
            "Direction": "inbound",
        }
        caller_jar, self._jar = self._jar, http.cookiejar.CookieJar()  # the agent's own leg
        try:
            reply, url = self._http(pickup, "POST", params)
        except _FetchFailure as failure:
            raise TwimlError(failure.url, "Queue", f"agent pickup: {failure.message}") from None
        finally:
            self._jar = caller_jar
        if not 200 <= reply.status < 300:
            raise TwimlError(url, "Queue", f"agent pickup: HTTP status {reply.status}")
        try:
            root, problems = checked_twiml(reply.body)
        except xml.parsers.expat.ExpatError as error:
            raise TwimlError(url, "Queue", f"agent pickup: not XML: {error}") from None
        if problems:
            raise TwimlError(url, problems[0].element, "; ".join(str(p) for p in problems))
        nouns = [noun for dial in root.iter("Dial") for noun in dial if noun.tag == "Queue"]
        if not nouns or (nouns[0].text or "").strip() != queue.name:
            dialed = (nouns[0].text or "").strip() if nouns else "no <Dial><Queue>"
            raise SimulationError(
                f"the agent's pickup document dials {dialed!r}, but the caller waits in "
                f"{queue.name!r}"
            )
        whisper = nouns[0].get("url")
        if whisper is None:
            return
        extra = {
            "QueueSid": queue.sid,
            "QueueTime": str(self._seconds_since(queue.entered)),
            "DequeingCallSid": agent_sid,
        }
        method = nouns[0].get("method", "POST")
        frame = self._fetch(urllib.parse.urljoin(url, whisper), method, extra, "Queue", wait=False)
        while frame.verbs:
            verb = frame.verbs.pop(0)
            if verb.tag not in QUEUE_URL_VERBS:
                allowed = ", ".join(sorted(QUEUE_URL_VERBS))
                raise TwimlError(
                    frame.doc.url,
                    verb.tag,
                    f"<{verb.tag}> is not allowed in a <Queue url> document; allowed: {allowed}",
                )
            if verb.tag == "Redirect":
                target = self._resolve(frame.doc, (verb.text or "").strip())
                frame = self._fetch(
                    target, verb.get("method", "POST"), extra, "Redirect", wait=False
                )
            else:
                self._prompt(verb, frame.doc)

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
            self._answer()
            frame = self._execute(verb, frame, first=first)

    def _execute(self, verb: Element, frame: _Frame, *, first: bool) -> _Frame | None:
        """Run one verb; return the frame to go on with, or None when the caller must act."""
        tag, doc = verb.tag, frame.doc
        if tag in ("Say", "Play", "Pause"):
            self._prompt(verb, doc)
            return frame
        if tag == "Gather":
            start = len(self.result.transcript)
            for prompt in verb:
                self._prompt(prompt, doc)
            self._pending = _Pending("gather", verb, frame, _gather_spec(verb, doc), start)
            return None
        if tag in ("Record", "Dial"):
            if tag == "Record" and verb.get("playBeep") != "false":
                self._ivr("beep", "", None, doc)
            self._pending = _Pending("record" if tag == "Record" else "dial", verb, frame)
            return None
        if tag == "Enqueue":
            return self._enqueue(verb, frame)
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
                problem = self._unplayable(url)
                if problem is not None:  # Twilio logs it and goes on with the next verb
                    self.result.warnings.append(f"<Play> {url}: {problem}")
                    self._ivr("play", f"[cannot play {url}: {problem}]", None, doc)
                    return
                text = self._heard_play(url)
            else:
                text = f"[digits {verb.get('digits', '')}]"
            for _ in range(times):
                self._ivr("play", text, None, doc)

    def _enqueue(self, verb: Element, frame: _Frame) -> _Frame | None:
        """Queue the caller; a queue already at its maxQueueSize refuses them at once
        (``QueueResult=queue-full``, the action or the next verb)."""
        doc = frame.doc
        name = (verb.text or "").strip() or verb.get("workflowSid", "")
        action = verb.get("action")
        wait_url = verb.get("waitUrl")
        queue = _Queue(
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
        if self._sim.waiting.get(name, 0) >= queue.max_size:
            return self._queue_result(queue, "queue-full", 0)
        self._queue = queue
        return None

    def _unplayable(self, url: str) -> str | None:
        """Why Twilio could not play ``url`` (fetched once per simulator, as Twilio caches
        media): not 2xx, or not an audio content type. None when it plays."""
        if not self._sim.check_media:
            return None
        if url not in self._sim._media:
            try:
                reply = self._sim.transport.send("GET", url, {}, {"User-Agent": "TwilioProxy/1.1"})
            except TwimlError as error:
                self._sim._media[url] = str(error).removeprefix(f"{error.url}: ")
            else:
                media_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
                problem = None
                if not 200 <= reply.status < 300:
                    problem = f"HTTP status {reply.status}"
                elif not media_type.startswith("audio/"):
                    problem = f"Content-Type {media_type or 'none'} is not audio"
                self._sim._media[url] = problem
        return self._sim._media[url]

    def _heard_play(self, url: str) -> str:
        text = self._sim.play_text(url) if self._sim.play_text is not None else None
        return text if text is not None else f"[play {url}]"

    def _ivr(self, kind: str, text: str, lang: str | None, doc: _Doc) -> None:
        self.result.transcript.append(Turn("ivr", kind, text, lang, doc.url, doc.state))

    def _end(
        self,
        kind: Literal["hangup", "caller-hangup", "rejected", "failed", "unanswered"],
        *,
        detail: str = "",
        call_status: str = "completed",
    ) -> None:
        """End the call: settle the outcome, then send the status callback."""
        outcome: Outcome
        if kind in ("rejected", "failed", "unanswered"):
            outcome = Outcome(kind, detail=detail)
        elif self._queue is not None:
            outcome = Outcome("queued", queue=self._queue.name)
        elif self._milestone is not None:
            outcome = self._milestone
        else:
            outcome = Outcome(kind)
        if kind == "unanswered":
            outcome = Outcome("unanswered", detail=detail)
        unanswered = kind in ("rejected", "unanswered")
        duration = 0 if unanswered else self._seconds_since(self._started)
        self.result.outcome = outcome
        self.result.call_status = call_status
        self._pending = None
        self._queue = None
        self._progress("completed", {"CallStatus": call_status, "CallDuration": str(duration)})

    def _progress(self, event: str, extra: Mapping[str, str] | None = None) -> None:
        """A status callback for ``event`` when the simulator reports it (statusCallbackEvent),
        with Twilio's ``Timestamp``, ``SequenceNumber`` and ``CallbackSource``."""
        if self._status_url is None or event not in self._sim.status_events:
            return
        status = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}
        params = {
            "CallStatus": status.get(event, "completed"),
            "Timestamp": _rfc2822(self._sim.clock.now()),
            "SequenceNumber": str(self._sequence),
            "CallbackSource": "call-progress-events",
        }
        params.update(extra or {})
        self._sequence += 1
        self._notify(self._status_url, "POST", params)

    def _answer(self) -> None:
        """The call is answered: Twilio runs (or plays) its first document."""
        if not self._answered:
            self._answered = True
            self._progress("answered")

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
        """Twilio's standard parameters, then ``extra``. All but ``CallStatus`` are the same
        for every request of the call: they are put together once (in the same order)."""
        if self._fixed is None:
            self._fixed = self._standard()
        params = dict(self._fixed)
        if "CallStatus" not in self._extra:  # a test's own CallStatus stands, as before
            params["CallStatus"] = "in-progress" if self._answered else "ringing"
        params.update(extra)
        return params

    def _standard(self) -> dict[str, str]:
        params = {
            "CallSid": self.call_sid,
            "AccountSid": self._sim.account_sid,
            "From": self._from,
            "To": self._to,
            "CallStatus": "in-progress" if self._answered else "ringing",
            "ApiVersion": API_VERSION,
            "Direction": self._direction,
            "Caller": self._from,
            "Called": self._to,
        }
        for role, number in (
            ("From", self._from),
            ("To", self._to),
            ("Caller", self._from),
            ("Called", self._to),
        ):
            params.update(self._geography(role, number))
        params.update(self._extra)
        return params

    def _geography(self, role: str, number: str) -> dict[str, str]:
        """Twilio's geographic fields for one number: ``FromCountry`` (from the number),
        ``FromCity``, ``FromState``, ``FromZip`` (from ``places``; empty when unknown, as
        Twilio sends them for most mobiles)."""
        place = self._sim.places.get(number, Place())
        return {
            f"{role}Country": country_of(number),
            f"{role}City": place.city,
            f"{role}State": place.state,
            f"{role}Zip": place.zip,
        }

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
            self._answer()
            self._ivr("play", self._heard_play(url), None, doc)
            return _Frame(doc, [], wait=wait, first=first)
        if media_type not in TWIML_TYPES:
            shown = media_type or "none"
            message = f"Content-Type {shown} is neither TwiML (text/xml, application/xml) nor audio"
            raise _FetchFailure(INVALID_CONTENT_TYPE, url, "", message)
        try:
            root, problems = checked_twiml(reply.body, wait_url=wait)
        except xml.parsers.expat.ExpatError as error:
            raise _FetchFailure(DOCUMENT_PARSE_FAILURE, url, "", f"not XML: {error}") from None
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
                url += ("&" if urllib.parse.urlsplit(url).query else "?") + form_encode(params)
            form = {}
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if self._sim.validator is not None:  # twilio's own code signs, once per request
            signature = self._sim.validator.compute_signature(url, Fields(form))
            headers["X-Twilio-Signature"] = signature
        if len(self._jar):  # an empty jar adds no Cookie header
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
        return _join(doc.url, url)

    def _seconds_since(self, moment: datetime) -> int:
        return int((self._sim.clock.now() - moment).total_seconds())


# --- small pure pieces ------------------------------------------------------------------------


def form_encode(form: Mapping[str, str]) -> str:
    """``form`` urlencoded as Twilio sends it: exactly ``urllib.parse.urlencode(form)``, with
    each distinct key and value quoted once per process (a call repeats most of them)."""
    return "&".join(f"{_quoted(key)}={_quoted(value)}" for key, value in form.items())


@functools.lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    return urllib.parse.quote_plus(text)


def twilio_signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` for a request to ``url`` with the form ``form`` (empty for a
    GET), computed by twilio's own ``RequestValidator`` (what the simulator signs with): no
    copy of Twilio's algorithm to drift from it. The form goes in as ``Fields``, which spares
    the validator two exceptions per field."""
    return str(RequestValidator(auth_token).compute_signature(url, Fields(form)))


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


@functools.lru_cache(maxsize=1024)
def checked_twiml(
    body: bytes, *, wait_url: bool = False
) -> tuple[Element, tuple[SchemaProblem, ...]]:
    """``body`` parsed (``parse_twiml``) and its schema problems (``check_document``, as a
    waitUrl document with ``wait_url``), once per distinct body: an IVR sends the same
    documents again and again (every caller hears the same menu), and a replay sends all of
    them again each round. The tree is shared between the calls that fetch the same body, so
    nothing may change it: the simulator only reads elements (a frame copies the list of
    verbs it pops from). Raises ``xml.parsers.expat.ExpatError`` (never cached)."""
    root = parse_twiml(body)
    return root, tuple(check_document(root, wait_url=wait_url))


def _rfc2822(moment: datetime) -> str:
    """A time as Twilio writes it in callbacks: ``Mon, 16 Aug 2010 03:45:01 +0000``."""
    return email.utils.format_datetime(moment.astimezone(UTC)).replace("-0000", "+0000")


def _int(element: Element, name: str, default: int) -> int:
    value = element.get(name)
    return int(value) if value is not None else default


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _spec(pending: _Pending) -> GatherSpec:
    assert pending.gather is not None  # a "gather" pending always carries its spec
    return pending.gather


def _gather_spec(verb: Element, doc: _Doc) -> GatherSpec:
    return _gather_spec_at(verb, doc.url)


@functools.lru_cache(maxsize=1024)
def _gather_spec_at(verb: Element, url: str) -> GatherSpec:
    """The spec of ``verb`` (an element of a shared ``checked_twiml`` tree, which nothing
    changes: its identity stands for its content) in a document fetched from ``url``."""
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
        action=_join(url, verb.get("action") or url),
        method=verb.get("method", "POST"),
    )


@functools.lru_cache(maxsize=4096)
def _join(base: str, url: str) -> str:
    """``urllib.parse.urljoin``, pure, computed once per pair: a call resolves the same few
    action URLs against the same few documents' URLs again and again."""
    return urllib.parse.urljoin(base, url)


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
