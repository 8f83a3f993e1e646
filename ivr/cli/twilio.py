"""The ``ivr twilio`` commands: connecting a real Twilio phone number to this IVR.

Owns only the command-line surface: options, what is printed, and errors shown as
``error: …`` then ``→ what to do next`` (exit 2). The work is ``ivr.telephony.numbers``'s. The
HTTP client for Twilio's API comes in as the click context's object when there is one (tests
pass a fake of Twilio's API: ``runner.invoke(main, args, obj=fake)``); otherwise twilio's own.
Must not import Flask or ``ivr.cli.main`` (which imports this module).
"""

from __future__ import annotations

import os
from typing import NoReturn

import click
from twilio.http import HttpClient

from ivr.errors import TwilioSetupProblem
from ivr.telephony import numbers as twilio_setup
from ivr.telephony.numbers import Credentials


@click.group()
def twilio() -> None:
    """Connect a real Twilio phone number to this IVR."""


@twilio.command()
@click.option("--number", required=True, help="Your Twilio number in E.164 form: +14155550100.")
@click.option(
    "--url",
    "base_url",
    required=True,
    envvar="IVR_PUBLIC_URL",
    help="The public https base URL of this IVR, e.g. your tunnel's (default: IVR_PUBLIC_URL).",
)
@click.option("--account-sid", envvar="TWILIO_ACCOUNT_SID", help="Default: TWILIO_ACCOUNT_SID.")
@click.option("--auth-token", envvar="TWILIO_AUTH_TOKEN", help="Default: TWILIO_AUTH_TOKEN.")
@click.option("--dry-run", is_flag=True, help="Show what would change without changing it.")
@click.pass_context
def connect(
    ctx: click.Context,
    number: str,
    base_url: str,
    account_sid: str | None,
    auth_token: str | None,
    dry_run: bool,
) -> None:
    """Point a number's voice URL, status callback and fallback URL at this IVR (all POST)."""
    try:
        connection = twilio_setup.connect(
            number,
            base_url,
            Credentials.given(account_sid, auth_token),
            http_client=ctx.find_object(HttpClient),
            dry_run=dry_run,
        )
    except TwilioSetupProblem as exc:
        _fail(str(exc), exc.hint)
    name = f', "{connection.friendly_name}"' if connection.friendly_name else ""
    click.echo(f"{connection.phone_number} ({connection.sid}{name})")
    for change in connection.changes:
        click.echo(f"  {change}")
    if not connection.changes:
        click.echo(f"already connected to {connection.base_url}: nothing to change")
    elif dry_run:
        click.echo("dry run: nothing was changed; run again without --dry-run to apply")
    else:
        click.echo(f"updated {len(connection.changes)} setting(s)")
    for note in twilio_setup.notes(
        connection,
        server_public_url=os.environ.get("IVR_PUBLIC_URL"),
        server_checks_signatures=bool(os.environ.get("TWILIO_AUTH_TOKEN")),
    ):
        click.echo(click.style("note: ", fg="yellow") + note)


def _fail(message: str, hint: str) -> NoReturn:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    click.echo(f"  → {hint}", err=True)
    raise SystemExit(2)
