"""The ``ivr twilio`` commands: connecting a real Twilio number (work in progress)."""

from __future__ import annotations

import click


@click.group()
def twilio() -> None:
    """Connect a real Twilio phone number to this IVR."""
