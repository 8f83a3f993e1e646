"""``ivr capacity`` (agents needed, from the call records) and ``ivr demo calls`` (a day of them).

Owns the command line of capacity planning: reading the period, the target and the what-if
options, and printing the measurement and the plan as a table (with a bar of agents per
hour), JSON or CSV. The work is elsewhere: ``ivr.stores.traffic`` reads the records,
``ivr.planning`` measures and projects, ``ivr.testing.traffic_day`` places a synthetic day of
calls. Every slip (a bad date, an unreadable option, no calls in the period) is a
``CliError`` that says what to do next.
"""

from __future__ import annotations

import csv
import json
import math
import re
import secrets
import sys
from dataclasses import replace
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

import click
from flask import Flask

from ivr.cli.context import CliContext
from ivr.cli.errors import start_up_errors
from ivr.clock import ManualClock
from ivr.errors import CliError
from ivr.errors import SimulationError
from ivr.flow.spec import Flow
from ivr.planning.erlang import Target
from ivr.planning.measure import Figure
from ivr.planning.measure import Measurement
from ivr.planning.measure import measure
from ivr.planning.staffing import HourPlan
from ivr.planning.staffing import WhatIf
from ivr.planning.staffing import plan
from ivr.planning.staffing import target_of
from ivr.stores.traffic import calls_between
from ivr.testing.traffic_day import fill_day
from ivr.web.app import create_app
from ivr.web.runtime import Runtime

_PERCENT = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*%?")
_FACTOR = re.compile(r"(?:[x×*]\s*)?(\d+(?:\.\d+)?)")
DEFAULT_DAYS = 28
# Hours of simulated time per queue-hour for --simulate: about ±0.02 on the service level.
SIMULATED_HOURS = 300.0


@click.command()
@click.option("--from", "from_", help="First day (YYYY-MM-DD, the line's timezone).")
@click.option("--to", "to", help="Last day, included (default: the first day + 27, or today).")
@click.option("--answer-within", type=int, help="Seconds (default: the flow's, else 20).")
@click.option("--target", type=float, help="Share answered in time (default: the flow's, 0.8).")
@click.option("--max-abandon", type=float, help="Highest share who may give up (Erlang A).")
@click.option("--containment", help="What if more callers self-serve: +10% (points of all calls).")
@click.option("--arrivals", help="What if arrivals change: x1.5, ×1.5 or +50%.")
@click.option("--aht", type=float, help="What if every handle time were this many seconds.")
@click.option(
    "--min-calls", default=30, show_default=True, help="Calls an hour's own figure needs."
)
@click.option("--simulate", is_flag=True, help="Check every hour's staffing by simulation.")
@click.option(
    "--format", "format_", type=click.Choice(["table", "json", "csv"]), default="table",
    show_default=True, help="Output format.",
)  # fmt: skip
@click.pass_obj
def capacity(
    cli: CliContext,
    from_: str | None,
    to: str | None,
    answer_within: int | None,
    target: float | None,
    max_abandon: float | None,
    containment: str | None,
    arrivals: str | None,
    aht: float | None,
    min_calls: int,
    simulate: bool,
    format_: str,
) -> None:
    """How many agents each queue needs, hour by hour: measured from the call records,
    projected with Erlang C and Erlang A, optionally checked by simulation."""
    runtime = _runtime(cli)
    flow = runtime.flows[runtime.flow_name].flow
    start, end = _period(from_, to, flow, runtime.services.clock.now())
    what_if = _what_if(containment, arrivals, aht)
    targets = _targets(flow, answer_within, target, max_abandon)
    measured = measure(calls_between(runtime.database, start, end), flow, start, end,
                       min_calls=max(1, min_calls))  # fmt: skip
    if not measured.hours:
        raise CliError(
            f"no caller reached an agent queue from {start.date()} to {end.date() - timedelta(1)}"
            f" ({measured.calls} calls in the records)",
            "pick another period with --from/--to, or make a demo day: "
            "`ivr demo calls --day 2026-11-23`",
        )
    hours = SIMULATED_HOURS if simulate else None
    base = plan(measured, targets, simulate_hours=None if what_if.changes_anything else hours)
    changed = (
        plan(measured, targets, what_if, simulate_hours=hours) if what_if.changes_anything else None
    )
    rows = [_row(p, None if changed is None else changed[i]) for i, p in enumerate(base)]
    if format_ == "json":
        click.echo(json.dumps(_document(measured, what_if, rows), ensure_ascii=False, indent=2))
    elif format_ == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        _table(measured, targets, what_if, base, changed)


@click.command("calls")
@click.option("--day", required=True, help="The day to fill (YYYY-MM-DD, the line's timezone).")
@click.option("--calls", "count", default=300, show_default=True, help="How many calls.")
@click.option("--seed", default=16, show_default=True, help="The same seed, the same day.")
@click.pass_obj
def demo_calls(cli: CliContext, day: str, count: int, seed: int) -> None:
    """Place a synthetic day of calls through the simulator into the records (the configured
    database: IVR_DATABASE_URL): callers of every demo kind, by keys and by speech, some
    hanging up mid-menu or pressing 0, surveys; for `ivr report`, /dashboard and
    `ivr capacity`."""
    when = _date(day, "--day")
    if count < 1:
        raise CliError(f"--calls {count}: a day needs 1 call or more", "give --calls 300")
    clock = ManualClock(datetime.now().astimezone())
    with start_up_errors():
        app = create_app(settings=replace(cli.settings, clock=None), clock=clock)
    runtime: Runtime = app.extensions["ivr"]
    flow = runtime.flows[runtime.flow_name].flow
    try:
        summary = fill_day(
            app, clock, when, count, timezone=flow.hours.timezone, seed=seed,
            first_call=secrets.randbits(48) << 16,
        )  # fmt: skip
    except SimulationError as exc:
        raise CliError(str(exc), "demo calls follow the shipped hotline's menus") from exc
    where = runtime.database.url.render_as_string(hide_password=True)
    click.echo(f"{summary.calls} calls placed on {when} into {where}")
    for name, n in sorted(summary.scenarios.items()):
        click.echo(f"  {name:<22}{n:>5}")
    for queue in sorted(set(summary.answered) | set(summary.gave_up)):
        answered, gave_up = summary.answered.get(queue, 0), summary.gave_up.get(queue, 0)
        click.echo(f"  queue {queue}: {answered} answered, {gave_up} gave up")
    click.echo(f"→ ivr report --since {when} --until {when}")
    click.echo("→ ivr serve, then open http://127.0.0.1:5000/dashboard/ (the same figures)")
    click.echo(f"→ ivr capacity --from {when} --to {when}")


def _runtime(cli: CliContext) -> Runtime:
    with start_up_errors():
        app: Flask = create_app(settings=cli.settings)
    runtime: Runtime = app.extensions["ivr"]
    return runtime


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f"{option} {text!r} is not a date", f"write it as {option} 2026-11-23"
        ) from None


def _period(
    from_: str | None, to: str | None, flow: Flow, now: datetime
) -> tuple[datetime, datetime]:
    """[start, end) in the line's timezone: whole days, the last one included."""
    zone = flow.hours.timezone
    today = now.astimezone(zone).date()
    first = _date(from_, "--from") if from_ else None
    last = _date(to, "--to") if to else None
    if first is None:
        last = last or today
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    elif last is None:
        last = first + timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise CliError(f"--to {last} comes before --from {first}", "swap the two dates")
    start = datetime.combine(first, time(), tzinfo=zone)
    return start, datetime.combine(last + timedelta(days=1), time(), tzinfo=zone)


def _what_if(containment: str | None, arrivals: str | None, aht: float | None) -> WhatIf:
    points = 0.0
    if containment is not None:
        found = _PERCENT.fullmatch(containment.strip())
        if found is None:
            raise CliError(
                f"--containment {containment!r} is not a change in percent",
                "write --containment +10% (ten points more of all calls self-serve)",
            )
        points = float(found.group(1)) / 100
    factor = 1.0
    if arrivals is not None:
        factor = _arrivals_factor(arrivals)
    if aht is not None and not aht > 0:
        raise CliError(f"--aht {aht:g}: a handle time is more than 0 s", "write --aht 300")
    try:
        return WhatIf(points, factor, aht)
    except ValueError as exc:
        raise CliError(str(exc), "see `ivr capacity --help`") from None


def _arrivals_factor(text: str) -> float:
    clean = text.strip()
    if clean.startswith(("+", "-")) and clean.endswith("%"):
        change = _PERCENT.fullmatch(clean)
        if change is not None:
            return 1 + float(change.group(1)) / 100
    factor = _FACTOR.fullmatch(clean)
    if factor is None:
        raise CliError(
            f"--arrivals {text!r} is not a factor",
            "write --arrivals x1.5 (or ×1.5, or +50%)",
        )
    return float(factor.group(1))


def _targets(
    flow: Flow, seconds: int | None, share: float | None, max_abandon: float | None
) -> dict[str, Target]:
    targets = {}
    for name, queue in flow.queues.items():
        goal = target_of(queue.settings.service_level)
        try:
            targets[name] = Target(
                goal.answer_within_s if seconds is None else float(seconds),
                goal.share if share is None else share,
                goal.max_abandon if max_abandon is None else max_abandon,
            )
        except ValueError as exc:
            raise CliError(
                str(exc), "--target and --max-abandon are shares such as 0.8 and 0.05"
            ) from None
    return targets


# --- output ----------------------------------------------------------------------------------


def _row(base: HourPlan, changed: HourPlan | None) -> dict[str, Any]:
    hour, shown = base.traffic, changed or base
    got = shown.projected
    row: dict[str, Any] = {
        "queue": hour.queue,
        "hour": hour.label,
        "queued": hour.queued,
        "calls": hour.calls,
        "share": round(hour.share, 3),
        "calls_per_hour": round(shown.calls_per_hour, 2),
        "handle_time_s": round(shown.handle_time_s, 1),
        "handle_time_calls": hour.handle_time.calls,
        "handle_time_from": hour.handle_time.source,
        "patience_s": None if shown.patience_s is None else round(shown.patience_s, 1),
        "patience_calls": hour.patience.calls,
        "patience_from": hour.patience.source,
        "model": shown.model,
        "agents_erlang_c": shown.erlang_c.agents,
        "agents_erlang_a": None if shown.erlang_a is None else shown.erlang_a.agents,
        "agents": got.agents,
        "service_level": round(got.service_level, 3),
        "asa_s": round(got.asa_s, 1),
        "abandon": round(got.abandon, 3),
        "occupancy": round(got.occupancy, 3),
    }
    if changed is not None:
        row["agents_as_measured"] = base.projected.agents
        row["agents_change"] = got.agents - base.projected.agents
    if shown.simulated is not None:
        row["simulated_service_level"] = round(shown.simulated.service_level, 3)
        row["simulated_abandon"] = round(shown.simulated.abandon, 3)
    return row


def _document(measured: Measurement, what_if: WhatIf, rows: list[dict[str, Any]]) -> Any:
    return {
        "period": {
            "from": measured.start.isoformat(),
            "to": measured.end.isoformat(),
            "timezone": str(measured.timezone),
        },
        "calls": measured.calls,
        "self_served": measured.self_served,
        "reached_queue": measured.reached_queue,
        "what_if": what_if.describe(),
        "queues": {
            name: {
                "handle_time": _figure(measured.handle_times[name]),
                "patience": _figure(measured.patience[name]),
            }
            for name in sorted(measured.handle_times)
        },
        "hours": rows,
    }


def _figure(figure: Figure) -> dict[str, Any]:
    value = None if figure.value is None else round(figure.value, 1)
    return {"seconds": value, "calls": figure.calls, "from": figure.source}


def _table(
    measured: Measurement,
    targets: dict[str, Target],
    what_if: WhatIf,
    base: list[HourPlan],
    changed: list[HourPlan] | None,
) -> None:
    days = (measured.end - measured.start).days
    click.echo(
        f"Measured {measured.start.date()} to {(measured.end - timedelta(1)).date()} "
        f"({days} day{'s' if days != 1 else ''}, {measured.timezone}): {measured.calls} calls, "
        f"{measured.self_served} self-served ({measured.containment:.0%}), "
        f"{measured.reached_queue} reached an agent queue ({measured.queue_share:.0%})"
    )
    if changed is not None:
        click.echo(f"What if: {what_if.describe()}")
    widest = max(p.projected.agents for p in (changed or base)) or 1
    for queue in sorted({p.traffic.queue for p in base}):
        goal = targets[queue]
        limit = "" if goal.max_abandon is None else f", at most {goal.max_abandon:.0%} give up"
        click.echo("")
        click.echo(
            f"{queue}: {goal.share:.0%} answered within {goal.answer_within_s:g} s{limit}; "
            f"handle time {_said(measured.handle_times[queue], 'answered')}, "
            f"patience {_said(measured.patience[queue], 'gave up')}"
        )
        head = "  hour       calls/h share  AHT s (n)  patience (n)   C   A    SL   ASA  aband  occ"
        click.echo(head + ("  sim SL" if (changed or base)[0].simulated else "") +
                   ("  was  Δ" if changed else ""))  # fmt: skip
        for index, hour_plan in enumerate(base):
            if hour_plan.traffic.queue != queue:
                continue
            shown = changed[index] if changed else hour_plan
            click.echo(_line(shown, hour_plan if changed else None, widest))


def _said(figure: Figure, counted: str) -> str:
    if figure.value is None:
        return "unknown (nobody gave up: Erlang C)"
    if figure.source == "flow":
        return f"{figure.value:.0f} s (the flow's handle_time_s: nobody answered yet)"
    return f"{figure.value:.0f} s ({figure.calls} {counted})"


def _line(shown: HourPlan, base: HourPlan | None, widest: int) -> str:
    hour, got = shown.traffic, shown.projected
    patience = "-" if shown.patience_s is None else f"{shown.patience_s:.0f}"
    agents_a = "-" if shown.erlang_a is None else str(shown.erlang_a.agents)
    asa = "∞" if math.isinf(got.asa_s) else f"{got.asa_s:.0f}s"
    text = (
        f"  {hour.label:<10} {shown.calls_per_hour:>6.1f} {hour.share:>5.0%} "
        f"{shown.handle_time_s:>5.0f} ({hour.handle_time.calls:>3}) "
        f"{patience:>5} ({hour.patience.calls:>3})  "
        f"{shown.erlang_c.agents:>3} {agents_a:>3} {got.service_level:>5.0%} {asa:>5} "
        f"{got.abandon:>5.1%} {got.occupancy:>4.0%}"
    )
    if shown.simulated is not None:
        text += f"  {shown.simulated.service_level:>6.0%}"
    if base is not None:
        change = got.agents - base.projected.agents
        text += f"  {base.projected.agents:>3} {change:+d}"
    bar = "█" * round(24 * got.agents / widest) if widest else ""
    return f"{text}  {bar} {got.agents}"
