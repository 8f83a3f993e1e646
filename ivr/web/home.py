"""``GET /``: what a person who opens the server's address in a browser finds.

Owns the front page: the flow that answers, and where to go next (``/health``, the agents'
view at ``/agent/``, the browser phone at ``/phone/`` where ``ivr serve`` installed it, the
webhook URL for Twilio, the README). JSON for programs, a short page
for browsers. Reads the ``Runtime``; no call logic.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import render_template_string
from flask import request

from ivr.web.runtime import runtime

DOCS_URL = "README.md in the project folder"

bp = Blueprint("home", __name__)

_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>ivr: {{ flow }}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<h1>ivr is answering with flow “{{ flow }}”</h1>
<ul>
  <li><a href="/health">/health</a>: is it up</li>
  <li><a href="/agent/">/agent/</a>: callers waiting for an agent</li>
  <li><a href="/dashboard/">/dashboard/</a>: what callers do (outcomes, drop-off, waits)</li>
  {% if phone %}<li><a href="/phone/">/phone/</a>: call the hotline from this browser</li>
  {% endif %}
  <li>point your Twilio number's voice webhook at <code>{{ webhook }}</code></li>
  <li>docs: {{ docs }}</li>
</ul>
"""


@bp.get("/")
def front_page() -> Response | str:
    rt = runtime()
    base = rt.settings.public_url or request.host_url.rstrip("/")
    facts = {
        "service": "ivr",
        "flow": rt.flow_name,
        "health": "/health",
        "agents": "/agent/",
        "dashboard": "/dashboard/",
        "webhook": f"{base}/voice",
        "docs": DOCS_URL,
    }
    phone = "phone" in current_app.blueprints  # the browser phone: ``ivr serve`` installs it
    if phone:
        facts["phone"] = "/phone/"
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return render_template_string(
            _PAGE, flow=rt.flow_name, webhook=facts["webhook"], docs=DOCS_URL, phone=phone
        )
    return jsonify(facts)


# A telephone receiver: browsers ask for an icon, and a 404 would be logged in their console.
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#1d4ed8" '
    'd="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 '
    "0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 "
    '3.57a1 1 0 0 1-.25 1z"/></svg>'
)


@bp.get("/favicon.svg")
@bp.get("/favicon.ico")
def favicon() -> Response:
    answer = Response(_ICON, mimetype="image/svg+xml")
    answer.cache_control.max_age = 86400
    return answer
