"""What every ``ivr`` command finds in click's ``ctx.obj``: the settings, read once, and
whether colour is wanted.

Owns ``CliContext``. The group callback of ``ivr.cli.main`` builds it (the only place the
command line reads the environment); commands take it with ``@click.pass_obj``. Must not
import ``ivr.cli.main``.
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.http import HttpClient

from ivr.settings import Settings


@dataclass(frozen=True)
class CliContext:
    """The settings, and the HTTP client for Twilio's API: twilio's own unless a test handed
    ``main`` a fake as ``obj`` (``runner.invoke(main, args, obj=fake)``). ``color`` is False
    when ``NO_COLOR`` is set (https://no-color.org), else None: colour where a terminal is."""

    settings: Settings
    twilio_http: HttpClient | None = None
    color: bool | None = None
