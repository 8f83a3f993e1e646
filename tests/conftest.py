"""Shared fixtures: databases (SQLite always, PostgreSQL where it runs) and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from ivr.clock import ManualClock
from tests import services

# A fixed instant every test starts from: 2026-11-23 10:00 in Shanghai.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    else:
        yield from services.postgres_schema_url()


@pytest.fixture
def redis_url() -> str:
    return services.redis_url()
