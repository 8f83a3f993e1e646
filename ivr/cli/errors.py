"""The ``ivr`` command's one error: what went wrong and what to do next, never a traceback.

Owns ``start_up_errors``, which says the app factory's failures
(a broken flow, a bad setting, a database that cannot be reached) as ``ivr.errors.CliError``. Every
command module raises ``CliError``; none prints errors or exits on its own. Must not import
``ivr.cli.main`` (which imports every command module).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from ivr.errors import CliError
from ivr.errors import ConfigError
from ivr.errors import FlowValidationError

SETTING_HINT = "fix the setting (see the README's Settings table) and try again"


@contextmanager
def start_up_errors() -> Iterator[None]:
    """Turn what stops ``create_app`` into a ``CliError`` that says what to do next."""
    try:
        yield
    except FlowValidationError as exc:
        heading = click.style(f"{len(exc.problems)} problem(s) in flows:", fg="red", bold=True)
        raise CliError(
            "the flows did not load, so nothing was started",
            "fix the files above, then run `ivr check`",
            details=[heading, *(f"  {problem}" for problem in exc.problems)],
        ) from exc
    except ConfigError as exc:
        raise CliError(str(exc), SETTING_HINT) from exc
    except CliError:
        raise
    except Exception as exc:  # a database that cannot be reached, for instance
        raise CliError(
            f"{type(exc).__name__}: {exc}",
            "check IVR_DATABASE_URL and that the database is running",
        ) from exc
