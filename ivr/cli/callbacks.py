"""The ``ivr callbacks`` commands: the dialer that places callbacks, and what is waiting.

Owns only the command-line surface: options, what is printed, and errors raised as
``CliError``. The work is ``ivr.hotline.dialer``'s (when a callback is due, pacing, caps,
retries, tickets) and ``ivr.telephony.calls``'s (Twilio's REST API). The app is built as
``ivr serve`` builds it (``create_app``), so the dialer sees the same database, flows and
clock as the webhooks that answer its calls. Twilio's HTTP client is the one in ``ctx.obj``
(a test's fake; otherwise twilio's own). Must not import ``ivr.cli.main``.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import click
from flask import Flask

from ivr.cli.context import CliContext
from ivr.cli.errors import start_up_errors
from ivr.errors import CliError
from ivr.errors import TwilioSetupProblem
from ivr.hotline.dialer import Dialer
from ivr.hotline.dialer import Placed
from ivr.hotline.dialer import RetryPolicy
from ivr.phones import mask_phone
from ivr.phones import to_e164
from ivr.settings import Settings
from ivr.telephony.calls import DryRunPlacer
from ivr.telephony.calls import Placer
from ivr.telephony.calls import TwilioPlacer
from ivr.telephony.numbers import Credentials
from ivr.web.app import create_app
from ivr.web.runtime import Runtime

log = logging.getLogger(__name__)


@click.group()
def callbacks() -> None:
    """Place the callbacks callers asked for, and see what is waiting."""


def _runtime(settings: Settings) -> Runtime:
    with start_up_errors():
        app: Flask = create_app(settings=settings)
    runtime: Runtime = app.extensions["ivr"]
    return runtime


def _placer(cli: CliContext) -> tuple[Placer, str | None]:
    """Twilio, or a dry run and the reason for it."""
    settings = cli.settings
    if not settings.dial:
        return DryRunPlacer(), "IVR_DIAL is off"
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        return DryRunPlacer(), "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not both set"
    try:
        credentials = Credentials.given(settings.twilio_account_sid, settings.twilio_auth_token)
    except TwilioSetupProblem as exc:
        raise CliError(str(exc), exc.hint) from exc
    return TwilioPlacer(credentials, http_client=cli.twilio_http), None


@callbacks.command()
@click.option("--once", is_flag=True, help="One round: place what is due now, then stop.")
@click.option(
    "--max-time",
    type=click.FloatRange(min=0),
    help="Stop after this many seconds (default: run until interrupted).",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between two looks at what is due.",
)
@click.option("--name", help="This dialer's name in its claims (default: host and process).")
@click.pass_obj
def run(cli: CliContext, once: bool, max_time: float | None, poll: float, name: str | None) -> None:
    """Place every due callback through Twilio, paced (IVR_DIAL_RATE calls per second) and
    at most as many at once per queue as it has agents; retry the unanswered
    (IVR_CALLBACK_ATTEMPTS, IVR_CALLBACK_RETRY apart), then open a ticket. With IVR_DIAL=off
    or no Twilio credentials: say what would be called (a dry run)."""
    settings = cli.settings
    placer, dry_reason = _placer(cli)
    if not placer.dry_run:
        if settings.public_url is None:
            raise CliError(
                "no public URL for Twilio to fetch the callback call from",
                "set IVR_PUBLIC_URL to the https URL Twilio reaches this IVR at",
            )
        if to_e164(settings.callback_from or "", region=None) is None:
            raise CliError(
                f"IVR_CALLBACK_FROM={settings.callback_from!r} is not a number in E.164 form",
                "set IVR_CALLBACK_FROM to your Twilio number, e.g. +14155550100",
            )
    rt = _runtime(settings)
    assert rt.callbacks is not None  # create_app always wires a book
    dialer = Dialer(
        book=rt.callbacks,
        wallet=rt.services.wallet,
        flow=rt.flows[rt.flow_name].flow,
        placer=placer,
        clock=rt.services.clock,
        base_url=settings.public_url or "https://ivr.invalid",
        from_number=settings.callback_from or "+10000000000",
        name=name or f"{os.uname().nodename}:{os.getpid()}",
        rate=settings.dial_rate,
        policy=RetryPolicy.of(settings),
        lease=timedelta(seconds=settings.callback_lease),
    )
    if dry_reason is not None:
        click.echo(f"dry run ({dry_reason}): no call is placed")

    def show(placed: list[Placed]) -> None:
        for one in placed:
            click.echo(f"+{one.at:.1f}s {one.describe()}")

    try:
        total = dialer.run(once=once, max_time=max_time, poll=poll, report=show)
    except KeyboardInterrupt:
        click.echo("stopped")
        return
    click.echo(f"{'would place' if placer.dry_run else 'placed'} {total} call(s)")


@callbacks.command("list")
@click.option("--all", "everything", is_flag=True, help="Also the done, cancelled and failed.")
@click.pass_obj
def list_(cli: CliContext, everything: bool) -> None:
    """The callbacks waiting (pending, or being called now), oldest first, with each attempt."""
    rt = _runtime(cli.settings)
    assert rt.callbacks is not None
    book = rt.callbacks
    statuses = None if everything else ("pending", "dialing")
    requests = book.listed(statuses) if statuses else book.listed()
    if not requests:
        click.echo("no callbacks waiting" if not everything else "no callbacks")
        return
    flow = rt.flows[rt.flow_name].flow
    tz = flow.hours.timezone
    for request in requests:
        when = "as soon as possible"
        if request.preferred_at is not None:
            when = f"from {request.preferred_at.astimezone(tz):%Y-%m-%d %H:%M}"
        if request.next_try_at is not None and request.status == "pending":
            when = f"next try {request.next_try_at.astimezone(tz):%Y-%m-%d %H:%M}"
        issue = request.issue or "no issue"
        line = (
            f"#{request.id} {request.status:<9} {mask_phone(request.phone)} {request.queue} "
            f"({issue}), {when}, {request.attempts} attempt(s)"
        )
        if request.ticket:
            line += f", ticket {request.ticket}"
        click.echo(line)
        for attempt in book.attempts(request.id):
            outcome = attempt.outcome or "in progress"
            click.echo(
                f"    attempt {attempt.number} {attempt.started_at.astimezone(tz):%H:%M:%S} "
                f"by {attempt.dialer}: {outcome}"
            )
