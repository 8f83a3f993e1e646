"""Where the test suite finds PostgreSQL and Redis, and whether it may skip without them.

``IVR_TEST_POSTGRES_URL`` and ``IVR_TEST_REDIS_URL`` point at the servers (defaults: the
local ones every development and CI machine runs). ``IVR_REQUIRE_SERVICES=1`` (set by
``.ci/run``) turns a missing server from a skip into a failure, so CI cannot silently skip.
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "IVR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("IVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRED = os.environ.get("IVR_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> None:
    """Skip (or, with IVR_REQUIRE_SERVICES=1, fail) when the server at ``url`` is absent."""
    if _reachable(url, default_port):
        return
    reason = f"{name} is not reachable at {url} (set IVR_TEST_{name.upper()}_URL to point at one)"
    if REQUIRED:
        pytest.fail(f"{reason}; IVR_REQUIRE_SERVICES=1 makes it required", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _postgres_admin() -> sa.Engine:
    """One engine per test process for creating and dropping the tests' schemas: its pooled
    connection saves a connect per test."""
    return sa.create_engine(POSTGRES_URL)


def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, private schema (so tests may run in parallel),
    dropped afterwards."""
    require("postgres", POSTGRES_URL, 5432)
    schema = f"ivr_test_{uuid.uuid4().hex[:12]}"
    admin = _postgres_admin()
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def close() -> None:
    """Close the admin engine's connections, if a test opened it (at the end of the run)."""
    if _postgres_admin.cache_info().currsize:
        _postgres_admin().dispose()


def redis_url() -> str:
    require("redis", REDIS_URL, 6379)
    return REDIS_URL
