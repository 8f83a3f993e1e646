"""The SQLAlchemy plumbing shared by every table: the base, column types, rows to dataclasses.

Owns ``Base`` (every ORM table inherits from it, so ``Base.metadata`` is the whole schema once
``ivr.stores.schema`` has imported the table modules), ``UtcDateTime``, ``one_of`` (the status
column type), ``from_row`` (the one row→dataclass mapping), the engine settings per
backend, and how a dead connection is noticed without a round trip (``alive``) and an
operation that met one is run once more (``once_more_if_disconnected``), the engine
for work that is one statement (``one_statement``), the ``insert`` that can say ON
CONFLICT on each supported database (``dialect_insert``) and the data-modifying ``WITH``
parts one module hands another to run in its statement (``Ctes``, with ``pg_param``). Knows
nothing about wallets, sessions or calls, and nothing about migrations (``ivr.stores.migrate``
owns those).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import select
import weakref
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

from ivr.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Record = TypeVar("Record", bound="DataclassInstance")
_T = TypeVar("_T")

log = logging.getLogger(__name__)

# Connections a server database's pool keeps open once opened (it opens them only when asked,
# so an idle worker holds few): at least as many as a worker's threads (``ivr serve
# --threads``, 8 by default), plus the callback dialer's. With SQLAlchemy's default of 5, a
# worker busy on 8 threads opened and closed a connection for every few webhooks.
POOL_SIZE = 16
POOL_OVERFLOW = 16


class Base(DeclarativeBase):
    """Declarative base of every ``ivr`` table."""


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def one_of(values: Iterable[str], *, name: str, length: int = 32) -> sa.Enum:
    """The type of a status column: a VARCHAR whose CHECK constraint ``name`` allows ``values``.

    Not a native enum, so a new value is a new CHECK constraint (a migration), never an
    ``ALTER TYPE``; the name is the constraint's, which migrations refer to.
    """
    return sa.Enum(
        *values,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=length,
    )


def from_row(cls: type[Record], row: object, **given: object) -> Record:
    """The frozen dataclass ``cls`` built from ``row`` (an ORM object or a ``Row``).

    Each field of ``cls`` is read from the row's attribute of the same name; columns the
    dataclass has no field for (a PIN hash, a counter) are left behind. A field that is not
    a column, or must be converted first, is passed in ``given``.
    """
    names = _field_names(cls)
    unknown = given.keys() - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    values: dict[str, object] = {}
    for name in names:
        if name in given:
            values[name] = given[name]
            continue
        try:
            values[name] = getattr(row, name)
        except AttributeError:
            raise TypeError(
                f"{cls.__name__}.{name}: the row has no such column; pass {name}= explicitly"
            ) from None
    return cls(**values)


@functools.cache
def _field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(field.name for field in fields(cls) if field.init)


def _json_text(value: object) -> str:
    # Chinese stays readable in the database (and as compact as before ``sa.JSON``).
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``. A SQLite file gets its folder created, WAL and a busy timeout.

    A process forked from one holding the engine (gunicorn ``--preload``, multiprocessing)
    starts with an empty pool: parent and child never share a connection."""
    engine = _create_engine(url)
    _forget_pool_after_fork(engine)
    return engine


def _forget_pool_after_fork(engine: sa.Engine) -> None:
    # dispose(close=False) drops the inherited connections without closing them: they are
    # the parent's sockets, which it goes on using. A weak reference: never keep an engine.
    ref = weakref.ref(engine)

    def forget() -> None:  # pragma: no cover - runs in the child, whose coverage is not kept
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    if hasattr(os, "register_at_fork"):  # pragma: no branch - Windows has none, and never forks
        os.register_at_fork(after_in_child=forget)


def _create_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: a SELECT 1 on every checkout cost a round trip and ~1.2 ms of CPU per
        # webhook. A connection the server closed is noticed on checkout without one
        # (``alive``); one that dies in use fails its operation, which the stores retry once.
        server = sa.create_engine(
            url, json_serializer=_json_text, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW
        )
        sa.event.listen(server, "checkout", _refuse_dead_connection)
        return server
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 15, "check_same_thread": False},
        json_serializer=_json_text,
    )

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # WAL + NORMAL: durable against crashes of the app; a power cut may lose the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    return engine


def dialect_insert(dialect: str, what: str) -> Callable[[sa.Table], Any]:
    """The ``insert`` of ``dialect`` that can say ON CONFLICT (SQLite's or PostgreSQL's), for
    statements built once per database; a ``ConfigError`` saying that ``what`` needs one of
    those two for any other database."""
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise ConfigError(f"{what} need SQLite or PostgreSQL, not {dialect}")


@dataclass(frozen=True)
class Ctes:
    """Data-modifying common table expressions for PostgreSQL, to be run as part of another
    module's statement (``WITH <texts>, ... <its statement>``): each text is ``name AS
    (statement)``, ``binds`` types their bound parameters and ``params`` gives their values.
    PostgreSQL runs every such part exactly once, whatever the main statement reads, all of
    them on one snapshot and in one transaction with it."""

    texts: tuple[str, ...]
    binds: tuple[sa.BindParameter[Any], ...]
    params: dict[str, Any]


def pg_param(name: str, column: sa.Column[Any]) -> str:
    """The bound parameter ``name`` in PostgreSQL text SQL (``:name``), cast to ``column``'s
    type, which a VALUES list or a text statement does not give it; a string as it is (an
    explicit CAST to VARCHAR(n) would cut a long one short, where assigning it fails)."""
    if isinstance(column.type, sa.String):
        return f":{name}"
    return f"CAST(:{name} AS {column.type.compile(_POSTGRESQL)})"


_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]


def one_statement(engine: sa.Engine) -> sa.Engine:
    """The engine to run work that is ONE statement on: on a server database ``engine`` in
    autocommit, on SQLite ``engine`` itself. Make it once (a store's ``__init__``) and keep it;
    use ``.begin()`` and ``.connect()`` on it as on ``engine``.

    Why: psycopg sends BEGIN as a command of its own, and a read in ``connect()`` ends with a
    ROLLBACK, so one statement in a transaction is three round trips. Measured on PostgreSQL
    (psycopg 3, SQLAlchemy 2), client CPU per operation: one SELECT in ``connect()`` ~270 us,
    in autocommit ~185 us; one INSERT in ``begin()`` ~280 us, in autocommit ~190 us; wall time
    halved. On SQLite autocommit is slower (72 against 32 us per read: switching the isolation
    level costs, and there are no round trips to save), so SQLite keeps the plain engine.

    Only for a single statement: two statements on it are two transactions. Work that needs
    atomicity across statements stays on ``engine``. Several reads on it are as consistent as
    they were: PostgreSQL's READ COMMITTED gives each statement its own snapshot anyway.
    Events listened for on ``engine`` fire for it too (it shares the pool and the events).
    """
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def alive(dbapi_conn: Any) -> bool:
    """Whether a pooled connection may still be used, known without a round trip: it is not
    closed, and its socket has nothing to read. An idle connection is sent nothing, unless
    the server is closing it (``pg_terminate_backend``, a restart, an idle timeout: the
    server's last words wait there) or a notification came (a new connection is harmless)."""
    if getattr(dbapi_conn, "closed", False):
        return False
    fileno = getattr(dbapi_conn, "fileno", None)
    if fileno is None:
        return True  # a driver without a socket to look at: the retry covers it
    try:
        readable, _, _ = select.select([fileno()], [], [], 0)
    except Exception:  # a closed socket, or the driver's own error for a closed connection
        return False
    return not readable


def _refuse_dead_connection(dbapi_conn: Any, record: Any, proxy: Any) -> None:
    # DisconnectionError on checkout makes the pool drop this connection and hand out another.
    if not alive(dbapi_conn):
        log.info("a pooled database connection was closed by the server; reconnecting")
        raise sa.exc.DisconnectionError("the server closed this pooled connection")


def once_more_if_disconnected(what: str, operation: Callable[[], _T]) -> _T:
    """``operation()``, run again once if the database connection died under it (its
    transaction was rolled back with it, and the pool has been invalidated). For operations
    that are one transaction each, and harmless to repeat: a second try of a write that did
    commit meets its own result (a version check, a unique key)."""
    try:
        return operation()
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("%s: the database connection was lost; trying once more", what)
        return operation()
