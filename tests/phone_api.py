"""What the browser phone's API tests share (``tests/test_phone_console.py``,
``tests/test_phone_callbacks.py``): the hotline with the phone installed, the agent token that
guards it, and a reply's turns as tuples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask

from ivr.clock import ManualClock
from ivr.testing.console import CallTimeClock
from ivr.testing.console_web import install_phone
from tests.conftest import T0
from tests.conftest import hotline_app
from tests.conftest import runtime_of

TOKEN = "agent-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def phone_app(tmp_path: Path) -> Iterator[Flask]:
    """The hotline (signed webhooks, an agent token) with the browser phone installed, its
    clock a Monday, 10:00 in Shanghai; the database closed afterwards."""
    clock = CallTimeClock(ManualClock(T0))
    built = hotline_app(tmp_path, clock, IVR_AUDIO="off", IVR_AGENT_TOKEN=TOKEN)
    install_phone(built, clock)
    yield built
    runtime_of(built).database.dispose()


def turns(reply: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    return [(t["speaker"], t["kind"], t["state"], t["text"]) for t in reply["turns"]]
