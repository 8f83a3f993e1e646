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
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from flask import url_for

from ivr import render
from ivr.inputs import CallerInput
from ivr.masking import mask_phone
from ivr.reply import Reply
from ivr.reply import Speech

if TYPE_CHECKING:
    from ivr.app import Runtime

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

F = TypeVar("F", bound=Callable[..., Response])

QUEUE_ENDED = {
    "bridged": (
        Speech("感谢您的来电，再见。", "zh-CN"),
        Speech("Thank you for calling. Goodbye.", "en-US"),
    ),
    "busy": (
        Speech("抱歉，目前无法为您接通人工客服，请稍后再拨。", "zh-CN"),
        Speech("Sorry, we cannot reach an agent right now. Please call again later.", "en-US"),
    ),
}


class MissingParameter(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["ivr"]
    return rt


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
            rt = runtime()
            try:
                rt.services.recorder.finish(
                    sid, outcome="agent", reason="system error", queue="general"
                )
            except Exception:
                log.exception("call %s: could not record the error", sid)
            return twiml(render.render_apology("general", URLS, rt.voices), state="error")

    return guarded  # type: ignore[return-value]


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
    """The Enqueue waitUrl: Twilio repeats this document while the caller waits."""
    rt = runtime()
    flow = rt.engine.flows[rt.flow_name].flow
    queue = flow.queues.get(request.args.get("queue", "general")) or flow.queues["general"]
    sid = request.values.get("CallSid")
    session = rt.store.load(sid) if sid else None
    lang = session.lang if session else flow.default_language
    return twiml(render.render_hold([Speech(queue.hold[lang], lang)], rt.voices), state="hold")


@bp.post("/queue-result")
@never_dead_air
def queue_result() -> Response:
    """The Enqueue action: the caller left the queue (talked to an agent, hung up, ...)."""
    rt = runtime()
    sid = param("CallSid")
    result = request.values.get("QueueResult", "error")
    rt.services.recorder.handoff_status(sid, _handoff_status(result))
    session = rt.store.load(sid)
    lang = session.lang if session else "zh-CN"
    words = QUEUE_ENDED["bridged" if result in {"bridged", "leave"} else "busy"]
    said = [s for s in words if s.lang == lang] or list(words)
    return twiml(render.render_goodbye(said, rt.voices), state=f"queue-{result}")


def _handoff_status(result: str) -> str:
    return {"bridged": "bridged", "leave": "left", "hangup": "abandoned"}.get(result, "failed")


@bp.post("/fallback")
@never_dead_air
def fallback() -> Response:
    """The number's Fallback URL: Twilio could not use our reply (ErrorCode, ErrorUrl). Log it,
    apologise and put the caller through to a person."""
    rt = runtime()
    sid = request.values.get("CallSid", "?")
    log.error(
        "call %s: Twilio fell back after error %s on %s",
        sid,
        request.values.get("ErrorCode", "?"),
        request.values.get("ErrorUrl", "?"),
    )
    if sid != "?":
        try:
            rt.services.recorder.finish(
                sid, outcome="agent", reason="twilio fallback", queue="general"
            )
        except Exception:
            log.exception("call %s: could not record the fallback", sid)
    return twiml(render.render_apology("general", URLS, rt.voices), state="fallback")


@bp.post("/status")
@never_dead_air
def status() -> Response:
    """The call status callback: the call is over; end its session and close its record."""
    rt = runtime()
    sid = param("CallSid")
    call_status = request.values.get("CallStatus", "completed")
    duration = request.values.get("CallDuration", type=int)
    rt.store.end(sid)
    rt.services.recorder.close(sid, duration_s=duration, status=call_status)
    log.info("call %s: ended (%s, %ss)", sid, call_status, duration)
    return twiml(render.empty_response())
