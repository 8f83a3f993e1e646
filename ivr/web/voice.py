"""The Twilio webhooks: form → typed caller input → engine → TwiML. No menu logic here.

Owns the HTTP surface Twilio talks to (``/voice``, ``/voice/step``, ``/voice/hold``,
``/voice/queue-result``, ``/voice/status``, and for the callbacks the dialer places
``/voice/callback`` and ``/voice/callback/status``), signature checking, per-call locking and the
duplicate-delivery rule, and the promise that a caller never hears dead air: the blueprint's
error handler turns any unexpected error in any of its routes (a new one included, with
nothing to remember) into an apology and a queue, logged with the CallSid. HTTP errors keep
their status; a missing Twilio field (werkzeug's ``BadRequestKeyError``) is a 400 naming it.
Twilio's PascalCase fields become snake_case once, in ``TwilioForm`` (what the caller did:
``CallerInput.from_form``). A request's form is read once, into a plain dict
(``parse_form``; werkzeug's parser only for a body that is not urlencoded), and
serves the signature, ``TwilioForm`` and the caller's input alike; the URL the signature
covers and the webhook URLs a reply carries are kept by what they depend on (the request's
scheme, host, script root, path and query; the script root), not rebuilt per request. A
webhook that moves a call on costs the session store two trips: the lock with the session
read, and the save that gives the lock back, carrying the call-record events the step held
back. Reads the wiring that the app factory put in
``current_app.extensions["ivr"]``.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl
from urllib.parse import quote

from flask import Blueprint
from flask import Response
from flask import request
from flask import url_for
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.exceptions import HTTPException

from ivr.engine.inputs import CallerInput
from ivr.engine.reply import Reply
from ivr.engine.reply import Restart
from ivr.engine.session import CallSession
from ivr.flow import prompts
from ivr.hotline.dialer import CALL_LEASE
from ivr.hotline.dialer import RetryPolicy
from ivr.hotline.dialer import settle
from ivr.phones import mask_phone
from ivr.stores.budgets import is_database_error
from ivr.stores.callbacks import is_machine
from ivr.telephony import render
from ivr.voice.speech import Part
from ivr.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

# Twilio's CallStatus values that mean the call is over; others (queued, ringing,
# in-progress, initiated) arrive on status callbacks too and end nothing.
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# The routes whose document is an Enqueue waitUrl page: Twilio allows no <Enqueue> there.
WAIT_PAGES = frozenset({"voice.hold", "voice.hold_choice"})
#: How Twilio encodes a webhook's form; another body is left to werkzeug's parser.
FORM_TYPE = "application/x-www-form-urlencoded"
#: The codec error handler that leaves bytes that are not UTF-8 percent-quoted, as
#: werkzeug's ``werkzeug.url_quote`` does in its form parser.
URL_QUOTE = "ivr.url_quote"
#: URLs kept (``_request_url``, ``_Urls``); more distinct ones than this start afresh.
MAX_KEPT_URLS = 1024


def _url_quote(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return quote(error.object[error.start : error.end], safe=""), error.end


codecs.register_error(URL_QUOTE, _url_quote)


def parse_form(body: bytes) -> dict[str, str]:
    """The fields of a urlencoded ``body``, the first value of each, in order of first
    appearance, as werkzeug's form parser reads them (the stdlib's ``parse_qsl`` on the body
    decoded as UTF-8, blank values kept, escapes that are not UTF-8 left quoted; a body that
    is not UTF-8 has no fields), into one plain dict: werkzeug's stream, options header and
    two ``MultiDict`` s around the same ``parse_qsl`` cost more than the parsing."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return {}
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors=URL_QUOTE):
        fields.setdefault(name, value)
    return fields


@dataclass(frozen=True)
class TwilioForm:
    """The fields of Twilio's webhook form these routes read, in snake_case: the one place
    their PascalCase names appear. A field the request lacks (or sends empty) is None."""

    call_sid: str | None
    caller: str | None  # From
    digits: str | None
    call_status: str | None
    call_duration: int | None
    queue_position: int | None
    current_queue_size: int | None
    avg_queue_time: int | None
    recording_sid: str | None
    recording_status: str | None
    recording_duration: str | None
    error_code: str | None
    error_url: str | None
    answered_by: str | None = None  # outbound calls with answering-machine detection

    @classmethod
    def read(cls, *sources: Mapping[str, str]) -> TwilioForm:
        """The fields from ``sources``, the first that has a field giving it (as werkzeug's
        ``request.values``: the query string, then the form). A number is the first that
        reads as one."""

        def text(name: str) -> str | None:
            for source in sources:
                if name in source:
                    return source[name] or None
            return None

        def number(name: str) -> int | None:
            for source in sources:
                if name in source:
                    try:
                        return int(source[name])
                    except ValueError:
                        continue
            return None

        return cls(
            call_sid=text("CallSid"),
            caller=text("From"),
            digits=text("Digits"),
            call_status=text("CallStatus"),
            call_duration=number("CallDuration"),
            queue_position=number("QueuePosition"),
            current_queue_size=number("CurrentQueueSize"),
            avg_queue_time=number("AvgQueueTime"),
            recording_sid=text("RecordingSid"),
            recording_status=text("RecordingStatus"),
            recording_duration=text("RecordingDuration"),
            error_code=text("ErrorCode"),
            error_url=text("ErrorUrl"),
            answered_by=text("AnsweredBy"),
        )

    @property
    def sid(self) -> str:
        """The CallSid every webhook of a call carries; without it the request is a 400."""
        if self.call_sid is None:
            raise BadRequestKeyError("CallSid")
        return self.call_sid

    @property
    def from_number(self) -> str:
        """Who is calling, which the first webhook carries; without it the request is a 400."""
        if self.caller is None:
            raise BadRequestKeyError("From")
        return self.caller


def form_fields() -> dict[str, str]:
    """This request's form (the body's fields, the first value of each), read once: by the
    signature check, ``TwilioForm`` and the caller's input alike. Kept in the request's
    environ, not ``g``: a request the app makes to itself (the browser phone) shares ``g``."""
    environ = request.environ
    fields: dict[str, str] | None = environ.get("ivr.form")
    if fields is None:
        if request.mimetype == FORM_TYPE:
            fields = parse_form(request.get_data())
        else:
            fields = request.form.to_dict()
        environ["ivr.form"] = fields
    return fields


def twilio_form() -> TwilioForm:
    """This request's Twilio fields (form and query string, as Twilio may send either; a GET
    has only its query string, as werkzeug's ``request.values``)."""
    environ = request.environ
    form: TwilioForm | None = environ.get("ivr.twilio_form")
    if form is None:
        if request.method == "GET":
            form = TwilioForm.read(request.args)
        else:
            form = TwilioForm.read(request.args, form_fields())
        environ["ivr.twilio_form"] = form
    return form


_received_urls: dict[tuple[object, ...], str] = {}


def _request_url() -> str:
    """``request.url``, which the signature covers. werkzeug builds it from these environ
    values alone (quoting, IRI decoding, the host's port and IDNA), the same each time, so
    it is kept by them."""
    environ = request.environ
    key = (
        environ.get("wsgi.url_scheme"),
        environ.get("HTTP_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("SERVER_PORT"),
        environ.get("SCRIPT_NAME"),
        environ.get("PATH_INFO"),
        environ.get("QUERY_STRING"),
    )
    return _kept_url(_received_urls, key, lambda: request.url)


def _kept_url(
    table: dict[tuple[object, ...], str], key: tuple[object, ...], build: Callable[[], str]
) -> str:
    """``build()`` kept in ``table`` by ``key``; the table starts afresh past
    ``MAX_KEPT_URLS``."""
    url = table.get(key)
    if url is None:
        url = build()
        if len(table) >= MAX_KEPT_URLS:
            table.clear()
        table[key] = url
    return url


class _Urls:
    """The IVR's own webhook URLs, relative to the host Twilio called (Twilio resolves them
    against the current document, so tunnels and proxies need no rewriting).

    ``url_for`` builds a relative URL from the route and the script root alone (no host or
    subdomain matching here), so each URL is kept by the script root (a proxy's prefix,
    per request) and what it names: ``url_for`` runs once per distinct URL."""

    def __init__(self) -> None:
        self._kept: dict[tuple[object, ...], str] = {}

    def _url(self, endpoint: str, value: str | int | None, build: Callable[[], str]) -> str:
        return _kept_url(self._kept, (request.environ.get("SCRIPT_NAME"), endpoint, value), build)

    def voice(self) -> str:
        return self._url("voice.incoming", None, lambda: url_for("voice.incoming"))

    def step(self, n: int) -> str:
        return self._url("voice.step", n, lambda: url_for("voice.step", n=n))

    def hold(self, queue: str) -> str:
        return self._url("voice.hold", queue, lambda: url_for("voice.hold", queue=queue))

    def queue_result(self, n: int) -> str:
        return self._url("voice.queue_result", n, lambda: url_for("voice.queue_result", n=n))

    def recording_status(self) -> str:
        return self._url("voice.recording_status", None, lambda: url_for("voice.recording_status"))

    def hold_choice(self, queue: str) -> str:
        return self._url(
            "voice.hold_choice", queue, lambda: url_for("voice.hold_choice", queue=queue)
        )


URLS = _Urls()


def twiml(
    body: str, *, state: str | None = None, flow: str | None = None, path: tuple[str, ...] = ()
) -> Response:
    response = Response(body, status=200, mimetype="text/xml")
    if state:
        response.headers["X-IVR-State"] = state
    if path:
        response.headers["X-IVR-Path"] = ",".join(path)
    if flow:
        response.headers["X-IVR-Flow"] = flow
    return response


@bp.errorhandler(BadRequestKeyError)
def missing_parameter(error: BadRequestKeyError) -> Response:
    """A Twilio field the route needs is absent: say which, with a 400 (not an apology: this
    is not Twilio calling)."""
    return Response(
        f"Missing required Twilio parameter {error.args[0]!r}. "
        "This URL expects Twilio's voice webhook form (CallSid, From, ...).\n",
        status=400,
        mimetype="text/plain",
    )


@bp.errorhandler(HTTPException)
def keep_http_status(error: HTTPException) -> HTTPException:
    """A 400, 404 or 405 raised in a route keeps its status: the guard below is for bugs."""
    return error


@bp.errorhandler(Exception)
def never_dead_air(error: Exception) -> Response:
    """Whatever goes wrong in any route of this blueprint, the caller hears an apology and
    reaches an agent: queued, or kept waiting in the queue on a hold page (where Twilio
    allows no ``<Enqueue>``). The answer never waits on the store that failed."""
    sid = twilio_form().call_sid or "?"
    log.error(
        "call %s: unexpected error in %s; apologising and queueing",
        sid,
        request.path,
        exc_info=error,
    )
    database_failed = is_database_error(error)
    if request.endpoint in WAIT_PAGES:
        rt = runtime()
        return twiml(render.render_hold(rt.voices.announcements.apology, rt.voices), state="hold")
    return _apologise(sid, reason="system error", state="error", record=not database_failed)


def _apologise(sid: str, *, reason: str, state: str, record: bool = True) -> Response:
    """An apology and the general queue, built without the session or the flow. The call's
    record notes why after the answer has gone out, if it can (``record`` False: not at all,
    because the database is what failed); a failure there is logged."""
    rt = runtime()
    response = twiml(render.render_apology("general", URLS, rt.voices), state=state)
    if sid == "?":
        return response
    if not record:
        log.error("call %s: database unavailable; %r not recorded", sid, reason)
        return response
    _after_answer(
        response,
        f"record {reason!r}",
        sid,
        lambda: rt.records.finish(sid, outcome="agent", reason=reason, queue="general"),
    )
    return response


def _after_answer(response: Response, what: str, sid: str, work: Callable[[], None]) -> None:
    """Do ``work`` once the response has been sent (the WSGI server closes it then), so the
    caller never waits on bookkeeping; a failure is logged."""

    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("call %s: could not %s", sid, what)

    response.call_on_close(run)


@bp.before_request
def check_signature() -> Response | None:
    checker = runtime().signatures
    if checker is None:
        return None
    params = form_fields() if request.method == "POST" else {}
    if checker.valid(_request_url(), params, request.headers.get("X-Twilio-Signature")):
        return None
    log.warning(
        "rejected %s %s: X-Twilio-Signature missing or invalid", request.method, request.path
    )
    return Response(
        "Forbidden: X-Twilio-Signature is missing or does not match. Behind a tunnel or proxy, "
        "set IVR_PUBLIC_URL to the public base URL Twilio calls.\n",
        status=403,
        mimetype="text/plain",
    )


def _respond(reply: Reply) -> tuple[str, Response]:
    body = render.render(reply, URLS, runtime().voices)
    return body, twiml(body, state=reply.state, flow=reply.flow, path=reply.path)


@bp.post("")
def incoming() -> Response:
    rt = runtime()
    form = twilio_form()
    sid, caller = form.sid, form.from_number
    log.info("call %s: incoming from %s", sid, mask_phone(caller))
    with rt.records.holding_events(), rt.store.lock(sid, wait=rt.settings.lock_wait):
        stored = rt.store.load(sid)
        if stored is not None:
            if stored.ended_at is not None:
                return twiml(render.render_goodbye((), rt.voices), state="ended")
            if stored.flow in rt.engine.flows:
                # A repeated delivery of the first webhook: say the same thing again.
                if stored.seq == 1 and stored.last_reply:
                    return twiml(stored.last_reply, state=stored.state, flow=stored.flow)
                # A repeat /voice for a live call continues it where it is.
                return _save_if_moved(stored, stored.seq, rt.engine.repeat(stored))
            # Its flow is gone (a deploy): the call's one restart, over its session.
            log.info("call %s: flow %r gone; starting the call over", sid, stored.flow)
        session, reply = rt.engine.start(sid, caller, rt.flow_name)
        if stored is not None:
            session.version = stored.version
        body, response = _respond(reply)
        session.last_reply = body
        rt.store.save(session, unlock=True)
        return response


def _save_if_moved(session: CallSession, seq: int, reply: Reply) -> Response:
    """The response for ``reply``; the session is saved only if the engine moved it on
    (``seq`` was its step before), so a replayed step keeps answering as it did."""
    body, response = _respond(reply)
    if session.seq != seq:
        session.last_reply = body
        runtime().store.save(session, unlock=True)
    return response


def _restart_once(sid: str) -> Response:
    """A call the IVR lost track of starts over, once; after that it goes to an agent."""
    rt = runtime()
    if rt.records.note_restart(sid):
        log.info("call %s: unknown call on an action URL; starting over", sid)
        return twiml(render.render_restart(URLS, rt.voices), state="restart")
    log.warning("call %s: lost track of the call again; queueing it for an agent", sid)
    return _apologise(sid, reason="call state lost", state="error")


@bp.post("/step")
def step() -> Response:
    rt = runtime()
    sid = twilio_form().sid
    n = request.args.get("n", type=int)
    with rt.records.holding_events(), rt.store.lock(sid, wait=rt.settings.lock_wait):
        session = rt.store.load(sid)
        if session is None:
            return _restart_once(sid)
        if session.ended_at is not None:
            log.info("call %s: a step after the call ended; hanging up", sid)
            return twiml(render.render_goodbye((), rt.voices), state="ended")
        if n is not None and n == session.seq - 1 and session.last_reply:
            log.info("call %s: step %s delivered again; replaying its reply", sid, n)
            return twiml(session.last_reply, state=session.state, flow=session.flow)
        seq = session.seq
        if n != seq:
            reply = rt.engine.repeat(session)
        else:
            reply = rt.engine.step(
                session,
                CallerInput.from_form(form_fields(), recordings_from=rt.settings.recording_urls),
            )
        if isinstance(reply.verb, Restart):  # its flow is gone
            return _restart_once(sid)
        if n != seq:
            return _save_if_moved(session, seq, reply)
        body, response = _respond(reply)
        session.last_reply = body
        rt.store.save(session, unlock=True)
        return response


@bp.post("/hold")
def hold() -> Response:
    """The Enqueue waitUrl, repeated while the caller waits: their place in line and the
    expected wait, the hold message, an offer to be called back instead, hold music."""
    rt = runtime()
    flow = rt.engine.flows[rt.flow_name].flow
    name = request.args.get("queue", "general")
    queue = flow.queues.get(name) or flow.queues["general"]
    form = twilio_form()
    lang = flow.default_language
    if form.call_sid:
        lang = _language_of(form.call_sid, lang)
    position = form.queue_position or 1
    size = form.current_queue_size or position
    average = form.avg_queue_time
    said = []
    waiting = flow.waiting
    if waiting is not None:
        minutes = queue.settings.estimate_wait_minutes(position, average, queue_size=size)
        numbers = {"position": str(position), "minutes": str(minutes)}
        said.append(
            prompts.fill(
                waiting.position[lang],
                lang,
                prompts.waiting_id(flow, "position"),
                lambda n: Part(numbers[n]),
            )
        )
    said.append(prompts.line(queue.hold[lang], lang, prompts.hold_id(flow, queue.id)))
    offer = []
    if waiting is not None and "leave" in flow.queue_results:
        offer.append(
            prompts.line(
                waiting.offer_callback[lang], lang, prompts.waiting_id(flow, "offer_callback")
            )
        )
    body = render.render_hold(
        said,
        rt.voices,
        offer=offer,
        choice_url=URLS.hold_choice(queue.id),
        offer_first=queue.settings.offer_callback(size),
    )
    response = twiml(body, state="hold")
    if form.call_sid:
        sid = form.call_sid
        _after_answer(response, "note the waiting caller seen", sid, lambda: rt.records.seen(sid))
    return response


def _language_of(sid: str, default: str) -> str:
    """The caller's language, or ``default`` when the session store has lost the call or
    fails: the hold page goes on either way."""
    try:
        session = runtime().store.load(sid)
    except Exception:
        log.exception("call %s: session unreadable on the hold page; holding in %s", sid, default)
        return default
    return session.lang if session is not None else default


@bp.post("/hold/choice")
def hold_choice() -> Response:
    """The caller pressed a key while waiting: 1 takes the callback (the flow books it when
    the Enqueue action reports ``leave``); anything else goes back to waiting."""
    if twilio_form().digits == "1":
        return twiml(render.render_leave(), state="hold")
    return hold()


@bp.post("/queue-result")
def queue_result() -> Response:
    """The Enqueue (or Dial) action: the agent queue is done with the caller. The flow says
    what comes next (``queue_results``): the survey, a callback, voicemail, goodbye."""
    rt = runtime()
    sid = twilio_form().sid
    answer = CallerInput.from_form(form_fields())
    result = answer.queue_result or "failed"
    waited = _number(form_fields().get("QueueTime"))  # seconds in the queue (capacity)
    rt.records.handoff_status(sid, _handoff_status(result), waited_s=waited)
    n = request.args.get("n", type=int)
    with rt.records.holding_events(), rt.store.lock(sid, wait=rt.settings.lock_wait):
        session = rt.store.load(sid)
        if result == "hangup" or (session is not None and session.ended_at is not None):
            return twiml(render.empty_response(), state=f"queue-{result}")
        if session is None:
            session = _rebuilt_in_queue(sid, n)
            if session is None:
                log.warning("call %s: queue result %s for a call unknown here", sid, result)
                return _apologise(sid, reason="call state lost", state="error")
        if n is not None and n == session.seq - 1 and session.last_reply:
            return twiml(session.last_reply, state=session.state, flow=session.flow)
        if n != session.seq:
            return twiml(render.empty_response(), state=f"queue-{result}")
        reply = rt.engine.step(session, answer)
        body, response = _respond(reply)
        session.last_reply = body
        rt.store.save(session, unlock=True)
        return response


def _rebuilt_in_queue(sid: str, n: int | None) -> CallSession | None:
    """The session of a queued caller whose session the store lost (a Redis restart, say),
    rebuilt from the call's record at the flow's agent state, so the flow's queue results
    still apply: a callback asked for on hold is booked. None when the call has no record."""
    rt = runtime()
    record = rt.records.record(sid)
    compiled = rt.engine.flows.get(record.flow) if record is not None else None
    if record is None or compiled is None:
        return None
    log.warning("call %s: session lost while queued; rebuilt from its record", sid)
    data: dict[str, object] = {"caller": record.caller}
    if record.account_id is not None:
        data["account_id"] = record.account_id
    now = rt.services.clock.now()
    return CallSession(
        call_sid=sid,
        flow=record.flow,
        state=compiled.flow.agent_state,
        lang=record.lang,
        data=data,
        created_at=record.started_at,
        updated_at=now,
        seq=n if n is not None else 1,
    )


def _number(text: str | None) -> int | None:
    """``text`` as an int, None when absent or not a number (werkzeug's ``get(type=int)``)."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _handoff_status(result: str) -> str:
    return {"bridged": "bridged", "leave": "left", "hangup": "abandoned"}.get(result, "failed")


@bp.post("/recording-status")
def recording_status() -> Response:
    """Twilio reports that a recording (a voicemail) is ready to fetch."""
    form = twilio_form()
    log.info(
        "call %s: recording %s is %s (%ss)",
        form.call_sid or "?",
        form.recording_sid or "?",
        form.recording_status or "?",
        form.recording_duration or "?",
    )
    return twiml(render.empty_response())


@bp.post("/fallback")
def fallback() -> Response:
    """The number's Fallback URL: Twilio could not use our reply (ErrorCode, ErrorUrl). Log it,
    apologise and put the caller through to a person."""
    form = twilio_form()
    sid = form.call_sid or "?"
    log.error(
        "call %s: Twilio fell back after error %s on %s",
        sid,
        form.error_code or "?",
        form.error_url or "?",
    )
    return _apologise(sid, reason="twilio fallback", state="fallback")


@bp.post("/status")
def status() -> Response:
    """The call status callback: when the status is final, the call is over; end its session
    and close its record. Other statuses (ringing, in-progress, ...) change nothing."""
    rt = runtime()
    form = twilio_form()
    sid = form.sid
    call_status = form.call_status or "completed"
    duration = form.call_duration
    if call_status not in FINAL_CALL_STATUSES:
        log.info("call %s: status %s; the call goes on", sid, call_status)
        return twiml(render.empty_response())
    rt.store.end(sid)
    rt.records.close(sid, duration_s=duration, status=call_status)
    log.info("call %s: ended (%s, %ss)", sid, call_status, duration)
    return twiml(render.empty_response())


# -- callbacks the dialer placed (ivr.hotline.dialer) -------------------------------------


@bp.post("/callback")
def callback_answered() -> Response:
    """Twilio's answer webhook of a callback (``?attempt=`` names the attempt): the callback
    flow starts with what the first call knew, in its language; Twilio's ``AnsweredBy``
    (answering-machine detection) tells a person from a machine. Later webhooks of the call
    are the usual ``/voice/step``. A repeated delivery says the same thing again."""
    rt = runtime()
    form = twilio_form()
    sid = form.sid
    attempt_id = request.args.get("attempt", type=int)
    with rt.store.lock(sid, wait=rt.settings.lock_wait):
        stored = rt.store.load(sid)
        if stored is not None:
            if stored.ended_at is not None:
                return twiml(render.render_goodbye((), rt.voices), state="ended")
            if stored.seq == 1 and stored.last_reply:
                return twiml(stored.last_reply, state=stored.state, flow=stored.flow)
            return _save_if_moved(stored, stored.seq, rt.engine.repeat(stored))
        book = rt.callbacks
        attempt = book.attempt(attempt_id) if book is not None and attempt_id else None
        callback = book.by_id(attempt.request_id) if book and attempt else None
        flow_name = rt.settings.callback_flow
        if book is None or attempt is None or callback is None or flow_name not in rt.engine.flows:
            log.error("call %s: a callback answered for unknown attempt %s", sid, attempt_id)
            return _apologise(sid, reason="callback unknown", state="error")
        book.answered(attempt.id, sid, form.answered_by, lease=CALL_LEASE)
        log.info("call %s: callback %s answered by %s", sid, callback.id, form.answered_by)
        data: dict[str, object] = {
            "callback": callback.id,
            "account_id": callback.account_id,
            "issue": callback.issue,
            "verified": callback.verified,
            "steps": list(callback.steps),
            "flags": {"machine": is_machine(form.answered_by)},
        }
        session, reply = rt.engine.start(
            sid, callback.phone, flow_name, lang=callback.lang, data=data
        )
        body, response = _respond(reply)
        session.last_reply = body
        rt.store.save(session)
        return response


@bp.post("/callback/status")
def callback_status() -> Response:
    """The status callback of a callback call: a final status settles the attempt (the
    callback is done, tried again later, or a ticket after the last attempt; a duplicate
    changes nothing), then the call ends as any call does."""
    rt = runtime()
    form = twilio_form()
    attempt_id = request.args.get("attempt", type=int)
    call_status = form.call_status or "completed"
    if call_status in FINAL_CALL_STATUSES and attempt_id and rt.callbacks is not None:
        settle(
            rt.callbacks,
            rt.services.wallet,
            attempt_id,
            call_status,
            RetryPolicy.of(rt.settings),
            call_sid=form.sid,
        )
    return status()
