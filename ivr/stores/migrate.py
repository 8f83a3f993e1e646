"""Schema migrations: where a database stands against this code's schema, and getting it there.

Owns the Alembic set-up (built here in code, so nobody needs an ``alembic.ini``) and the
answers start-up and ``ivr db`` need: ``head()``, ``state()`` / ``current()`` /
``is_behind()``, ``upgrade()`` (and ``downgrade()`` for maintainers), ``create_at_head()``, and
``prepare()``, which ``create_app`` calls.

The migrations live in ``ivr/stores/migrations/versions`` (shipped inside the package): 0001 is
the schema as first released, each later revision one change. A database made before
migrations existed has no ``alembic_version`` table; its tables tell which revision it is
at (``legacy_revision``), and it is stamped so before it is upgraded. Never decides *whether*
to upgrade a database: callers do (``create_app`` upgrades only the embedded SQLite file).

On PostgreSQL, ``prepare`` and ``upgrade`` hold a session-level advisory lock
(``pg_advisory_lock``) while they look and change: workers or hosts starting together on an
empty database create the schema once, and the others find it made. SQLite's own write lock
serialises its writers (one host only).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ivr.errors import ConfigError
from ivr.stores.schema import metadata

MIGRATIONS = Path(__file__).with_name("migrations")
# The tables of the first released schema (0001); later revisions add the rest.
FIRST_RELEASE_TABLES = frozenset(
    {
        "accounts",
        "account_events",
        "payments",
        "refunds",
        "sms_outbox",
        "tickets",
        "topups",
        "call_sessions",
        "call_locks",
        "call_records",
        "call_events",
        "agent_handoffs",
    }
)

# The advisory lock key ivr's schema changes take on PostgreSQL (any bigint; "ivr" in ASCII).
MIGRATION_LOCK = 0x697672
MIGRATION_LOCK_WAIT = 300.0  # seconds a process waits for another's schema change

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands. ``revision`` is None for an empty database; ``tracked`` is
    False when it has no ``alembic_version`` table (empty, or made before migrations)."""

    revision: str | None
    head: str
    tracked: bool

    @property
    def empty(self) -> bool:
        return self.revision is None

    @property
    def behind(self) -> bool:
        return self.revision is not None and self.revision != self.head


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: from ``before`` (None: an empty database) to ``after``, and
    where it copied a SQLite file first (``backup``; None for other databases)."""

    before: str | None
    after: str
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    """The revision today's code expects."""
    revision = _scripts().get_current_head()
    if revision is None:  # pragma: no cover - the package ships its migrations
        raise ConfigError(f"no migrations found in {MIGRATIONS}")
    return revision


def state(engine: sa.Engine) -> SchemaState:
    """Where ``engine``'s database stands. ``ConfigError`` for a database this code cannot
    place: a revision it does not know (a newer ivr), or tables that are not ivr's."""
    with engine.connect() as conn:
        return _state(conn, where=describe(engine))


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at (recognised from its tables if it was made before
    migrations), or None when it is empty."""
    return state(engine).revision


def is_behind(engine: sa.Engine) -> bool:
    """True when the database has ivr's tables at a revision older than ``head()``."""
    return state(engine).behind


def upgrade(engine: sa.Engine, to: str = "head") -> Upgrade:
    """Bring the database to revision ``to`` (``head()`` unless a test says otherwise),
    stamping it first if it was made before migrations.

    A SQLite file that holds data is copied beside itself first (``<file>.<revision>.bak``).
    On PostgreSQL the whole upgrade is one transaction, under the migration lock.
    """
    with _schema_lock(engine):
        return _upgrade(engine, to)


def _upgrade(engine: sa.Engine, to: str) -> Upgrade:
    found = state(engine)
    target = _scripts().get_revision(to).revision
    if found.revision in (None, target):
        backup = None  # nothing to keep, or nothing to do
    else:
        backup = _backup_sqlite_file(engine, found.revision)
    with _migrating(engine) as conn:
        if found.revision is not None and not found.tracked:
            MigrationContext.configure(conn).stamp(_scripts(), found.revision)
        command.upgrade(_config(conn), to)
    return Upgrade(found.revision, target, backup)


def downgrade(engine: sa.Engine, to: str) -> None:
    """Take a tracked database back to revision ``to`` ("base": no tables at all). For
    maintainers and tests; start-up and ``ivr db`` never go back."""
    state(engine)  # refuses a database this version cannot place
    with _migrating(engine) as conn:
        command.downgrade(_config(conn), to)


@contextmanager
def _schema_lock(engine: sa.Engine) -> Iterator[None]:
    """On PostgreSQL, hold ivr's advisory lock (on a connection of its own) meanwhile: one
    process at a time looks at and changes the schema. Elsewhere, nothing."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as lock:
        # Polled, not waited for in one statement: the store budget's statement_timeout would
        # cancel a wait longer than a couple of seconds, and a migration may take longer.
        deadline = time.monotonic() + MIGRATION_LOCK_WAIT
        take = sa.text("SELECT pg_try_advisory_lock(:key)")
        while not lock.execute(take, {"key": MIGRATION_LOCK}).scalar_one():
            lock.commit()
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"another process has been changing the schema of {describe(engine)} for "
                    f"over {MIGRATION_LOCK_WAIT:.0f} s (it holds ivr's migration lock): wait "
                    "for it to finish, then start again"
                )
            time.sleep(0.1)
        lock.commit()  # session-level: the lock outlives the transaction that took it
        try:
            yield
        finally:
            lock.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            lock.commit()


@contextmanager
def _migrating(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction for Alembic. On SQLite, foreign keys are off meanwhile
    (rebuilding a table in batch mode must not cascade deletes into its children) and checked
    afterwards."""
    where = describe(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Outside any transaction: SQLite ignores this pragma inside one.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                yield conn
            if sqlite:
                _check_foreign_keys(conn, where)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def create_at_head(engine: sa.Engine) -> None:
    """Create every table of today's schema and stamp it ``head()`` (an empty database)."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite commits each CREATE on its own; in one explicit transaction the schema
            # appears whole or not at all (half a schema would be refused at the next start).
            conn.exec_driver_sql("BEGIN")
        metadata.create_all(conn, checkfirst=False)
        MigrationContext.configure(conn).stamp(_scripts(), "head")


def prepare(engine: sa.Engine, *, upgrade_if_behind: bool) -> Upgrade | None:
    """Make the database ready for today's code, as start-up does.

    An empty database is created at ``head()``. One that is behind is upgraded when
    ``upgrade_if_behind`` (and the upgrade logged and returned); otherwise start-up stops
    with a ``ConfigError`` that says to run ``ivr db upgrade``. On PostgreSQL all of it runs
    under the migration lock, so processes starting at once do it one after another.
    """
    with _schema_lock(engine):
        return _prepare(engine, upgrade_if_behind=upgrade_if_behind)


def _prepare(engine: sa.Engine, *, upgrade_if_behind: bool) -> Upgrade | None:
    found = state(engine)
    if found.empty:
        create_at_head(engine)
        return None
    if not found.behind:
        if not found.tracked:  # today's tables made without migrations: record that
            with engine.begin() as conn:
                MigrationContext.configure(conn).stamp(_scripts(), found.head)
        return None
    if not upgrade_if_behind:
        raise ConfigError(
            f"the database {describe(engine)} is at schema revision {found.revision}, "
            f"behind this version's {found.head}: run `ivr db upgrade` (back it up first), "
            "then start again"
        )
    done = _upgrade(engine, "head")
    kept = f" (the old file is kept as {done.backup})" if done.backup else ""
    log.warning(
        "upgraded the database %s from schema revision %s to %s%s",
        describe(engine),
        done.before,
        done.after,
        kept,
    )
    return done


def describe(engine: sa.Engine) -> str:
    """The database's URL as messages show it (no password)."""
    return engine.url.render_as_string(hide_password=True)


def legacy_revision(conn: sa.Connection) -> str | None:
    """The revision a database without ``alembic_version`` is at, read from its tables; None
    when it has none of ivr's tables. ``ConfigError`` when it has only some of them."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names()) & set(metadata.tables)
    if not present:
        return None
    missing = FIRST_RELEASE_TABLES - present
    if missing:
        raise ConfigError(
            f"the database {describe(conn.engine)} has some of ivr's tables "
            f"({', '.join(sorted(present))}) but not {', '.join(sorted(missing))}, so it was "
            "not made by ivr or is damaged: point IVR_DATABASE_URL at ivr's own database or an "
            "empty one"
        )
    if "callback_requests" not in present or not _handoffs_may_fail(inspector):
        return "0001"  # 00cd47e; served by a later commit, it has callback_requests too
    steps_tried = next(
        column
        for column in inspector.get_columns("agent_handoffs")
        if column["name"] == "steps_tried"
    )
    if isinstance(steps_tried["type"], sa.JSON):
        return "0003"  # today's tables, created without migrations (``metadata.create_all``)
    return "0002"


def _handoffs_may_fail(inspector: sa.Inspector) -> bool:
    checks = inspector.get_check_constraints("agent_handoffs")
    return any(
        check["name"] == "agent_handoffs_status" and "'failed'" in check["sqltext"]
        for check in checks
    )


def _state(conn: sa.Connection, *, where: str) -> SchemaState:
    heads = MigrationContext.configure(conn).get_current_heads()
    if not heads:
        return SchemaState(legacy_revision(conn), head(), tracked=False)
    (revision,) = heads  # the migrations never branch
    if revision not in _revisions():
        raise ConfigError(
            f"the database {where} is at schema revision {revision}, which this version of "
            "ivr does not know (a newer ivr upgraded it): run that version, or restore a backup"
        )
    return SchemaState(revision, head(), tracked=True)


@functools.cache
def _revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def _config(conn: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    return config


def _backup_sqlite_file(engine: sa.Engine, revision: str) -> Path | None:
    """Copy a SQLite database file to ``<file>.<revision>.bak`` with SQLite's backup API (safe
    while other connections use it); None for other databases."""
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:":
        return None
    target = Path(f"{name}.{revision}.bak")
    source = engine.raw_connection()
    try:
        copy = sqlite3.connect(target)
        try:
            source.driver_connection.backup(copy)  # type: ignore[union-attr]
        finally:
            copy.close()
    finally:
        source.close()
    return target


def _check_foreign_keys(conn: sa.Connection, where: str) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    conn.commit()
    if broken:
        raise ConfigError(
            f"the database {where} was upgraded but {len(broken)} row(s) point at rows that "
            f"do not exist (first: {tuple(broken[0])}): restore a backup and report this"
        )
