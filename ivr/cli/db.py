"""``ivr db``: where the database's schema stands, and bringing it up to date.

Owns the ``db`` command group: ``ivr db current`` (the database's revision against this
version's head) and ``ivr db upgrade``. The work is ``ivr.stores.migrate``'s; this module
finds the database the way ``create_app`` does (``IVR_DATABASE_URL``, else the embedded SQLite
file) and turns every failure into a message that says what to do next, never a traceback.
Does not build the app: ``create_app`` refuses a database that is behind, which is exactly the
database this group must be able to open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from flask import Flask

from ivr.cli.context import CliContext
from ivr.db import make_engine
from ivr.errors import CliError
from ivr.errors import ConfigError
from ivr.settings import Settings
from ivr.stores import migrate
from ivr.web.app import database_url


@click.group()
def db() -> None:
    """The database schema: which revision it is at, and upgrading it."""


@db.command("current")
@click.pass_obj
def current(cli: CliContext) -> None:
    """Show the database's schema revision and this version's (head)."""
    with _database(cli.settings) as engine:
        found = migrate.state(engine)
    click.echo(f"database: {migrate.describe(engine)}")
    if found.revision is None:
        click.echo("current:  none (an empty database)")
    elif not found.tracked:
        click.echo(f"current:  {found.revision} (made before migrations; read from its tables)")
    else:
        click.echo(f"current:  {found.revision}")
    click.echo(f"head:     {found.head}")
    if found.behind:
        click.echo("behind: run `ivr db upgrade` (back the database up first)")
    elif found.empty:
        click.echo("empty: `ivr db upgrade` or `ivr serve` creates the schema")
    else:
        click.echo("up to date")


@db.command("upgrade")
@click.pass_obj
def upgrade(cli: CliContext) -> None:
    """Bring the database to this version's schema; an empty one gets it whole."""
    with _database(cli.settings) as engine:
        done = migrate.upgrade(engine)
    where = migrate.describe(engine)
    if done.before is None:
        click.echo(f"created the schema at revision {done.after} in {where}")
    elif done.before == done.after:
        click.echo(f"{where} is already at revision {done.after}, this version's schema")
    else:
        click.echo(f"upgraded {where} from revision {done.before} to {done.after}")
    if done.backup is not None:
        click.echo(f"the database as it was is kept in {done.backup}")


@contextmanager
def _database(settings: Settings) -> Iterator[sa.Engine]:
    """The database ``create_app`` would open, with its failures said plainly."""
    # create_app's default: the embedded SQLite file in Flask's instance folder.
    url = database_url(settings, Flask("ivr", instance_relative_config=True).instance_path)
    try:
        engine = make_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise CliError(
            f"IVR_DATABASE_URL={url!r} cannot be used: {exc}",
            "give a SQLAlchemy URL such as sqlite:///ivr.sqlite3 or postgresql+psycopg://…",
        ) from None
    try:
        yield engine
    except ConfigError as exc:
        raise CliError(str(exc), "fix that, then check with `ivr db current`") from None
    except sa.exc.OperationalError as exc:
        raise CliError(
            f"cannot use the database {migrate.describe(engine)}: {exc.orig}",
            "check IVR_DATABASE_URL and that the database is running",
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        raise CliError(
            f"the database {migrate.describe(engine)} refused a step: {exc}",
            "nothing after that step was applied; restore the backup if you need to, and "
            "report this with the message above",
        ) from None
    finally:
        engine.dispose()
