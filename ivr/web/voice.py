"""The Twilio webhooks: form → typed caller input → engine → TwiML. No menu logic here.

Owns the HTTP surface Twilio talks to (``/voice``, ``/voice/step``, ``/voice/hold``,
``/voice/queue-result``, ``/voice/status``), signature checking, per-call locking and the
duplicate-delivery rule, and the promise that a caller never hears dead air: the blueprint's
error handler turns any unexpected error in any of its routes (a new one included, with
nothing to remember) into an apology and a queue, logged with the CallSid. HTTP errors keep
their status; a missing Twilio field (werkzeug's ``BadRequestKeyError``) is a 400 naming it.
Twilio's PascalCase fields become snake_case once, in ``TwilioForm`` (what the caller did:
``CallerInput.from_form``). Reads the wiring that the app factory put in
``current_app.extensions["ivr"]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint
from flask import Response
from flask import request
from flask import url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.exceptions import HTTPException

from ivr.engine.inputs import CallerInput
from ivr.engine.reply import Reply
from ivr.flow import prompts
from ivr.phones import mask_phone
from ivr.telephony import render
from ivr.voice.speech import Part
from ivr.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")


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

    @classmethod
    def read(cls, values: MultiDict[str, str]) -> TwilioForm:
        def text(name: str) -> str | None:
            return values.get(name) or None

        def number(name: str) -> int | None:
            return values.get(name, type=int)

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


def twilio_form() -> TwilioForm:
    """This request's Twilio fields (form and query string, as Twilio may send either)."""
    return TwilioForm.read(request.values)


class _Urls:
    """The IVR's own webhook URLs, relative to the host Twilio called (Twilio resolves them
    against the current document, so tunnels and proxies need no rewriting)."""

    def voice(self) -> str:
        return url_for("voice.incoming")

    def step(self, n: int) -> str:
        return url_for("voice.step", n=n)

    def hold(self, queue: str) -> str:
        return url_for("voice.hold", queue=queue)

    def queue_result(self, n: int) -> str:
        return url_for("voice.queue_result", n=n)

    def recording_status(self) -> str:
        return url_for("voice.recording_status")

    def hold_choice(self, queue: str) -> str:
        return url_for("voice.hold_choice", queue=queue)


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
    reaches an agent."""
    sid = twilio_form().call_sid or "?"
    log.error(
        "call %s: unexpected error in %s; apologising and queueing",
        sid,
        request.path,
        exc_info=error,
    )
    return _apologise(sid, reason="system error", state="error")


def _apologise(sid: str, *, reason: str, state: str) -> Response:
    """An apology and the general queue, built without the session or the flow; the call's
    record notes why, if it can (a failure here must not stop the apology)."""
    rt = runtime()
    if sid != "?":
        try:
            rt.records.finish(sid, outcome="agent", reason=reason, queue="general")
        except Exception:
            log.exception("call %s: could not record %r", sid, reason)
    return twiml(render.render_apology("general", URLS, rt.voices), state=state)


@bp.before_request
def check_signature() -> Response | None:
    checker = runtime().signatures
    if checker is None:
        return None
    params = request.form.to_dict() if request.method == "POST" else {}
    if checker.valid(request.url, params, request.headers.get("X-Twilio-Signature")):
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
    with rt.store.lock(sid):
        session = rt.store.load(sid)
        if session is not None:
            # A repeated delivery of the first webhook: say the same thing again.
            if session.seq == 1 and session.last_reply:
                return twiml(session.last_reply, state=session.state, flow=session.flow)
            return _respond(rt.engine.repeat(session))[1]
        session, reply = rt.engine.start(sid, caller, rt.flow_name)
        body, response = _respond(reply)
        session.last_reply = body
        rt.store.save(session)
        return response


@bp.post("/step")
def step() -> Response:
    rt = runtime()
    sid = twilio_form().sid
    n = request.args.get("n", type=int)
    with rt.store.lock(sid):
        session = rt.store.load(sid)
        if session is None or session.ended_at is not None:
            log.info("call %s: unknown or ended call on an action URL; starting over", sid)
            return twiml(render.render_restart(URLS, rt.voices), state="restart")
        if n is not None and n == session.seq - 1 and session.last_reply:
            log.info("call %s: step %s delivered again; replaying its reply", sid, n)
            return twiml(session.last_reply, state=session.state, flow=session.flow)
        if n != session.seq:
            return _respond(rt.engine.repeat(session))[1]
        reply = rt.engine.step(session, CallerInput.from_form(request.form))
        body, response = _respond(reply)
        session.last_reply = body
        rt.store.save(session)
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
    session = rt.store.load(form.call_sid) if form.call_sid else None
    lang = session.lang if session else flow.default_language
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
    return twiml(body, state="hold")


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
    answer = CallerInput.from_form(request.form)
    result = answer.queue_result or "failed"
    waited = request.form.get("QueueTime", type=int)  # seconds in the queue (capacity)
    rt.records.handoff_status(sid, _handoff_status(result), waited_s=waited)
    n = request.args.get("n", type=int)
    with rt.store.lock(sid):
        session = rt.store.load(sid)
        if session is None or session.ended_at is not None or result == "hangup":
            return twiml(render.empty_response(), state=f"queue-{result}")
        if n is not None and n == session.seq - 1 and session.last_reply:
            return twiml(session.last_reply, state=session.state, flow=session.flow)
        if n != session.seq:
            return twiml(render.empty_response(), state=f"queue-{result}")
        reply = rt.engine.step(session, answer)
        body, response = _respond(reply)
        session.last_reply = body
        rt.store.save(session)
        return response


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
    """The call status callback: the call is over; end its session and close its record."""
    rt = runtime()
    form = twilio_form()
    sid = form.sid
    call_status = form.call_status or "completed"
    duration = form.call_duration
    rt.store.end(sid)
    rt.records.close(sid, duration_s=duration, status=call_status)
    log.info("call %s: ended (%s, %ss)", sid, call_status, duration)
    return twiml(render.empty_response())
