"""``/dashboard``: what callers do, as charts and tables, from the same figures as ``ivr report``.

Owns the dashboard blueprint:

- ``GET /dashboard/``: the page. Filters (``since``, ``until``, ``flow``) in a form; with
  neither ``since`` nor ``until``, the last ``DEFAULT_DAYS`` days of records, to the day of
  the latest call in the flow's timezone (``period=all``: every record, as ``ivr report``
  reads them unfiltered); the
  figures as tables (rendered here, so they read without JavaScript and are the charts' text
  alternative); the flow diagram with each state filled by its drop-off (a heat map, drawn
  by the vendored mermaid); charts drawn by the vendored ECharts
  (``static/vendor/README.md``): from the greeting to each outcome, calls by hour,
  containment and abandonment over time. ``static/dashboard.{js,css}`` draw and style it.
- ``GET /dashboard/data``: the report as JSON, the very document ``ivr report --format
  json`` prints for the same filters (``report_of`` makes both); no default period.

Access: the agent pages' guard (``ivr.web.agents.for_people``): ``IVR_AGENT_TOKEN`` when it
is set, and a public server never serves the figures without it. A bad filter is a 400 that
says how to write it. Reads the call records through ``ivr.stores.reports``; no SQL here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import render_template
from flask import request

from ivr.engine.compile import CompiledFlow
from ivr.engine.diagram import Diagram
from ivr.engine.diagram import flow_diagram
from ivr.engine.diagram import to_mermaid
from ivr.stores.reports import Filters
from ivr.stores.reports import Report
from ivr.stores.reports import latest_start
from ivr.stores.reports import period
from ivr.stores.reports import report
from ivr.web.agents import for_people
from ivr.web.runtime import Runtime
from ivr.web.runtime import runtime

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates")

# Drop-off shares → fill colours (light to dark red) and the text colour readable on each.
HEAT = (
    (0.0, "#f8fafc", "#0f172a"),
    (0.01, "#fee2e2", "#0f172a"),
    (0.03, "#fca5a5", "#0f172a"),
    (0.06, "#ef4444", "#ffffff"),
    (0.10, "#991b1b", "#ffffff"),
)
_CALL_CLASS = re.compile(r"^(\s*classDef|\s*class \S+) call\b", re.MULTILINE)
LANGUAGES = {"zh-CN": "中文", "en-US": "English"}
#: The page's period when none is asked for: this many days, to the latest call's day. Reading
#: every record takes seconds once there are months of them (bench/report.py).
DEFAULT_DAYS = 7


def shown_flow(rt: Runtime, flow: str | None) -> CompiledFlow:
    """The flow whose timezone and diagram the figures use: ``flow``, or the answering flow
    when ``flow`` is not given or not loaded."""
    return rt.flows.get(flow or rt.flow_name) or rt.flows[rt.flow_name]


def report_of(rt: Runtime, since: str | None, until: str | None, flow: str | None) -> Report:
    """The report of ``rt``'s records: hours in the flow's timezone (``shown_flow``). A
    ValueError names a filter that does not read."""
    zone = shown_flow(rt, flow).flow.hours.timezone
    start, end = period(since, until, zone)
    return report(rt.database, Filters(start, end, flow or None), zone)


def _asked() -> tuple[str | None, str | None, str | None]:
    args = request.args
    return args.get("since") or None, args.get("until") or None, args.get("flow") or None


def _bad_filter(problem: ValueError) -> Response:
    return Response(
        f"Bad request: {problem}. Write since and until as 2026-11-23 or 2026-11-23T09:00.\n",
        status=400,
        mimetype="text/plain",
    )


@bp.get("/data")
@for_people
def data() -> Response:
    try:
        found = report_of(runtime(), *_asked())
    except ValueError as exc:
        return _bad_filter(exc)
    return jsonify(found.as_json())


def default_period(rt: Runtime, flow: str | None) -> tuple[str, str]:
    """The page's ``since`` and ``until`` when neither is asked for, as days in the flow's
    timezone: the last ``DEFAULT_DAYS`` days to the latest call's day (today on a live line;
    a demo day placed in the past shows at once), or to today when there is none."""
    last = latest_start(rt.database, flow) or rt.services.clock.now()
    end = last.astimezone(shown_flow(rt, flow).flow.hours.timezone).date()
    return (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), end.isoformat()


@bp.get("/")
@for_people
def page() -> Response:
    rt = runtime()
    since, until, flow = _asked()
    everything = request.args.get("period") == "all" and since is None and until is None
    default = since is None and until is None and not everything
    if default:
        since, until = default_period(rt, flow)
    try:
        found = report_of(rt, since, until, flow)
    except ValueError as exc:
        return _bad_filter(exc)
    document = found.as_json()
    shown = shown_flow(rt, flow)
    body = render_template(
        "dashboard.html",
        doc=document,
        asked={"since": since or "", "until": until or "", "flow": flow or ""},
        period="default" if default else "all" if everything else "asked",
        default_days=DEFAULT_DAYS,
        flows=sorted(rt.flows),
        token=request.args.get("token", ""),
        heat_map=heat_map(shown, document),
        heat=HEAT,
        issue_labels={
            key: issue.label.get("zh-CN", key) for key, issue in shown.flow.issues.items()
        },
        languages=LANGUAGES,
        split_titles={"issue": "issue", "lang": "language", "version": "flow version"},
    )
    return Response(body, mimetype="text/html")


def heat_map(compiled: Any, document: dict[str, Any]) -> str:
    """The flow's Mermaid diagram, each state filled by the share of callers who hung up
    there (``HEAT``); states no call entered keep their own look."""
    entered = {s["state"] for s in document["states"] if s["entered"]}
    whole = flow_diagram(compiled)
    # Only the states callers reached (and the call coming in): the whole flow is too wide
    # to read on a page, and a state nobody entered has no drop-off to show.
    kept = {node.id for node in whole.nodes if node.id in entered or node.type == "call"}
    diagram = Diagram(
        whole.name,
        tuple(node for node in whole.nodes if node.id in kept),
        tuple(e for e in whole.edges if e.source in kept and e.target in kept),
    )
    source = to_mermaid(diagram).rstrip("\n")
    # ``call`` is a word of mermaid's grammar (click ... call fn()): as a class name it breaks
    # the parser in the browser, so the incoming call's class is renamed here.
    source = _CALL_CLASS.sub(r"\1 incoming", source)
    # top to bottom: a page is taller than it is wide, and the whole flow fits its width
    source = source.replace("\nflowchart LR\n", "\nflowchart TD\n", 1)
    lines = [source]
    for s in document["states"]:
        if s["state"] not in kept:
            continue
        fill, text = _heat(s["drop_off"] or 0.0)
        lines.append(f"    style {s['state']} fill:{fill},color:{text},stroke:#334155")
    return "\n".join(lines) + "\n"


def _heat(share: float) -> tuple[str, str]:
    colours = [(fill, text) for floor, fill, text in HEAT if share >= floor]
    return colours[-1]
