"""``/phone``: the browser phone's page and its JSON API, over ``ivr.testing.console``.

Owns the ``phone`` blueprint and ``install_phone``, which ``ivr serve`` calls (like
``install_demo_control``): it keeps one ``PhoneCalls`` for the app and makes it the agent
page's ``Bridge`` (``ivr.web.agents.BRIDGE``), so an agent can pick a queued browser call up.

- ``GET /phone/``: the page (``ivr/web/templates/phone.html``, ``static/phone.js``,
  ``static/phone.css``; the diagram is drawn by the vendored mermaid).
- ``GET /phone/api/setup``: the demo callers, the flow's languages, its diagram (Mermaid
  source from ``ivr.engine.diagram``, the data ``ivr graph`` draws), whether a time may be
  chosen.
- ``POST /phone/api/calls`` ``{"from", "lang", "at"}``: place a call (``at`` without an
  offset is the hotline's wall-clock time, in its flow's timezone); ``GET
  /phone/api/calls/<id>?since=n``: its turns from ``n``, state, path, outcome, effects;
  ``POST /phone/api/calls/<id>/<action>`` ``{"value"}``: press, say, silence, record, hold,
  dial, hangup; ``GET /phone/api/calls/<id>/script``: the call as a YAML call script.
- ``GET /phone/api/callbacks?phone=``: the callbacks booked for that number, what rings it,
  the dialer's time and when the next one is due; ``POST /phone/api/callbacks/run``
  ``{"phone", "advance": seconds, "until_due": true}``: let time pass, run the dialer once;
  ``POST /phone/api/ringing/<CallSid>/<how>``: answer, decline, busy, no-answer or machine
  (the call, as ``/phone/api/calls`` describes it).

Access is the agent pages' (``for_people``): ``IVR_AGENT_TOKEN`` when set; otherwise only a
local request to a server that is not public. Every POST takes JSON only, so another site
cannot post it from a form. A call the page cannot make (ended, not waiting for that) is a
409 saying why; nothing here knows the flow's logic.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request

from ivr.engine.diagram import flow_diagram
from ivr.engine.diagram import to_mermaid
from ivr.errors import SimulationError
from ivr.flow.names import INCOMING
from ivr.testing.console import PICK_UPS
from ivr.testing.console import CallTimeClock
from ivr.testing.console import PhoneCall
from ivr.testing.console import PhoneCalls
from ivr.testing.console import call_json
from ivr.testing.console import callback_json
from ivr.testing.console import ringing_json
from ivr.testing.console import saved_script
from ivr.web.agents import BRIDGE
from ivr.web.agents import for_people

EXTENSION = "ivr.phone"
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
ACTIONS = ("press", "say", "silence", "record", "hold", "dial", "hangup")

bp = Blueprint("phone", __name__, url_prefix="/phone", template_folder=str(TEMPLATES))


class _Bridge:
    """The agent page's way to a browser call (``ivr.web.agents.Bridge``)."""

    def __init__(self, calls: PhoneCalls) -> None:
        self.calls = calls

    def bridgeable(self, call_sid: str) -> bool:
        return self.calls.waiting(call_sid)

    def bridge(self, call_sid: str, queue: str) -> bool:
        return self.calls.bridge(call_sid, queue)


def browser_mermaid(source: str) -> str:
    """``ivr graph``'s Mermaid, as the vendored mermaid 11 parses it: its class for where the
    call comes in is named ``call``, a Mermaid keyword (click callbacks), which fails the whole
    diagram; here it is ``incoming``."""
    return source.replace("    classDef call ", "    classDef incoming ").replace(
        f"    class {INCOMING} call\n", f"    class {INCOMING} incoming\n"
    )


def install_phone(app: Flask, clock: CallTimeClock | None = None) -> PhoneCalls:
    """Serve the browser phone on ``app``. With ``clock`` (the clock ``app`` was built on,
    directly or inside a ``DemoClock``), a call may be placed at a chosen time."""
    calls = PhoneCalls(app, clock=clock)
    app.extensions[EXTENSION] = calls
    app.extensions[BRIDGE] = _Bridge(calls)
    app.register_blueprint(bp)
    return calls


def _calls() -> PhoneCalls:
    calls: PhoneCalls = current_app.extensions[EXTENSION]
    return calls


def _refusal(message: str, status: int) -> Response:
    reply = jsonify({"error": message})
    reply.status_code = status
    return reply


def _json_body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.get("/")
@for_people
def page() -> Response:
    return Response(render_template("phone.html"), mimetype="text/html")


@bp.get("/api/setup")
@for_people
def setup() -> Response:
    calls = _calls()
    compiled = calls.runtime.flows[calls.runtime.flow_name]
    flow = compiled.flow
    return jsonify(
        {
            "flow": flow.name,
            "languages": list(flow.languages),
            "callers": [
                {"phone": c.phone, "name": c.name, "name_en": c.name_en, "status": c.status}
                for c in calls.callers()
            ],
            "diagram": browser_mermaid(to_mermaid(flow_diagram(compiled))),
            # The other flows a browser call may run (a callback's), by name.
            "diagrams": {
                name: browser_mermaid(to_mermaid(flow_diagram(other)))
                for name, other in calls.runtime.flows.items()
                if name != calls.runtime.flow_name
            },
            "states": sorted(flow.states),
            "can_choose_time": calls.clock is not None,
            # A time of call is the hotline's wall-clock time, in its own timezone.
            "timezone": flow.hours.timezone.key,
            "now": calls.runtime.services.clock.now()
            .astimezone(flow.hours.timezone)
            .isoformat(timespec="minutes"),
        }
    )


@bp.post("/api/calls")
@for_people
def dial() -> Response:
    body = _json_body()
    if body is None:
        return _refusal('send JSON: {"from": "+8613800000001", "lang": "zh-CN"}', 400)
    at = None
    if body.get("at"):
        try:
            at = datetime.fromisoformat(str(body["at"]))
        except ValueError:
            return _refusal(f"at={body['at']!r} is not an ISO 8601 time", 400)
        if at.tzinfo is None:  # a wall-clock time where the hotline is
            at = at.replace(tzinfo=_calls().flow.hours.timezone)
    try:
        phone = _calls().dial(
            str(body.get("from", "")).strip(), lang=body.get("lang") or None, at=at
        )
    except SimulationError as exc:
        return _refusal(str(exc), 400)
    reply = jsonify(call_json(phone))
    reply.status_code = 201
    return reply


def _call(call_id: str) -> PhoneCall | Response:
    phone = _calls().get(call_id)
    if phone is None:
        return _refusal(f"no call {call_id!r}: it ended long ago, or the server restarted", 404)
    return phone


@bp.get("/api/calls/<call_id>")
@for_people
def show(call_id: str) -> Response:
    phone = _call(call_id)
    if isinstance(phone, Response):
        return phone
    since = request.args.get("since", "0")
    with phone.lock:
        return jsonify(call_json(phone, int(since) if since.isdigit() else 0))


@bp.post("/api/calls/<call_id>/<action>")
@for_people
def act(call_id: str, action: str) -> Response:
    phone = _call(call_id)
    if isinstance(phone, Response):
        return phone
    body = _json_body()
    if body is None:
        return _refusal('send JSON, such as {"value": "1"}', 400)
    if action not in ACTIONS:
        return _refusal(f"no action {action!r}; the phone can: {', '.join(ACTIONS)}", 404)
    since = body.get("since", 0)
    try:
        _calls().act(call_id, action, str(body.get("value", "")))
    except SimulationError as exc:
        return _refusal(str(exc), 409)
    with phone.lock:
        return jsonify(call_json(phone, since if isinstance(since, int) else 0))


@bp.get("/api/calls/<call_id>/script")
@for_people
def script(call_id: str) -> Response:
    phone = _call(call_id)
    if isinstance(phone, Response):
        return phone
    if phone.callback is not None:
        return _refusal("a callback is saved with the call that booked it (callback:)", 409)
    with phone.lock:
        text = saved_script(phone, _calls().flow)
    reply = Response(text, mimetype="application/yaml")
    reply.headers["Content-Disposition"] = f'attachment; filename="phone_{phone.id}.yaml"'
    return reply


# -- callbacks ringing the page --------------------------------------------------------------------


def _callbacks_of(phone: str) -> Response:
    calls = _calls()
    zone = calls.flow.hours.timezone
    ringing = calls.ringing(phone)  # first: what rang out is an attempt in the list
    due = calls.next_due(phone)
    return jsonify(
        {
            "phone": phone,
            "callbacks": [callback_json(r, a, zone) for r, a in calls.callbacks(phone)],
            "ringing": [ringing_json(r) for r in ringing],
            "dial_time": calls.dial_clock.now().astimezone(zone).isoformat(timespec="minutes"),
            "next_due": None if due is None else due.astimezone(zone).isoformat(),
            "can_move_time": calls.clock is not None,
        }
    )


@bp.get("/api/callbacks")
@for_people
def callbacks() -> Response:
    return _callbacks_of(request.args.get("phone", "").strip())


@bp.post("/api/callbacks/run")
@for_people
def run_dialer() -> Response:
    body = _json_body()
    if body is None:
        return _refusal('send JSON: {"phone": "+8613800000001", "until_due": true}', 400)
    phone = str(body.get("phone", "")).strip()
    advance = body.get("advance", 0)
    if not isinstance(advance, int | float) or isinstance(advance, bool):
        return _refusal(f"advance={advance!r} is not a number of seconds", 400)
    try:
        _calls().run_dialer(phone, advance=float(advance), until_due=bool(body.get("until_due")))
    except SimulationError as exc:
        return _refusal(str(exc), 409)
    return _callbacks_of(phone)


@bp.post("/api/ringing/<call_sid>/<how>")
@for_people
def pick_up(call_sid: str, how: str) -> Response:
    if how not in PICK_UPS:
        return _refusal(f"no way {how!r}; a ringing phone can: {', '.join(PICK_UPS)}", 404)
    if _json_body() is None:
        return _refusal("send JSON, such as {}", 400)
    try:
        phone = _calls().pick_up(call_sid, how)
    except LookupError:
        return _refusal(f"nothing rings as {call_sid!r}: it was answered or declined", 404)
    except SimulationError as exc:  # pragma: no cover - the app's webhooks failing
        return _refusal(str(exc), 409)
    reply = jsonify(call_json(phone))
    reply.status_code = 201
    return reply
