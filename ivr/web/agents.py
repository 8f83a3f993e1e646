"""The agent's side: who is waiting, taking the next caller, and the moment of connection.

Owns the ``/agent`` blueprint (part of the web shell, so it may use Flask):

- ``GET /agent/queue``: the waiting callers as JSON; ``GET /agent/`` (``/agent/queue.html``)
  the same as a page (``templates/agents.html``, ``static/agents.js``): totals per queue,
  each caller's waiting time ticking, the steps they tried in words (the flow's option and
  issue labels, not state names), refreshed every few seconds. Phone numbers are masked;
  PINs are never stored, so never shown.
- ``POST /agent/answer`` (JSON ``{"call_sid", "queue"}``): the page's pick-up button. Only a
  call the app can bridge itself answers to it: a browser phone call (``/phone``), through the
  ``Bridge`` that ``ivr serve`` puts in ``app.extensions[BRIDGE]``; a real caller is taken by
  the agent's phone (``/agent/pickup``). JSON only, so another site cannot post it from a
  form (a cross-site JSON request needs a CORS preflight, which is never granted).
- ``GET|POST /agent/pickup?queue=Q``: the TwiML an agent's phone runs to take the caller at
  the front of queue Q (``<Dial><Queue url=/agent/connecting>``). Q must be a queue of the
  flow; anything else (control characters included) is a 400 that never reaches TwiML.
- ``POST /agent/connecting``: Twilio runs it on the *caller's* leg as it dequeues them: the
  caller hears "connecting you now" in their language and the handoff becomes 'bridged'.

Access: the pages are for people and need ``IVR_AGENT_TOKEN`` when it is set (``Authorization:
Bearer …`` or ``?token=…``, else 401). Without it they answer only on a server that is not
public (no ``TWILIO_AUTH_TOKEN``, no ``IVR_PUBLIC_URL``) and only to a local request (from a
loopback address, not forwarded by a proxy or tunnel): local development needs no token, and a
public server refuses with a 403 that says how to set one (``public_because`` gives the
reasons; the app factory logs them at start-up). The two TwiML endpoints are fetched by
Twilio, which cannot send a header: they accept the token in the URL or, when
``TWILIO_AUTH_TOKEN`` is set, a valid ``X-Twilio-Signature`` (a bad one is a 403, as on
``/voice``; a missing or malformed one is refused before the body is read).

Reads what the app factory put in ``current_app.extensions["ivr"]``; writes nothing but the
handoff's status. No menu logic and no SQL here.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any
from typing import Protocol
from typing import TypeVar

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request
from flask import url_for

from ivr.flow.spec import Flow
from ivr.phones import mask_phone
from ivr.settings import Settings
from ivr.stores.records import Handoff
from ivr.telephony import render
from ivr.telephony.signatures import well_formed
from ivr.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("agents", __name__, url_prefix="/agent", template_folder="templates")
#: ``app.extensions`` key of the ``Bridge`` that lets the page pick up a call itself.
BRIDGE = "ivr.agent_bridge"

F = TypeVar("F", bound=Callable[..., Response])

REFRESH_SECONDS = 5
NO_SUCH_QUEUE = "Bad request: {queue} is not a queue of flow {flow!r}. Use one of: {queues}.\n"
TOKEN_NEEDED = (
    "Forbidden: the agent pages show callers' names, accounts and calls, and this server is "
    "public ({reasons}), so they need IVR_AGENT_TOKEN. Set it in the server's environment, "
    "for example: export IVR_AGENT_TOKEN=\"$(python3 -c 'import secrets; "
    "print(secrets.token_urlsafe(24))')\"; restart the server; then open /agent/?token=<token> "
    "or send 'Authorization: Bearer <token>'.\n"
)
# Headers a proxy or tunnel (ngrok, cloudflared, nginx) adds: such a request is not local.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP")


# -- access -----------------------------------------------------------------------------------


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("token") or None


def _token_ok(token: str) -> bool:
    presented = _presented_token()
    return presented is not None and hmac.compare_digest(
        presented.encode("utf-8"), token.encode("utf-8")
    )


def _unauthorized() -> Response:
    response = Response(
        "Unauthorized: the agent pages need IVR_AGENT_TOKEN, as 'Authorization: Bearer <token>' "
        "or '?token=<token>'.\n",
        status=401,
        mimetype="text/plain",
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="ivr-agent"'
    return response


def public_because(settings: Settings) -> list[str]:
    """Why settings make a server public (empty: they do not): what the agent pages'
    refusal and the start-up log name."""
    reasons = []
    if settings.twilio_auth_token:
        reasons.append("TWILIO_AUTH_TOKEN is set")
    if settings.public_url:
        reasons.append("IVR_PUBLIC_URL is set")
    return reasons


def _not_local_because() -> list[str]:
    """Why this request is not a local one (empty: it is)."""
    address = request.remote_addr or ""
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return [f"the request came from {address or 'an unknown address'}"]
    forwarded = [name for name in FORWARDING_HEADERS if name in request.headers]
    if forwarded:
        return [f"the request came through a proxy or tunnel ({forwarded[0]})"]
    return []


def _token_needed(reasons: list[str]) -> Response:
    return Response(
        TOKEN_NEEDED.format(reasons="; ".join(reasons)), status=403, mimetype="text/plain"
    )


def for_people(view: F) -> F:
    """A page for agents: needs the agent token when one is configured; without one, only a
    local request to a server that is not public is served."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        settings = runtime().settings
        token = settings.agent_token
        if token:
            if _token_ok(token):
                return view(*args, **kwargs)
            log.warning(
                "rejected %s %s: agent token missing or wrong", request.method, request.path
            )
            return _unauthorized()
        if reasons := public_because(settings) + _not_local_because():
            log.warning(
                "refused %s %s without IVR_AGENT_TOKEN: %s",
                request.method,
                request.path,
                "; ".join(reasons),
            )
            return _token_needed(reasons)
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def for_twilio(view: F) -> F:
    """A document Twilio fetches: the agent token in the URL, or Twilio's signature."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        token = runtime().settings.agent_token
        checker = runtime().signatures
        if token and _token_ok(token):
            return view(*args, **kwargs)
        if checker is not None:
            signature = request.headers.get("X-Twilio-Signature")
            # The form is read only for a request that carries a signature at all.
            if signature is not None and well_formed(signature):
                params = request.form.to_dict() if request.method == "POST" else {}
                if checker.valid(request.url, params, signature):
                    return view(*args, **kwargs)
            if not token:
                log.warning("rejected %s %s: bad X-Twilio-Signature", request.method, request.path)
                return Response(
                    "Forbidden: X-Twilio-Signature is missing or does not match.\n",
                    status=403,
                    mimetype="text/plain",
                )
        if token:
            log.warning(
                "rejected %s %s: agent token missing or wrong", request.method, request.path
            )
            return _unauthorized()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


# -- who is waiting -----------------------------------------------------------------------------


class Bridge(Protocol):
    """Calls the app itself places (the browser phone) and can put through to an agent."""

    def bridgeable(self, call_sid: str) -> bool:
        """Whether ``call_sid`` is such a call, waiting in a queue."""
        ...

    def bridge(self, call_sid: str, queue: str) -> bool:
        """An agent takes ``call_sid`` from ``queue``; False when it could not be taken."""
        ...


def _bridge() -> Bridge | None:
    found: Bridge | None = current_app.extensions.get(BRIDGE)
    return found


@dataclass(frozen=True)
class Waiting:
    """One waiting caller as an agent sees them."""

    handoff: Handoff
    caller: str  # masked
    lang: str | None
    name_en: str | None
    waited_s: int
    steps: tuple[str, ...] = ()  # steps_tried, read as the flow's labels
    can_pickup: bool = False  # the page can bridge it (a browser phone call)

    def as_json(self) -> dict[str, Any]:
        h = self.handoff
        return {
            "call_sid": h.call_sid,
            "queue": h.queue,
            "priority": h.priority,
            "waiting_since": h.enqueued_at.isoformat(),
            "waited_s": self.waited_s,
            "caller": self.caller,
            "lang": self.lang,
            "verified": h.verified,
            "account_id": h.account_id,
            "name": h.caller_name,
            "name_en": self.name_en,
            "issue": h.issue,
            "steps_tried": list(h.steps_tried),
            "steps": list(self.steps),
            "reason": h.reason,
            "can_pickup": self.can_pickup,
        }


def waiting_callers() -> list[Waiting]:
    """The waiting callers, most urgent first, then longest waiting first."""
    rt = runtime()
    recorder = rt.records
    now = rt.services.clock.now()
    flow = rt.flows[rt.flow_name].flow
    bridge = _bridge()
    found: list[Waiting] = []
    for handoff in recorder.waiting():
        record = recorder.record(handoff.call_sid)
        found.append(
            Waiting(
                handoff=handoff,
                caller=mask_phone(record.caller) if record else "",
                lang=record.lang if record else None,
                name_en=_english_name(handoff.account_id),
                waited_s=_seconds_between(handoff.enqueued_at, now),
                steps=tuple(readable_step(flow, step) for step in handoff.steps_tried),
                can_pickup=bridge is not None and bridge.bridgeable(handoff.call_sid),
            )
        )
    return found


def readable_step(flow: Flow, step: str, lang: str = "en-US") -> str:
    """A step a caller tried, as an agent reads it: the label of the menu option that leads to
    that state, or of that issue; a state no option names by its name in words. Steps the
    hotline wrote in words (``protective freeze applied``) stay as they are."""
    for state in flow.states.values():
        for option in state.options:
            if option.goto == step and option.label:
                return _in(option.label, lang)
    if step in flow.issues:
        return _in(flow.issues[step].label, lang)
    return step.replace("_", " ")


def _in(text: Any, lang: str) -> str:
    return str(text.get(lang) or next(iter(text.values())))


@dataclass(frozen=True)
class QueueTotal:
    """One queue on the agent page: how many wait, how many of them urgent, the longest."""

    queue: str
    waiting: int
    urgent: int
    longest_s: int


def queue_totals(callers: list[Waiting]) -> list[QueueTotal]:
    """Totals per queue of the flow (every queue, empty ones too), by name."""
    rt = runtime()
    names = sorted(set(rt.flows[rt.flow_name].flow.queues) | {w.handoff.queue for w in callers})
    totals = []
    for name in names:
        here = [w for w in callers if w.handoff.queue == name]
        totals.append(
            QueueTotal(
                queue=name,
                waiting=len(here),
                urgent=sum(w.handoff.priority > 0 for w in here),
                longest_s=max((w.waited_s for w in here), default=0),
            )
        )
    return totals


def _english_name(account_id: int | None) -> str | None:
    if account_id is None:
        return None
    try:
        return runtime().services.wallet.account(account_id).name_en
    except Exception:  # the page must still show the caller
        log.exception("agent view: account %s could not be read", account_id)
        return None


def _seconds_between(since: datetime, now: datetime) -> int:
    return max(0, int((now - since).total_seconds()))


@bp.get("/queue")
@for_people
def queue_json() -> Response:
    return jsonify([w.as_json() for w in waiting_callers()])


@bp.get("/")
@bp.get("/queue.html")
@for_people
def queue_page() -> Response:
    # Jinja autoescapes every value in an .html template: names cannot inject HTML.
    callers = waiting_callers()
    body = render_template(
        "agents.html",
        callers=callers,
        totals=queue_totals(callers),
        refresh=REFRESH_SECONDS,
        bridging=_bridge() is not None,
    )
    return Response(body, mimetype="text/html")


@bp.post("/answer")
@for_people
def answer() -> Response:
    """The page's pick-up button: bridge a browser phone call waiting in a queue."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _json_error('send JSON: {"call_sid": ..., "queue": ...}', 400)
    sid, queue = str(body.get("call_sid", "")), str(body.get("queue", ""))
    bridge = _bridge()
    if bridge is None or not bridge.bridgeable(sid):
        return _json_error(
            f"call {sid or '(none)'} is not a browser phone call waiting in a queue: take real "
            "callers with your phone's pickup URL, /agent/pickup?queue=<queue>",
            409,
        )
    if not bridge.bridge(sid, queue):
        return _json_error(f"call {sid} could not be taken from {queue!r}", 409)
    log.info("agent page: picked up %s from %s", sid, queue)
    return jsonify({"bridged": sid, "queue": queue})


def _json_error(message: str, status: int) -> Response:
    reply = jsonify({"error": message})
    reply.status_code = status
    return reply


# -- taking a caller ----------------------------------------------------------------------------


def _twiml(body: str) -> Response:
    return Response(body, status=200, mimetype="text/xml")


@bp.route("/pickup", methods=["GET", "POST"])
@for_twilio
def pickup() -> Response:
    """TwiML for an agent's phone: take the caller at the front of ``?queue=``."""
    rt = runtime()
    queues = rt.flows[rt.flow_name].flow.queues
    name = request.args.get("queue", "")
    if name not in queues:  # the flow's names only: no control character reaches the TwiML
        log.warning("agent pickup: no queue %r", name)
        notice = NO_SUCH_QUEUE.format(
            queue=repr(name) if name else "(none)",
            flow=rt.flow_name,
            queues=", ".join(sorted(queues)),
        )
        return Response(notice, status=400, mimetype="text/plain")
    # Twilio fetches the connecting URL without headers: pass on a token that came in the URL.
    token = request.args.get("token")
    connecting = (
        url_for("agents.connecting", token=token) if token else url_for("agents.connecting")
    )
    return _twiml(render.render_pickup(_next_queue(rt, name), connecting))


def _next_queue(rt: Any, name: str) -> str:
    """The Twilio queue an agent of ``name`` takes from: its priority queue
    (``<name>-priority``, where stolen-account callers wait) while anyone waits there."""
    urgent = [h for h in rt.records.waiting() if h.queue == name and h.priority > 0]
    return f"{name}-priority" if urgent else name


@bp.post("/connecting")
@for_twilio
def connecting() -> Response:
    """Run on the caller's leg as an agent dequeues them: a word of warning, then the bridge."""
    rt = runtime()
    sid = request.values.get("CallSid", "")
    lang = rt.flows[rt.flow_name].flow.default_language
    try:
        if sid:
            rt.records.handoff_status(sid, "bridged")
            session = rt.store.load(sid)
            if session is not None:
                lang = session.lang
    except Exception:  # the caller is being bridged whatever happens here
        log.exception("call %s: could not mark the handoff bridged", sid)
    log.info("call %s: dequeued by agent leg %s", sid, request.values.get("DequeingCallSid", "?"))
    said = rt.voices.announcements.connecting_in(lang)  # the flow's phrases.connecting
    return _twiml(render.render_connecting(said, rt.voices))
