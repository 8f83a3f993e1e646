"""Per-call state, keyed by Twilio's CallSid, behind one store interface.

Owns the ``SessionStore`` protocol and its SQL, Redis and in-memory implementations, and the
``call_sessions`` and ``call_locks`` tables. Knows nothing about flows or TwiML: the engine
owns the meaning of ``state``, ``data``, ``seq`` and ``last_reply``; a store only keeps them.
Never imports Flask; imports ``redis`` only when a Redis store is opened.

How a webhook uses a store::

    with store.lock(call_sid):          # one request of a call at a time, across processes
        session = store.load(call_sid)  # None on the call's first webhook
        ...                             # the engine moves the call on
        store.save(session, unlock=True)  # StaleSession if someone saved in between

Two trips to the store per webhook, at most: ``lock`` takes the lease and reads the session
in one (a SQL transaction, a Redis script; on PostgreSQL two statements in autocommit), and
the ``load`` inside the block gets what it read; ``save(..., unlock=True)`` writes the session
and gives the lease back in the other (on PostgreSQL one statement),
and the SQL store writes there what its ``companion`` holds too (the webhook's call-record
events, ``ivr.stores.records``), so the block's end has nothing left to do.

Every store reads and writes ``data`` as JSON, so what the engine gets back is what a
database would give it (tuples come back as lists, integer keys as strings).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ivr.clock import Clock
from ivr.clock import SystemClock
from ivr.db import Base
from ivr.db import Ctes
from ivr.db import UtcDateTime
from ivr.db import dialect_insert
from ivr.db import from_row
from ivr.db import once_more_if_disconnected
from ivr.db import one_statement
from ivr.db import pg_param
from ivr.engine.session import CallSession
from ivr.errors import ConfigError
from ivr.errors import SessionBusy
from ivr.errors import SessionError
from ivr.errors import StaleSession
from ivr.stores.budgets import StoreBudget

if TYPE_CHECKING:
    import redis
    from redis.client import Pipeline

log = logging.getLogger(__name__)

ENDED_TTL = timedelta(minutes=10)
IDLE_TTL = timedelta(hours=4)
# A lock is a lease: a process that dies holding one blocks its call for at most this long.
# Twilio gives up on a webhook after 15 s, so no honest request holds a lock this long.
LEASE = timedelta(seconds=30)
# Between two attempts at a busy lock; short, because a webhook step takes milliseconds.
RETRY_SLEEP_S = 0.015

_T = TypeVar("_T")


class SessionStore(Protocol):
    """Where sessions live. Every implementation honours the same contract (tests/test_sessions)."""

    def load(self, call_sid: str) -> CallSession | None:
        """The stored session of ``call_sid``, or None when there is none."""
        ...

    def save(self, session: CallSession, *, unlock: bool = False) -> None:
        """Insert or update ``session``; bumps ``session.version`` and stamps ``updated_at``.

        Raises ``StaleSession`` when the stored version is not ``session.version``. A stored
        ``ended_at`` is never cleared by a save. ``unlock``: inside ``lock(call_sid)``, also
        give the lock back in the same write (the last thing the block does).
        """
        ...

    def lock(self, call_sid: str, *, wait: float = 10.0) -> AbstractContextManager[None]:
        """Hold the call's lock for the ``with`` block; ``SessionBusy`` after ``wait`` seconds."""
        ...

    def end(self, call_sid: str) -> None:
        """Mark the call finished (``ended_at`` = now; the first end wins). No-op if unknown."""
        ...

    def purge(self) -> int:
        """Delete sessions ended over ``ended_ttl`` ago or idle over ``idle_ttl``; the count."""
        ...

    def check(self) -> None:
        """Raise unless the store can take a write now (start-up and ``/health``); bounded
        by the store's time budget."""
        ...


# --- SQL -----------------------------------------------------------------------------------


class CallSessionRow(Base):
    """One row per call: ``CallSession``, its ``data`` as JSON."""

    __tablename__ = "call_sessions"

    call_sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    flow: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(128))
    lang: Mapped[str] = mapped_column(sa.String(16))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    seq: Mapped[int] = mapped_column(sa.Integer)
    last_reply: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    version: Mapped[int] = mapped_column(sa.Integer)


class CallLockRow(Base):
    """A lease on one call: held by ``token`` until ``expires_at``."""

    __tablename__ = "call_locks"

    call_sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(32))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SaveCompanion(Protocol):
    """What a SQL save writes in its own transaction besides the session (the call-record
    events a webhook held back: ``ivr.stores.records.CallRecorder``)."""

    def write_held(self, conn: sa.Connection, call_sid: str) -> None:
        """Write what is held for ``call_sid`` on ``conn``, in the caller's transaction."""
        ...

    def held_ctes(self, call_sid: str, only_if: str) -> Ctes | None:
        """On PostgreSQL, what is held for ``call_sid`` as parts of the save's own statement,
        each writing only if the SQL condition ``only_if`` holds; None when nothing is held."""
        ...

    def held_written(self, call_sid: str) -> None:
        """That transaction committed: forget what it wrote."""
        ...


@dataclass
class _Held:
    """A lock this thread holds: its lease token, the session read with it (until ``load``
    takes it), and whether a save has given it back already."""

    token: str
    row: Any = None
    prefetched: bool = False
    released: bool = False
    thread_lock: threading.Lock | None = None  # the memory store's lock


class _HeldLocks(threading.local):
    def __init__(self) -> None:
        self.calls: dict[str, list[_Held]] = {}

    def top(self, call_sid: str) -> _Held | None:
        held = self.calls.get(call_sid)
        return held[-1] if held else None

    @contextmanager
    def holding(self, call_sid: str, held: _Held) -> Iterator[_Held]:
        stack = self.calls.setdefault(call_sid, [])
        stack.append(held)
        try:
            yield held
        finally:
            stack.pop()
            if not stack:
                del self.calls[call_sid]


class SqlSessionStore:
    """Sessions in ``call_sessions``, locks as leases in ``call_locks`` (SQLite, PostgreSQL).

    A webhook costs two short transactions: ``lock`` inserts the lease (or takes over an
    expired one) and reads the session (on PostgreSQL two statements in autocommit, with no
    BEGIN or COMMIT round trips); ``save(..., unlock=True)`` writes the session, what the
    ``companion`` holds (call-record events) and deletes the lease. No write transaction
    stays open while the caller works, which SQLite needs. Either transaction is run once more
    when its connection died under it (``ivr.db.once_more_if_disconnected``): the lease
    statement takes our own lease again, and a save that did commit meets its own version.
    Stored times come from ``clock``; waiting for a lock uses real time, because waiting is
    real, and so do lock leases (``lease_clock``, the system clock unless a test injects
    one): with ``IVR_CLOCK`` fixing the call clock, a lease taken by a crashed process must
    still expire.
    """

    def __init__(
        self,
        engine: sa.Engine,
        clock: Clock,
        *,
        ended_ttl: timedelta = ENDED_TTL,
        idle_ttl: timedelta = IDLE_TTL,
        lease_clock: Clock | None = None,
        companion: SaveCompanion | None = None,
    ) -> None:
        self._engine = engine
        self._one = one_statement(engine)  # on PostgreSQL, one statement without BEGIN/COMMIT
        self._clock = clock
        self._lease_clock: Clock = lease_clock or SystemClock()
        self._ended_ttl = ended_ttl
        self._idle_ttl = idle_ttl
        self._companion = companion
        self._held = _HeldLocks()
        self._statements = _DialectStatements.of(engine.dialect.name)

    def load(self, call_sid: str) -> CallSession | None:
        held = self._held.top(call_sid)
        if held is not None and held.prefetched:
            held.prefetched = False  # read with the lock a moment ago; later loads read again
            row = held.row
        else:
            with self._one.connect() as conn:
                row = conn.execute(_SELECT_SESSION, {"b_sid": call_sid}).one_or_none()
        return None if row is None else from_row(CallSession, row)

    def save(self, session: CallSession, *, unlock: bool = False) -> None:
        now = self._clock.now()
        sid = session.call_sid
        values = {
            "b_sid": sid,
            "b_flow": session.flow,
            "b_state": session.state,
            "b_lang": session.lang,
            "b_data": session.data,
            "b_seq": session.seq,
            "b_last_reply": session.last_reply,
            "b_updated_at": now,
            "b_ended_at": session.ended_at,
            "b_version": session.version,
        }
        held = self._held.top(sid) if unlock else None
        # the lease this save gives back, if any (a webhook's last save, inside its lock)
        lease = {"b_sid": sid, "b_token": held.token} if held and not held.released else None
        statements = self._statements

        def write() -> datetime | None:
            to_release = lease
            with self._engine.begin() as conn:
                if session.version == 0:
                    values["b_created_at"] = session.created_at
                    insert, params = statements.insert_session, values
                    if to_release is not None and statements.insert_and_release is not None:
                        insert, params = statements.insert_and_release, {**values, **to_release}
                        to_release = None  # this insert deletes the lease itself
                    # ON CONFLICT DO NOTHING: a failed INSERT would abort PostgreSQL's transaction
                    if conn.execute(insert, params).first() is None:
                        raise StaleSession(sid, 0, _stored_version(conn, sid))
                    ended_at = session.ended_at
                else:
                    update, params = _UPDATE_SESSION, values
                    if to_release is not None and statements.update_and_release is not None:
                        update, params = statements.update_and_release, {**values, **to_release}
                        to_release = None  # this update deletes the lease itself
                    row = conn.execute(update, params).one_or_none()
                    if row is None:
                        raise StaleSession(sid, session.version, _stored_version(conn, sid))
                    ended_at = row.ended_at
                if self._companion is not None:
                    self._companion.write_held(conn, sid)
                if to_release is not None:
                    conn.execute(_DELETE_LEASE, to_release)
            return ended_at

        one = self._one_statement_save(session.version, values, lease)
        ended_at = once_more_if_disconnected(f"call {sid}: saving", one or write)
        if self._companion is not None:
            self._companion.held_written(sid)
        if held is not None:
            held.released = True
        session.version += 1
        session.updated_at = now
        session.ended_at = ended_at

    def _one_statement_save(
        self, version: int, values: dict[str, Any], lease: dict[str, Any] | None
    ) -> Callable[[], datetime | None] | None:
        """On PostgreSQL, a webhook's last save (of a stored session, giving its ``lease``
        back) as ONE statement in autocommit: the session's update, the lease's release and
        what the companion holds (call-record events), the last two only if the update found
        the version it expects (a stale save writes nothing, as a rolled-back transaction
        would). One round trip where a transaction made four. None where that does not
        apply: SQLite, a new session, no lease, nothing held."""
        companion = self._companion
        postgres = self._engine.dialect.name == "postgresql"
        if not (postgres and version and lease and companion):
            return None
        ctes = companion.held_ctes(values["b_sid"], _ONLY_IF_SAVED)
        if ctes is None:
            return None
        statement = _save_with(ctes.texts, ctes.binds)
        params = {**values, **lease, **ctes.params}

        def run() -> datetime | None:
            with self._one.begin() as conn:
                row = conn.execute(statement, params).one_or_none()
                if row is None:
                    sid, version = values["b_sid"], values["b_version"]
                    raise StaleSession(sid, version, _stored_version(conn, sid))
            ended_at: datetime | None = row.ended_at
            return ended_at

        return run

    @contextmanager
    def lock(self, call_sid: str, *, wait: float = 10.0) -> Iterator[None]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        while True:
            taken, row = once_more_if_disconnected(
                f"call {call_sid}: locking", lambda: self._lock_and_read(call_sid, token)
            )
            if taken:
                break
            if time.monotonic() >= deadline:
                raise SessionBusy(call_sid)
            time.sleep(RETRY_SLEEP_S)
        with self._held.holding(call_sid, _Held(token, row, prefetched=True)) as held:
            try:
                yield
            finally:
                if not held.released:
                    self._release(call_sid, token)

    def _release(self, call_sid: str, token: str) -> None:
        """Delete our lease. A connection killed under us (PostgreSQL's pg_terminate_backend,
        a restart) is replaced and the delete tried once more, so the call's next webhook does
        not wait for the lease to run out. Any other failure is logged, not raised: the
        webhook's answer is already decided, and the lease expires after ``LEASE``."""
        for attempt in (1, 2):
            try:
                with self._one.begin() as conn:
                    conn.execute(_DELETE_LEASE, {"b_sid": call_sid, "b_token": token})
                return
            except sa.exc.DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    log.warning("call %s: connection lost releasing its lock; again", call_sid)
                    continue
                log.error("call %s: lock not released (expires in %s): %s", call_sid, LEASE, exc)
                return

    def _lock_and_read(self, call_sid: str, token: str) -> tuple[bool, Any]:
        """Insert our lease, or take over an expired one (or our own, on a second try), in one
        atomic statement; if we got it, read the session. On PostgreSQL each statement runs
        in autocommit (two round trips, not four): the lease is ours once its statement ends,
        and the read that follows sees every save committed before it, as in a transaction
        (READ COMMITTED gives each statement its own snapshot). On SQLite, one transaction."""
        now = self._lease_clock.now()
        lease = {"b_sid": call_sid, "b_token": token, "b_expires": now + LEASE, "b_now": now}
        with self._one.begin() as conn:
            # a row comes back only if we inserted or took over (rowcount is unreliable here)
            if conn.execute(self._statements.take_lease, lease).first() is None:
                return False, None
            return True, conn.execute(_SELECT_SESSION, {"b_sid": call_sid}).one_or_none()

    def end(self, call_sid: str) -> None:
        with self._one.begin() as conn:
            conn.execute(_END_SESSION, {"b_sid": call_sid, "b_now": self._clock.now()})

    def purge(self) -> int:
        """Delete expired sessions (the count returned) and expired lock leases."""
        now = self._clock.now()
        with self._engine.begin() as conn:
            deleted = conn.execute(
                sa.delete(CallSessionRow).where(
                    sa.or_(
                        CallSessionRow.ended_at < now - self._ended_ttl,
                        CallSessionRow.updated_at < now - self._idle_ttl,
                    )
                )
            ).rowcount
            leases_before = self._lease_clock.now()
            conn.execute(sa.delete(CallLockRow).where(CallLockRow.expires_at < leases_before))
        return deleted

    def check(self) -> None:
        """A write that changes nothing: it needs the write lock, as every webhook does (a
        read alone succeeds on a SQLite file another process holds locked)."""
        with self._engine.begin() as conn:
            conn.execute(sa.update(CallLockRow).where(sa.false()).values(token=CallLockRow.token))


# The statements of a webhook, built once with bound parameters (``b_*``): building and keying a
# statement per execution cost SQLAlchemy more CPU than the database took to run it.
_SESSIONS = cast(sa.Table, CallSessionRow.__table__)
_LOCKS = cast(sa.Table, CallLockRow.__table__)
_SELECT_SESSION = sa.select(_SESSIONS).where(_SESSIONS.c.call_sid == sa.bindparam("b_sid"))


def _saved() -> dict[str, Any]:
    """The columns a save writes, as bound parameters: the insert of a new session and the
    update of an existing one both take them."""
    return {
        "flow": sa.bindparam("b_flow"),
        "state": sa.bindparam("b_state"),
        "lang": sa.bindparam("b_lang"),
        "data": sa.bindparam("b_data", type_=_SESSIONS.c.data.type),
        "seq": sa.bindparam("b_seq"),
        "last_reply": sa.bindparam("b_last_reply"),
        "updated_at": sa.bindparam("b_updated_at", type_=UtcDateTime()),
    }


_UPDATE_SESSION = (
    sa.update(_SESSIONS)
    .where(
        _SESSIONS.c.call_sid == sa.bindparam("b_sid"),
        _SESSIONS.c.version == sa.bindparam("b_version"),
    )
    .values(
        **_saved(),
        version=_SESSIONS.c.version + 1,
        # a save never clears an end recorded by end() meanwhile
        ended_at=sa.func.coalesce(
            _SESSIONS.c.ended_at, sa.bindparam("b_ended_at", type_=UtcDateTime())
        ),
    )
    .returning(_SESSIONS.c.ended_at)
)
# only our lease: if it expired and someone took over, theirs stays
_DELETE_LEASE = sa.delete(_LOCKS).where(
    _LOCKS.c.call_sid == sa.bindparam("b_sid"), _LOCKS.c.token == sa.bindparam("b_token")
)
# the first end wins
_END_SESSION = (
    sa.update(_SESSIONS)
    .where(_SESSIONS.c.call_sid == sa.bindparam("b_sid"), _SESSIONS.c.ended_at.is_(None))
    .values(ended_at=sa.bindparam("b_now", type_=UtcDateTime()))
)
_SELECT_VERSION = sa.select(_SESSIONS.c.version).where(
    _SESSIONS.c.call_sid == sa.bindparam("b_sid")
)


@dataclass(frozen=True)
class _DialectStatements:
    """The statements that say ON CONFLICT, in one database's dialect; and on PostgreSQL,
    the insert and the update of a session that delete its lease in the same statement (a
    data-modifying ``WITH``, which SQLite lacks): one statement fewer for every webhook's
    save."""

    take_lease: Any
    insert_session: Any
    insert_and_release: Any = None
    update_and_release: Any = None

    @classmethod
    def of(cls, dialect: str) -> _DialectStatements:
        insert = dialect_insert(dialect, "session locks")
        lease = insert(_LOCKS).values(
            call_sid=sa.bindparam("b_sid"),
            token=sa.bindparam("b_token"),
            expires_at=sa.bindparam("b_expires", type_=UtcDateTime()),
        )
        lease = lease.on_conflict_do_update(
            index_elements=[_LOCKS.c.call_sid],
            set_={"token": lease.excluded.token, "expires_at": lease.excluded.expires_at},
            where=sa.or_(
                _LOCKS.c.expires_at < sa.bindparam("b_now", type_=UtcDateTime()),
                _LOCKS.c.token == sa.bindparam("b_token"),
            ),
        ).returning(_LOCKS.c.token)
        session = (
            insert(_SESSIONS)
            .values(
                **_saved(),
                call_sid=sa.bindparam("b_sid"),
                created_at=sa.bindparam("b_created_at", type_=UtcDateTime()),
                ended_at=sa.bindparam("b_ended_at", type_=UtcDateTime()),
                version=1,
            )
            .on_conflict_do_nothing(index_elements=[_SESSIONS.c.call_sid])
            .returning(_SESSIONS.c.version)
        )
        if dialect != "postgresql":
            return cls(lease, session)
        # Rolled back with the update when it finds a stale version: the lock's block then
        # releases the lease by itself, as it does on SQLite.
        released = _DELETE_LEASE.cte("released_lease")
        return cls(lease, session, session.add_cte(released), _UPDATE_SESSION.add_cte(released))


# PostgreSQL's save with held writes (``SqlSessionStore._one_statement_save``): the session's
# update as a data-modifying WITH, each parameter cast to its column's type.
_ONLY_IF_SAVED = "EXISTS (SELECT FROM saved_session)"

_SAVED_SESSION = (
    f"saved_session AS (UPDATE {_SESSIONS.name} SET "
    + ", ".join(f"{c} = {pg_param(f'b_{c}', _SESSIONS.c[c])}" for c in _saved())
    + ", version = version + 1, "
    + f"ended_at = coalesce(ended_at, {pg_param('b_ended_at', _SESSIONS.c.ended_at)}) "
    + f"WHERE call_sid = {pg_param('b_sid', _SESSIONS.c.call_sid)} "
    + f"AND version = {pg_param('b_version', _SESSIONS.c.version)} RETURNING ended_at), "
    + f"released_lease AS (DELETE FROM {_LOCKS.name} "
    + f"WHERE call_sid = {pg_param('b_sid', _LOCKS.c.call_sid)} "
    + f"AND token = {pg_param('b_token', _LOCKS.c.token)} AND {_ONLY_IF_SAVED})"
)
_SAVED_BINDS = (
    *(sa.bindparam(f"b_{c}", type_=_SESSIONS.c[c].type) for c in _saved()),
    sa.bindparam("b_ended_at", type_=_SESSIONS.c.ended_at.type),
    sa.bindparam("b_sid", type_=_SESSIONS.c.call_sid.type),
    sa.bindparam("b_version", type_=_SESSIONS.c.version.type),
    sa.bindparam("b_token", type_=_LOCKS.c.token.type),
)


@functools.cache
def _save_with(texts: tuple[str, ...], binds: tuple[sa.BindParameter[Any], ...]) -> Any:
    """The one statement of a save with held writes ``texts`` (``Ctes``), built once per
    shape: the session's update, the lease's release, the held writes, then the update's
    ``ended_at`` (no row: the version was stale, and nothing was written)."""
    return (
        sa.text(f"WITH {', '.join((_SAVED_SESSION, *texts))} SELECT ended_at FROM saved_session")
        .bindparams(*_SAVED_BINDS, *binds)
        .columns(ended_at=_SESSIONS.c.ended_at.type)
    )


def _stored_version(conn: sa.Connection, call_sid: str) -> int | None:
    version: int | None = conn.execute(_SELECT_VERSION, {"b_sid": call_sid}).scalar_one_or_none()
    return version


# --- Redis and memory share one JSON shape ---------------------------------------------------


def _to_json(session: CallSession) -> str:
    return json.dumps(
        {
            "call_sid": session.call_sid,
            "flow": session.flow,
            "state": session.state,
            "lang": session.lang,
            "data": session.data,
            "seq": session.seq,
            "last_reply": session.last_reply,
            "created_at": session.created_at.isoformat(),
            "updated_at": session.updated_at.isoformat(),
            "ended_at": None if session.ended_at is None else session.ended_at.isoformat(),
            "version": session.version,
        },
        ensure_ascii=False,
    )


def _from_json(text: str | bytes) -> CallSession:
    raw = json.loads(text)
    ended_at = raw["ended_at"]
    return CallSession(
        call_sid=raw["call_sid"],
        flow=raw["flow"],
        state=raw["state"],
        lang=raw["lang"],
        data=raw["data"],
        created_at=datetime.fromisoformat(raw["created_at"]),
        updated_at=datetime.fromisoformat(raw["updated_at"]),
        seq=raw["seq"],
        last_reply=raw["last_reply"],
        ended_at=None if ended_at is None else datetime.fromisoformat(ended_at),
        version=raw["version"],
    )


def _saved_copy(session: CallSession, stored: CallSession | None, now: datetime) -> CallSession:
    """What ``save`` stores: the next version, stamped now, keeping an end stored meanwhile."""
    ended_at = session.ended_at
    if stored is not None and stored.ended_at is not None:
        ended_at = stored.ended_at
    return replace(session, updated_at=now, ended_at=ended_at, version=session.version + 1)


# --- Redis ---------------------------------------------------------------------------------

# Transactions that keep meeting a WATCH conflict give up after this many tries; a conflict
# comes from end() racing a save, and a real lost update is caught by the version check.
_WATCH_RETRIES = 50


# KEYS: the lock, the session. ARGV: our token, the lease in ms. {1, session or nil} when the
# lease is ours now (taken, or already ours on a second try), {0} when another request holds it.
_LOCK_AND_READ = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
   or redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, redis.call('GET', KEYS[2])}
end
return {0}
"""

# KEYS: the session, the lock. ARGV: the version we loaded, the new JSON, its expiry in ms, our
# token. {1} saved and unlocked; {0, stored version or -1} stale; {2} an end was stored
# meanwhile, which the new JSON lacks: the caller merges it with a WATCH transaction.
_SAVE_AND_UNLOCK = """
local raw = redis.call('GET', KEYS[1])
local found = -1
if raw then
  local stored = cjson.decode(raw)
  found = stored['version']
  if stored['ended_at'] ~= cjson.null then
    return {2, found}
  end
end
if (raw and found ~= tonumber(ARGV[1])) or (not raw and tonumber(ARGV[1]) ~= 0) then
  return {0, found}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
return {1, found}
"""

# KEYS: the lock. ARGV: our token. Deletes the lock only while it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisSessionStore:
    """Sessions as JSON under ``{prefix}session:{sid}``; locks under ``{prefix}lock:{sid}``.

    A webhook costs two round trips, each one Lua script: ``lock`` sets the lock key only if
    absent, to a random token that expires after ``LEASE`` (a crashed holder blocks its call
    no longer), and reads the session; ``save(..., unlock=True)`` checks the version, writes
    and deletes the lock only while it still holds our token (a late release never frees
    another request's lock). A plain ``save`` and ``end`` read, check and write in one
    ``client.transaction()`` (WATCH, MULTI, EXEC), which redis-py runs again when the session
    changed in between; so does a save that finds an end stored meanwhile, to keep it.

    Redis expires keys itself: a session lives ``idle_ttl`` after its last save and
    ``ended_ttl`` after ``end()``, so ``purge()`` has nothing to do and returns 0. Expiry
    follows Redis's real time; ``clock`` only stamps the session's times.
    """

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        *,
        prefix: str = "ivr:",
        ended_ttl: timedelta = ENDED_TTL,
        idle_ttl: timedelta = IDLE_TTL,
    ) -> None:
        self._client = client
        self._clock = clock
        self._prefix = prefix
        self._ended_ms = _ms(ended_ttl)
        self._idle_ms = _ms(idle_ttl)
        self._held = _HeldLocks()
        self._lock_and_read = client.register_script(_LOCK_AND_READ)
        self._save_and_unlock = client.register_script(_SAVE_AND_UNLOCK)
        self._release = client.register_script(_RELEASE)

    def _key(self, call_sid: str) -> str:
        return f"{self._prefix}session:{call_sid}"

    def _lock_key(self, call_sid: str) -> str:
        return f"{self._prefix}lock:{call_sid}"

    def load(self, call_sid: str) -> CallSession | None:
        held = self._held.top(call_sid)
        if held is not None and held.prefetched:
            held.prefetched = False  # read with the lock a moment ago; later loads read again
            raw = held.row
        else:
            raw = self._client.get(self._key(call_sid))
        return None if raw is None else _from_json(raw)

    def save(self, session: CallSession, *, unlock: bool = False) -> None:
        sid = session.call_sid
        held = self._held.top(sid) if unlock else None
        if held is None or held.released:
            self._save_watching(session)
            return
        now = self._clock.now()
        new = replace(session, updated_at=now, version=session.version + 1)
        ttl = self._idle_ms if new.ended_at is None else self._ended_ms
        status, found = self._save_and_unlock(
            keys=[self._key(sid), self._lock_key(sid)],
            args=[session.version, _to_json(new), ttl, held.token],
        )
        if status == 0:
            raise StaleSession(sid, session.version, None if found == -1 else int(found))
        if status == 2:  # an end stored meanwhile: merge it in a transaction, then unlock
            self._save_watching(session)
            self._release(keys=[self._lock_key(sid)], args=[held.token])
        else:
            session.version, session.updated_at = new.version, now
        held.released = True

    def _save_watching(self, session: CallSession) -> None:
        key = self._key(session.call_sid)
        now = self._clock.now()

        def compare_and_set(pipe: Pipeline) -> CallSession:
            raw = pipe.get(key)  # WATCHing: runs at once
            stored = None if raw is None else _from_json(raw)
            found = None if stored is None else stored.version
            if (found or 0) != session.version:
                raise StaleSession(session.call_sid, session.version, found)
            new = _saved_copy(session, stored, now)
            ttl = self._idle_ms if new.ended_at is None else self._ended_ms
            pipe.multi()
            pipe.set(key, _to_json(new), px=ttl)
            return new

        new = self._transaction(key, compare_and_set, f"call {session.call_sid}", "saving")
        session.version, session.updated_at, session.ended_at = (
            new.version,
            new.updated_at,
            new.ended_at,
        )

    @contextmanager
    def lock(self, call_sid: str, *, wait: float = 10.0) -> Iterator[None]:
        token = uuid.uuid4().hex
        keys = [self._lock_key(call_sid), self._key(call_sid)]
        deadline = time.monotonic() + wait
        while True:
            reply = self._lock_and_read(keys=keys, args=[token, _ms(LEASE)])
            if reply[0] == 1:
                break
            if time.monotonic() >= deadline:
                raise SessionBusy(call_sid)
            time.sleep(RETRY_SLEEP_S)
        with self._held.holding(call_sid, _Held(token, reply[1], prefetched=True)) as held:
            try:
                yield
            finally:
                if not held.released:
                    # our lease only: if it ran out during the block, it may be another's now
                    self._release(keys=keys[:1], args=[token])

    def end(self, call_sid: str) -> None:
        key = self._key(call_sid)
        now = self._clock.now()

        def mark_ended(pipe: Pipeline) -> None:
            raw = pipe.get(key)  # WATCHing: runs at once
            if raw is None:
                return  # never saved, or expired: nothing to end
            session = _from_json(raw)
            if session.ended_at is not None:
                return  # the first end wins
            session.ended_at = now
            pipe.multi()
            pipe.set(key, _to_json(session), px=self._ended_ms)

        self._transaction(key, mark_ended, f"call {call_sid}", "ending")

    def purge(self) -> int:
        """Nothing to do: Redis drops expired sessions and locks by itself. Always 0."""
        return 0

    def check(self) -> None:
        """Redis answers a PING (within the client's socket timeouts)."""
        self._client.ping()

    def _transaction(self, key: str, body: Callable[[Pipeline], _T], call: str, doing: str) -> _T:
        """``body``'s result, run by ``client.transaction`` watching ``key``; redis-py runs it
        again after a WATCH conflict, up to ``_WATCH_RETRIES`` times in all (then SessionError).
        """
        tries = 0

        def attempt(pipe: Pipeline) -> _T:
            nonlocal tries
            tries += 1
            if tries > _WATCH_RETRIES:
                raise SessionError(f"{call}: session kept changing while {doing}")
            return body(pipe)

        # redis-py annotates ``func`` as returning None, yet with value_from_callable it hands
        # back what ``func`` returned.
        result = self._client.transaction(
            attempt,  # type: ignore[arg-type]
            key,
            value_from_callable=True,
        )
        return cast(_T, result)


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


# --- memory --------------------------------------------------------------------------------


class MemorySessionStore:
    """Sessions in a dict, for tests and the simulator. Thread-safe; one process only.

    Sessions are kept as JSON, so a loaded session is a copy, as from a real store.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        ended_ttl: timedelta = ENDED_TTL,
        idle_ttl: timedelta = IDLE_TTL,
    ) -> None:
        self._clock = clock
        self._ended_ttl = ended_ttl
        self._idle_ttl = idle_ttl
        self._sessions: dict[str, str] = {}
        self._guard = threading.Lock()
        # One lock per call, never dropped: dropping one a thread is about to take would let
        # two threads hold "the" lock. A lock is a few dozen bytes.
        self._locks: dict[str, threading.Lock] = {}
        self._held = _HeldLocks()

    def load(self, call_sid: str) -> CallSession | None:
        with self._guard:
            raw = self._sessions.get(call_sid)
        return None if raw is None else _from_json(raw)

    def save(self, session: CallSession, *, unlock: bool = False) -> None:
        held = self._held.top(session.call_sid) if unlock else None
        now = self._clock.now()
        with self._guard:
            raw = self._sessions.get(session.call_sid)
            stored = None if raw is None else _from_json(raw)
            found = None if stored is None else stored.version
            if (found or 0) != session.version:
                raise StaleSession(session.call_sid, session.version, found)
            new = _saved_copy(session, stored, now)
            self._sessions[session.call_sid] = _to_json(new)
        session.version, session.updated_at, session.ended_at = (
            new.version,
            new.updated_at,
            new.ended_at,
        )
        if held is not None and held.thread_lock is not None and not held.released:
            held.released = True
            held.thread_lock.release()

    @contextmanager
    def lock(self, call_sid: str, *, wait: float = 10.0) -> Iterator[None]:
        with self._guard:
            call_lock = self._locks.setdefault(call_sid, threading.Lock())
        if not call_lock.acquire(timeout=wait):
            raise SessionBusy(call_sid)
        with self._held.holding(call_sid, _Held("", thread_lock=call_lock)) as held:
            try:
                yield
            finally:
                if not held.released:
                    call_lock.release()

    def end(self, call_sid: str) -> None:
        with self._guard:
            raw = self._sessions.get(call_sid)
            if raw is None:
                return
            session = _from_json(raw)
            if session.ended_at is None:
                session.ended_at = self._clock.now()
                self._sessions[call_sid] = _to_json(session)

    def purge(self) -> int:
        now = self._clock.now()
        with self._guard:
            expired = [
                sid
                for sid, raw in self._sessions.items()
                if _expired(_from_json(raw), now, self._ended_ttl, self._idle_ttl)
            ]
            for sid in expired:
                del self._sessions[sid]
        return len(expired)

    def check(self) -> None:
        """Memory is always there."""


def _expired(
    session: CallSession, now: datetime, ended_ttl: timedelta, idle_ttl: timedelta
) -> bool:
    if session.ended_at is not None and session.ended_at < now - ended_ttl:
        return True
    return session.updated_at < now - idle_ttl


# --- choosing a store ----------------------------------------------------------------------


def open_session_store(
    url: str | None,
    engine: sa.Engine | None,
    clock: Clock,
    *,
    budget: StoreBudget | None = None,
    companion: SaveCompanion | None = None,
) -> SessionStore:
    """The store a setting names: None or ``sql``, ``redis://…``, or ``memory``. A Redis
    client keeps to ``budget`` (the SQL store uses ``engine``, limited by its owner). The SQL
    store writes what ``companion`` holds (on ``engine``) with each unlocking save."""
    if url is None or url == "sql":
        if engine is None:
            raise ConfigError("the sql session store needs a database (set the database URL)")
        return SqlSessionStore(engine, clock, companion=companion)
    if url == "memory":
        return MemorySessionStore(clock)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            client = (budget or StoreBudget()).redis_client(url)
        except ImportError:
            raise ConfigError(
                f"session store {url!r} needs the redis client: pip install 'ivr[redis]'"
            ) from None
        return RedisSessionStore(client, clock)
    raise ConfigError(
        f"unknown session store {url!r}; use 'sql' (the default), 'memory' or a redis:// URL"
    )
