"""The ``ivr twilio`` commands: connecting a real Twilio phone number to this IVR.

Owns only the command-line surface: options, what is printed, and errors raised as
``CliError`` (``error: …`` then ``→ what to do next``, exit 2). The work is
``ivr.telephony.numbers``'s. Options default to the settings in ``ctx.obj``
(``IVR_PUBLIC_URL``, ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``), and so does the HTTP
client for Twilio's API (a test's fake; otherwise twilio's own). Must not import Flask or
``ivr.cli.main`` (which imports this module).
"""

from __future__ import annotations

import click

from ivr.cli.context import CliContext
from ivr.errors import CliError
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
    help="The public https base URL of this IVR, e.g. your tunnel's (default: IVR_PUBLIC_URL).",
)
@click.option(
    "--fallback-url",
    help="The public https base URL of a second instance that answers when this one fails "
    "(default: --url).",
)
@click.option("--account-sid", help="Default: TWILIO_ACCOUNT_SID.")
@click.option("--auth-token", help="Default: TWILIO_AUTH_TOKEN.")
@click.option("--dry-run", is_flag=True, help="Show what would change without changing it.")
@click.pass_obj
def connect(
    cli: CliContext,
    number: str,
    base_url: str | None,
    fallback_url: str | None,
    account_sid: str | None,
    auth_token: str | None,
    dry_run: bool,
) -> None:
    """Point a number's voice URL, status callback and fallback URL at this IVR (all POST)."""
    settings = cli.settings
    base_url = base_url or settings.public_url
    if base_url is None:
        raise CliError(
            "no public URL to point the number at",
            "give --url with your tunnel's https URL, or set IVR_PUBLIC_URL",
        )
    try:
        connection = twilio_setup.connect(
            number,
            base_url,
            Credentials.given(
                account_sid or settings.twilio_account_sid,
                auth_token or settings.twilio_auth_token,
            ),
            http_client=cli.twilio_http,
            dry_run=dry_run,
            fallback_url=fallback_url,
        )
    except TwilioSetupProblem as exc:
        raise CliError(str(exc), exc.hint) from exc
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
        server_public_url=settings.public_url,
        server_checks_signatures=settings.twilio_auth_token is not None,
    ):
        click.echo(click.style("note: ", fg="yellow") + note)
