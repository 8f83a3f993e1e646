"""The Twilio webhooks: form → typed caller input → engine → TwiML. No menu logic here.

Owns the HTTP surface Twilio talks to (``/voice``, ``/voice/step``, ``/voice/hold``,
``/voice/queue-result``, ``/voice/status``), signature checking, per-call locking and the
duplicate-delivery rule, and the promise that a caller never hears dead air: any unexpected
error becomes an apology and a queue, logged with the CallSid. Reads the wiring that the app
factory put in ``current_app.extensions["ivr"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from typing import TypeVar

from flask import Blueprint
from flask import Response
from flask import request
from flask import url_for

from ivr.engine.inputs import CallerInput
from ivr.engine.reply import Reply
from ivr.flow import prompts
from ivr.phones import mask_phone
from ivr.telephony import render
from ivr.voice.speech import Part
from ivr.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

F = TypeVar("F", bound=Callable[..., Response])


class MissingParameter(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


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


def param(name: str) -> str:
    value = request.values.get(name)
    if not value:
        raise MissingParameter(name)
    return value


def never_dead_air(view: F) -> F:
    """Whatever goes wrong, the caller hears an apology and reaches an agent."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except MissingParameter as exc:
            return Response(
                f"Missing required Twilio parameter {exc.name!r}. "
                "This URL expects Twilio's voice webhook form (CallSid, From, ...).\n",
                status=400,
                mimetype="text/plain",
            )
        except Exception:
            sid = request.values.get("CallSid", "?")
            log.exception(
                "call %s: unexpected error in %s; apologising and queueing", sid, request.path
            )
            return _apologise(sid, reason="system error", state="error")

    return guarded  # type: ignore[return-value]


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
@never_dead_air
def incoming() -> Response:
    rt = runtime()
    sid, caller = param("CallSid"), param("From")
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
@never_dead_air
def step() -> Response:
    rt = runtime()
    sid = param("CallSid")
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
@never_dead_air
def hold() -> Response:
    """The Enqueue waitUrl, repeated while the caller waits: their place in line and the
    expected wait, the hold message, an offer to be called back instead, hold music."""
    rt = runtime()
    flow = rt.engine.flows[rt.flow_name].flow
    name = request.args.get("queue", "general")
    queue = flow.queues.get(name) or flow.queues["general"]
    sid = request.values.get("CallSid")
    session = rt.store.load(sid) if sid else None
    lang = session.lang if session else flow.default_language
    position = request.values.get("QueuePosition", type=int) or 1
    size = request.values.get("CurrentQueueSize", type=int) or position
    average = request.values.get("AvgQueueTime", type=int)
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
@never_dead_air
def hold_choice() -> Response:
    """The caller pressed a key while waiting: 1 takes the callback (the flow books it when
    the Enqueue action reports ``leave``); anything else goes back to waiting."""
    if request.values.get("Digits") == "1":
        return twiml(render.render_leave(), state="hold")
    return hold()


@bp.post("/queue-result")
@never_dead_air
def queue_result() -> Response:
    """The Enqueue (or Dial) action: the agent queue is done with the caller. The flow says
    what comes next (``queue_results``): the survey, a callback, voicemail, goodbye."""
    rt = runtime()
    sid = param("CallSid")
    answer = CallerInput.from_form(request.form)
    result = answer.queue_result or "failed"
    rt.records.handoff_status(sid, _handoff_status(result))
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
@never_dead_air
def recording_status() -> Response:
    """Twilio reports that a recording (a voicemail) is ready to fetch."""
    sid = request.values.get("CallSid", "?")
    log.info(
        "call %s: recording %s is %s (%ss)",
        sid,
        request.values.get("RecordingSid", "?"),
        request.values.get("RecordingStatus", "?"),
        request.values.get("RecordingDuration", "?"),
    )
    return twiml(render.empty_response())


@bp.post("/fallback")
@never_dead_air
def fallback() -> Response:
    """The number's Fallback URL: Twilio could not use our reply (ErrorCode, ErrorUrl). Log it,
    apologise and put the caller through to a person."""
    sid = request.values.get("CallSid", "?")
    log.error(
        "call %s: Twilio fell back after error %s on %s",
        sid,
        request.values.get("ErrorCode", "?"),
        request.values.get("ErrorUrl", "?"),
    )
    return _apologise(sid, reason="twilio fallback", state="fallback")


@bp.post("/status")
@never_dead_air
def status() -> Response:
    """The call status callback: the call is over; end its session and close its record."""
    rt = runtime()
    sid = param("CallSid")
    call_status = request.values.get("CallStatus", "completed")
    duration = request.values.get("CallDuration", type=int)
    rt.store.end(sid)
    rt.records.close(sid, duration_s=duration, status=call_status)
    log.info("call %s: ended (%s, %ss)", sid, call_status, duration)
    return twiml(render.empty_response())
