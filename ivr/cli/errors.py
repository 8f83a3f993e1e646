"""The ``ivr`` command's one error: what went wrong and what to do next, never a traceback.

Owns ``CliError``, a ``click.ClickException`` (click prints it and exits with status 2) that
is also an ``IvrError``, and ``start_up_errors``, which says the app factory's failures
(a broken flow, a bad setting, a database that cannot be reached) in those terms. Every
command module raises ``CliError``; none prints errors or exits on its own. Must not import
``ivr.cli.main`` (which imports every command module).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import IO
from typing import Any

import click

from ivr.errors import ConfigError
from ivr.errors import FlowValidationError
from ivr.errors import IvrError

SETTING_HINT = "fix the setting (see the README's Settings table) and try again"


class CliError(click.ClickException, IvrError):
    """``problem`` (one line), then ``next_step``; ``details`` (lines such as every problem
    in a flow file) are printed first. Shown on stderr as::

        error: <problem>
          → <next step>
    """

    exit_code = 2

    def __init__(self, problem: str, next_step: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.next_step = next_step
        self.details = tuple(details)

    def show(self, file: IO[Any] | None = None) -> None:
        for line in self.details:
            click.echo(line, file=file, err=True)
        click.echo(click.style("error: ", fg="red", bold=True) + self.problem, file=file, err=True)
        click.echo(f"  → {self.next_step}", file=file, err=True)


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
