"""Clocks: the one place the core asks what time it is.

Owns the ``Clock`` protocol and its three implementations. Depends on nothing else in ``ivr``.
Every clock returns timezone-aware UTC datetimes so that stored times compare cleanly.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock stopped at one instant (``IVR_CLOCK`` in demos)."""

    def __init__(self, at: datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> datetime:
        return self._at


class ManualClock:
    """A clock that moves only when told to: tests and the simulator's simulated time."""

    def __init__(self, at: datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)

    def set(self, at: datetime) -> None:
        self._at = as_utc(at)


def as_utc(at: datetime) -> datetime:
    """Return ``at`` in UTC; a naive datetime is taken to be UTC already."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def parse_clock(text: str) -> FixedClock:
    """Build a fixed clock from an ISO 8601 time such as ``2026-11-23T10:00:00+08:00``."""
    return FixedClock(datetime.fromisoformat(text))
