"""The agent's side: who is waiting, taking the next caller, and the moment of connection.

Owns the ``/agent`` blueprint (part of the web shell, so it may use Flask):

- ``GET /agent/queue``: the waiting callers as JSON; ``GET /agent/`` (``/agent/queue.html``)
  the same as a page that refreshes itself every few seconds. Phone numbers are masked;
  PINs are never stored, so never shown.
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
from typing import TypeVar

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import render_template_string
from flask import request
from flask import url_for

from ivr.phones import mask_phone
from ivr.settings import Settings
from ivr.stores.records import Handoff
from ivr.telephony import render
from ivr.telephony.signatures import well_formed
from ivr.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("agents", __name__, url_prefix="/agent")

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


@dataclass(frozen=True)
class Waiting:
    """One waiting caller as an agent sees them."""

    handoff: Handoff
    caller: str  # masked
    lang: str | None
    name_en: str | None
    waited_s: int

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
            "reason": h.reason,
        }


def waiting_callers() -> list[Waiting]:
    """The waiting callers, most urgent first, then longest waiting first."""
    rt = runtime()
    recorder = rt.records
    now = rt.services.clock.now()
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
            )
        )
    return found


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


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>Waiting callers ({{ callers|length }})</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ccc; padding: .4rem .6rem; text-align: left;
  vertical-align: top; }
.urgent { background: #fde8e8; }
</style>
</head>
<body>
<h1>Waiting callers ({{ callers|length }})</h1>
{% if callers %}
<table>
<thead><tr><th>Waited</th><th>Queue</th><th>Priority</th><th>Caller</th><th>Name</th>
<th>Verified</th><th>Language</th><th>Issue</th><th>Tried</th><th>Reason</th></tr></thead>
<tbody>
{% for w in callers %}
<tr{% if w.handoff.priority > 0 %} class="urgent"{% endif %}>
<td>{{ '%d:%02d' % (w.waited_s // 60, w.waited_s % 60) }}</td>
<td>{{ w.handoff.queue }}</td>
<td>{{ w.handoff.priority }}</td>
<td>{{ w.caller }}</td>
<td>{{ w.handoff.caller_name or '—' }}{% if w.name_en %} ({{ w.name_en }}){% endif %}</td>
<td>{{ 'yes' if w.handoff.verified else 'no' }}</td>
<td>{{ w.lang or '—' }}</td>
<td>{{ w.handoff.issue or '—' }}</td>
<td>{{ w.handoff.steps_tried|join(', ') or '—' }}</td>
<td>{{ w.handoff.reason or '—' }}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>Nobody is waiting.</p>
{% endif %}
</body>
</html>
"""


@bp.get("/")
@bp.get("/queue.html")
@for_people
def queue_page() -> Response:
    # render_template_string autoescapes every value: names and reasons cannot inject HTML.
    body = render_template_string(PAGE, callers=waiting_callers(), refresh=REFRESH_SECONDS)
    return Response(body, mimetype="text/html")


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
