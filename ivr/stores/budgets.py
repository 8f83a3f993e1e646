"""Time budgets for the stores: no database or Redis operation may hold up a webhook for long.

Owns how one budget (``IVR_STORE_TIMEOUT``, seconds) becomes each backend's own limits:

- SQLite: ``busy_timeout``, how long a statement waits for another connection's write lock
  (``ivr.db.make_engine`` sets 15 s; a budgeted engine lowers it on every new connection);
- PostgreSQL: ``connect_timeout``, ``statement_timeout`` and ``lock_timeout`` (a row lock, say
  on a call's lease, waited for too long is an error, not a hung thread);
- Redis: ``socket_timeout`` and ``socket_connect_timeout``, and no retries (redis-py retries
  three times by default, which multiplies a stalled server's cost by four).

Twilio waits 15 s for a webhook, then plays its own error. A webhook runs a few store
operations, and the first that runs out of budget raises, so the blueprint's apology goes out
well inside Twilio's limit. Also owns ``is_database_error``: whether an exception came from the
database, so the apology path does not wait on the store that failed.

Knows nothing about Flask, flows or calls; imports ``redis`` only when a Redis client is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import redis

# libpq rounds a connect_timeout below 2 s up to 2 s; say so rather than pretend.
_PG_MIN_CONNECT_S = 2


@dataclass(frozen=True)
class StoreBudget:
    """How long one store operation may take, in seconds."""

    seconds: float = 2.0

    @property
    def milliseconds(self) -> int:
        return max(1, round(self.seconds * 1000))

    def limit(self, engine: sa.Engine) -> sa.Engine:
        """``engine``, whose new connections keep to this budget (SQLite and PostgreSQL;
        other backends are left as they are)."""
        backend = engine.dialect.name
        if backend == "sqlite":
            sa.event.listen(engine, "connect", self._sqlite_pragmas)
        elif backend == "postgresql":
            sa.event.listen(engine, "do_connect", self._postgres_parameters)
        return engine

    def _sqlite_pragmas(self, dbapi_conn: Any, _record: Any) -> None:
        # Runs after ivr.db's own listener (listeners run in the order they were added).
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={self.milliseconds}")
        cursor.close()

    def _postgres_parameters(
        self, _dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]
    ) -> None:
        cparams["connect_timeout"] = max(_PG_MIN_CONNECT_S, math.ceil(self.seconds))
        limits = f"-c statement_timeout={self.milliseconds} -c lock_timeout={self.milliseconds}"
        given = cparams.get("options")  # a search_path from the URL, for instance, stays
        cparams["options"] = f"{given} {limits}" if given else limits

    def redis_client(self, url: str) -> redis.Redis:
        """A Redis client for ``url`` whose every command answers or fails within budget."""
        # Imported here: this module must import without redis installed.
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis.from_url(
            url,
            socket_timeout=self.seconds,
            socket_connect_timeout=self.seconds,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )


def is_database_error(error: BaseException) -> bool:
    """True when ``error`` came from the SQL database (locked, stalled, gone, refused)."""
    return isinstance(error, sa.exc.DBAPIError | sa.exc.TimeoutError)
