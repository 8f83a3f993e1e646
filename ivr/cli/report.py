"""``ivr report``: what callers do, from the call records, as a table, JSON or CSV.

Owns the command line of the report: reading ``--since``/``--until``/``--flow`` and printing
``ivr.stores.reports`` (which does the counting) in three formats: a table for people, the
JSON document the dashboard also serves (``/dashboard/data``), and CSV in long form (one
figure a line: ``split,group,figure,value``) for a spreadsheet. Every slip (a bad date, an
empty period) is a ``CliError`` that says what to do next.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from typing import Any

import click
from flask import Flask

from ivr.cli.context import CliContext
from ivr.cli.errors import start_up_errors
from ivr.errors import CliError
from ivr.stores.reports import Report
from ivr.web.app import create_app
from ivr.web.dashboard import report_of
from ivr.web.runtime import Runtime

SPLIT_TITLES = {"issue": "issue", "lang": "language", "version": "flow version"}


@click.command()
@click.option("--since", help="From this day or time (2026-11-23 or 2026-11-23T09:00).")
@click.option("--until", help="To this day (included) or time (excluded).")
@click.option("--flow", help="Only the calls of this flow (default: every flow).")
@click.option(
    "--format", "format_", type=click.Choice(["table", "json", "csv"]), default="table",
    show_default=True, help="Output format.",
)  # fmt: skip
@click.pass_obj
def report(
    cli: CliContext, since: str | None, until: str | None, flow: str | None, format_: str
) -> None:
    """What callers do: outcomes, containment, drop-off by state, abandonment, times to an
    agent, reprompts, speech against keys, survey scores; per issue, language and flow
    version. Read from the call records (fill them with `ivr demo calls`)."""
    with start_up_errors():
        app: Flask = create_app(settings=cli.settings)
    runtime: Runtime = app.extensions["ivr"]
    found = read_report(runtime, since, until, flow)
    if found.total.calls == 0:
        raise CliError(
            f"no calls in the records{_described(found)}",
            "widen --since/--until, or place a demo day: `ivr demo calls --day 2026-11-23`",
        )
    if format_ == "json":
        click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))
    elif format_ == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["split", "group", "figure", "value"])
        writer.writerows(csv_rows(found.as_json()))
    else:
        for line in table(found):
            click.echo(line)


def read_report(runtime: Runtime, since: str | None, until: str | None, flow: str | None) -> Report:
    """The report the dashboard shows for the same filters; a filter that does not read is a
    ``CliError``."""
    try:
        return report_of(runtime, since, until, flow)
    except ValueError as exc:
        raise CliError(str(exc), "write --since 2026-11-23 --until 2026-11-29") from None


# -- CSV: one figure a line ------------------------------------------------------------------


def csv_rows(document: dict[str, Any]) -> Iterator[list[Any]]:
    """``split, group, figure, value`` for every figure of the document."""
    whole = {k: v for k, v in document.items() if k not in {"by", "filters", "timezone"}}
    for figure, value in _flat(whole):
        yield ["all", "all", figure, value]
    for split, groups in document["by"].items():
        for group, figures in groups.items():
            for figure, value in _flat(figures):
                yield [split, group, figure, value]


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flat(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            name = inner.get("state") or inner.get("start") if isinstance(inner, dict) else None
            if isinstance(inner, dict):
                inner = {k: v for k, v in inner.items() if k not in {"state", "start"}}
            yield from _flat(inner, f"{prefix}.{name if name else f'{index:02d}'}")
    else:
        yield prefix, "" if value is None else value


# -- the table --------------------------------------------------------------------------------


def _described(found: Report) -> str:
    f = found.filters
    parts = []
    if f.since is not None:
        parts.append(f"from {f.since.isoformat()}")
    if f.until is not None:
        parts.append(f"before {f.until.isoformat()}")
    if f.flow is not None:
        parts.append(f"of flow {f.flow}")
    return (" " + " ".join(parts)) if parts else ""


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def table(found: Report) -> Iterator[str]:
    """The report for people: the figures, drop-off by state, then each split."""
    doc = found.as_json()
    n = doc["calls"]
    outcomes = doc["outcomes"]
    ab = doc["abandonment"]
    yield f"Calls{_described(found)} ({found.timezone}): {n}"
    for name, label in (
        ("self_served", "self-served"),
        ("agent", "to an agent"),
        ("abandoned", "hung up in the menus"),
        ("error", "error"),
        ("open", "not over yet"),
    ):
        yield f"  {label:<22}{outcomes[name]:>7}  {_pct(outcomes[name] / n if n else None):>6}"
    yield (
        f"  containment: {doc['contained']} self-served with no repeat call within 24 h "
        f"({_pct(doc['containment'])} of calls)"
    )
    yield (
        f"  abandonment: {ab['in_ivr']} in the menus ({_pct(ab['in_ivr_share'])} of calls), "
        f"{ab['in_queue']} in the queue ({_pct(ab['in_queue_share'])} of {ab['queued']} queued); "
        f"{ab['answered']} answered, {ab['left_queue']} left for a callback or voicemail"
    )
    for key, label in (("time_to_agent_s", "time to agent"), ("time_in_queue_s", "time in queue")):
        t = doc[key]
        yield (
            f"  {label}: median {_secs(t['median'])}, p90 {_secs(t['p90'])} "
            f"({t['calls']} answered calls)"
        )
    said = doc["input"]
    yield (
        f"  answers: {said['keys']} by keys, {said['speech']} by speech "
        f"({_pct(said['speech_share'])} spoken)"
    )
    survey = doc["survey"]
    scores = "  ".join(f"{score}: {count}" for score, count in survey["scores"].items())
    mean = "-" if survey["mean"] is None else f"{survey['mean']:.2f}"
    yield f"  survey: {survey['answers']} answers, mean {mean} of 5 ({scores})"
    yield ""
    yield "Where callers hang up, press 0, and are asked again"
    yield (
        f"  {'state':<24}{'entered':>8}{'hung up':>9}{'drop-off':>10}{'pressed 0':>10}"
        f"{'answers':>9}{'no-match':>9}{'no-input':>9}{'reprompts':>10}"
    )
    for s in doc["states"]:
        yield (
            f"  {s['state']:<24}{s['entered']:>8}{s['hung_up']:>9}{_pct(s['drop_off']):>10}"
            f"{s['pressed_0']:>10}{s['answers']:>9}{s['no_match']:>9}{s['no_input']:>9}"
            f"{_pct(s['reprompt_share']):>10}"
        )
    for split, groups in doc["by"].items():
        yield ""
        yield f"By {SPLIT_TITLES[split]}"
        yield (
            f"  {'':<24}{'calls':>7}{'self-srv':>9}{'agent':>7}{'hung up':>8}{'contain':>9}"
            f"{'in IVR':>8}{'in queue':>9}{'to agent':>9}{'survey':>7}"
        )
        for group, g in groups.items():
            o = g["outcomes"]
            mean = "-" if g["survey"]["mean"] is None else f"{g['survey']['mean']:.2f}"
            yield (
                f"  {group[:23]:<24}{g['calls']:>7}{o['self_served']:>9}{o['agent']:>7}"
                f"{o['abandoned']:>8}{_pct(g['containment']):>9}"
                f"{_pct(g['abandonment']['in_ivr_share']):>8}"
                f"{_pct(g['abandonment']['in_queue_share']):>9}"
                f"{_secs(g['time_to_agent_s']['median']):>9}{mean:>7}"
            )
