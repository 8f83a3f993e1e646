"""Per-call state, keyed by Twilio's CallSid, behind one store interface.

Owns the ``SessionStore`` protocol and its SQL, Redis and in-memory implementations, and the
``call_sessions`` and ``call_locks`` tables. Knows nothing about flows or TwiML: the engine
owns the meaning of ``state``, ``data``, ``seq`` and ``last_reply``; a store only keeps them.
Never imports Flask; imports ``redis`` only when a Redis store is opened.

How a webhook uses a store::

    with store.lock(call_sid):          # one request of a call at a time, across processes
        session = store.load(call_sid)  # None on the call's first webhook
        ...                             # the engine moves the call on
        store.save(session)             # StaleSession if someone saved in between

Every store reads and writes ``data`` as JSON, so what the engine gets back is what a
database would give it (tuples come back as lists, integer keys as strings).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ivr.clock import Clock
from ivr.clock import SystemClock
from ivr.db import Base
from ivr.db import UtcDateTime
from ivr.db import from_row
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

    def save(self, session: CallSession) -> None:
        """Insert or update ``session``; bumps ``session.version`` and stamps ``updated_at``.

        Raises ``StaleSession`` when the stored version is not ``session.version``. A stored
        ``ended_at`` is never cleared by a save.
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


class SqlSessionStore:
    """Sessions in ``call_sessions``, locks as leases in ``call_locks`` (SQLite, PostgreSQL).

    Every method is its own short transaction: no write transaction stays open while the
    caller works, which SQLite needs. Stored times come from ``clock``; waiting for a lock
    uses real time, because waiting is real, and so do lock leases (``lease_clock``, the system
    clock unless a test injects one): with ``IVR_CLOCK`` fixing the call clock, a lease taken
    by a crashed process must still expire.
    """

    def __init__(
        self,
        engine: sa.Engine,
        clock: Clock,
        *,
        ended_ttl: timedelta = ENDED_TTL,
        idle_ttl: timedelta = IDLE_TTL,
        lease_clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._lease_clock: Clock = lease_clock or SystemClock()
        self._ended_ttl = ended_ttl
        self._idle_ttl = idle_ttl

    def load(self, call_sid: str) -> CallSession | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(CallSessionRow.__table__).where(CallSessionRow.call_sid == call_sid)
            ).one_or_none()
        return None if row is None else from_row(CallSession, row)

    def save(self, session: CallSession) -> None:
        now = self._clock.now()
        values = {
            "flow": session.flow,
            "state": session.state,
            "lang": session.lang,
            "data": session.data,
            "seq": session.seq,
            "last_reply": session.last_reply,
            "updated_at": now,
        }
        if session.version == 0:
            ended_at = self._insert(session, values)
        else:
            ended_at = self._update(session, values)
        session.version += 1
        session.updated_at = now
        session.ended_at = ended_at

    def _insert(self, session: CallSession, values: dict[str, Any]) -> datetime | None:
        row = dict(
            values,
            call_sid=session.call_sid,
            created_at=session.created_at,
            ended_at=session.ended_at,
            version=1,
        )
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(CallSessionRow).values(row))
        except sa.exc.IntegrityError:
            raise StaleSession(
                session.call_sid, 0, self._stored_version(session.call_sid)
            ) from None
        return session.ended_at

    def _update(self, session: CallSession, values: dict[str, Any]) -> datetime | None:
        table = CallSessionRow
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.update(table)
                .where(table.call_sid == session.call_sid, table.version == session.version)
                .values(
                    {
                        **values,
                        "version": table.version + 1,
                        # a save never clears an end recorded by end() meanwhile
                        "ended_at": sa.func.coalesce(
                            table.ended_at, sa.literal(session.ended_at, UtcDateTime())
                        ),
                    }
                )
                .returning(table.ended_at)
            ).one_or_none()
        if row is None:
            found = self._stored_version(session.call_sid)
            raise StaleSession(session.call_sid, session.version, found)
        ended_at: datetime | None = row.ended_at
        return ended_at

    def _stored_version(self, call_sid: str) -> int | None:
        with self._engine.connect() as conn:
            version: int | None = conn.execute(
                sa.select(CallSessionRow.version).where(CallSessionRow.call_sid == call_sid)
            ).scalar_one_or_none()
        return version

    @contextmanager
    def lock(self, call_sid: str, *, wait: float = 10.0) -> Iterator[None]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        while not self._try_lock(call_sid, token):
            if time.monotonic() >= deadline:
                raise SessionBusy(call_sid)
            time.sleep(RETRY_SLEEP_S)
        try:
            yield
        finally:
            self._release(call_sid, token)

    def _release(self, call_sid: str, token: str) -> None:
        """Delete our lease. A connection killed under us (PostgreSQL's pg_terminate_backend,
        a restart) is replaced and the delete tried once more, so the call's next webhook does
        not wait for the lease to run out. Any other failure is logged, not raised: the
        webhook's answer is already decided, and the lease expires after ``LEASE``."""
        # only our lease: if it expired and someone took over, theirs stays
        delete = sa.delete(CallLockRow).where(
            CallLockRow.call_sid == call_sid, CallLockRow.token == token
        )
        for attempt in (1, 2):
            try:
                with self._engine.begin() as conn:
                    conn.execute(delete)
                return
            except sa.exc.DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    log.warning("call %s: connection lost releasing its lock; again", call_sid)
                    continue
                log.error("call %s: lock not released (expires in %s): %s", call_sid, LEASE, exc)
                return

    def _try_lock(self, call_sid: str, token: str) -> bool:
        """Insert our lease, or take over an expired one, in one atomic statement."""
        now = self._lease_clock.now()
        dialect = self._engine.dialect.name
        if dialect == "sqlite":
            insert: sqlite.Insert | postgresql.Insert = sqlite.insert(CallLockRow)
        elif dialect == "postgresql":
            insert = postgresql.insert(CallLockRow)
        else:
            raise ConfigError(f"session locks need SQLite or PostgreSQL, not {dialect}")
        stmt = insert.values(call_sid=call_sid, token=token, expires_at=now + LEASE)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CallLockRow.call_sid],
            set_={"token": stmt.excluded.token, "expires_at": stmt.excluded.expires_at},
            where=CallLockRow.expires_at < now,
        )
        with self._engine.begin() as conn:
            # a row comes back only if we inserted or took over (rowcount is unreliable here)
            return conn.execute(stmt.returning(CallLockRow.token)).first() is not None

    def end(self, call_sid: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(CallSessionRow)
                .where(CallSessionRow.call_sid == call_sid, CallSessionRow.ended_at.is_(None))
                .values(ended_at=self._clock.now())
            )

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


class RedisSessionStore:
    """Sessions as JSON under ``{prefix}session:{sid}``; locks under ``{prefix}lock:{sid}``.

    The lock is redis-py's ``Lock``: a key set only if absent, holding a random token, that
    expires after ``LEASE`` (a crashed holder blocks its call no longer), released by a script
    only while it still holds our token (a late release never frees another request's lock).
    ``save`` and ``end`` read, check and write in one ``client.transaction()`` (WATCH, MULTI,
    EXEC), which redis-py runs again when the session changed in between.

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

    def _key(self, call_sid: str) -> str:
        return f"{self._prefix}session:{call_sid}"

    def load(self, call_sid: str) -> CallSession | None:
        raw = self._client.get(self._key(call_sid))
        return None if raw is None else _from_json(raw)

    def save(self, session: CallSession) -> None:
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
        # Imported here, not at the top: this module must import without redis installed.
        from redis.exceptions import LockNotOwnedError

        lease = self._client.lock(
            f"{self._prefix}lock:{call_sid}",
            timeout=LEASE.total_seconds(),
            sleep=RETRY_SLEEP_S,
            blocking_timeout=wait,
        )
        if not lease.acquire():
            raise SessionBusy(call_sid)
        try:
            yield
        finally:
            try:
                lease.release()
            except LockNotOwnedError:
                pass  # the lease ran out during the block; the lock may be another's by now

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

    def load(self, call_sid: str) -> CallSession | None:
        with self._guard:
            raw = self._sessions.get(call_sid)
        return None if raw is None else _from_json(raw)

    def save(self, session: CallSession) -> None:
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

    @contextmanager
    def lock(self, call_sid: str, *, wait: float = 10.0) -> Iterator[None]:
        with self._guard:
            call_lock = self._locks.setdefault(call_sid, threading.Lock())
        if not call_lock.acquire(timeout=wait):
            raise SessionBusy(call_sid)
        try:
            yield
        finally:
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
) -> SessionStore:
    """The store a setting names: None or ``sql``, ``redis://…``, or ``memory``. A Redis
    client keeps to ``budget`` (the SQL store uses ``engine``, limited by its owner)."""
    if url is None or url == "sql":
        if engine is None:
            raise ConfigError("the sql session store needs a database (set the database URL)")
        return SqlSessionStore(engine, clock)
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
