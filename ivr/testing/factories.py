"""Simulator factories: a fresh simulator per call, for the app in this process or a server.

Owns ``LocalSimulators`` and ``local_simulators`` (the app built here and driven through WSGI,
optionally isolated so that scripts cannot disturb each other or your data) and
``remote_simulators`` (a running server, over HTTP). ``ivr replay`` and ``ivr call``,
``bench/replay.py`` and the tests all make their simulators here, so they drive calls alike.

Sits in ``testing`` above ``web``, so it may build the app (``create_app``); the simulator and
call scripts it feeds must not know the app. It reads no environment and configures no
logging: settings come in, and logging is the entry point's.
"""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime

from flask import Flask

from ivr.clock import ManualClock
from ivr.settings import Settings
from ivr.testing.simulator import HttpTransport
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.wallet import reset_demo
from ivr.web.app import create_app
from ivr.web.runtime import Runtime

# The moment the shipped call scripts were written for (the demo data is relative to "now").
REPLAY_TIME = datetime.fromisoformat("2026-11-23T10:00:00+08:00")
# Each simulator numbers its CallSids from its own multiple of this, so none collide.
CALLS_PER_SIMULATOR = 10_000

SimulatorFactory = Callable[[], Simulator]
PlayText = Callable[[str], str | None]  # the words a <Play> URL says, if known


class LocalSimulators:
    """Makes simulators that call ``app`` through WSGI as Twilio would: at the app's public
    URL, signed with its auth token, played prompts read as the text they were recorded from.

    ``clock`` is shared with every simulator (the app's too, when it was built with it). With
    ``reset_to``, each new simulator first sets that clock back to ``reset_to`` and puts the
    demo accounts back as they were: a fresh start per call.
    """

    def __init__(
        self, app: Flask, *, clock: ManualClock | None = None, reset_to: datetime | None = None
    ) -> None:
        if reset_to is not None and clock is None:
            raise ValueError("reset_to needs the clock to set back")
        self.app = app
        self.runtime: Runtime = app.extensions["ivr"]
        self.clock = clock
        self.reset_to = reset_to
        self.made = 0

    def __call__(self) -> Simulator:
        self.made += 1
        if self.clock is not None and self.reset_to is not None:
            self.clock.set(self.reset_to)
            reset_demo(self.runtime.database, self.clock)
        settings = self.runtime.settings
        return Simulator(
            WsgiTransport(self.app),
            base_url=settings.public_url or "http://localhost",
            auth_token=settings.twilio_auth_token,
            clock=self.clock,
            first_call=self.made * CALLS_PER_SIMULATOR,
            play_text=self.runtime.play_text,
        )


def local_simulators(
    settings: Settings, *, isolated: bool, audio: bool | None = None
) -> LocalSimulators:
    """Build the app from ``settings`` in this process; simulators for it.

    ``isolated``: a private demo database in a new temporary folder and a clock fixed at
    ``IVR_CLOCK`` (or ``REPLAY_TIME``), both reset before every call. Otherwise the configured
    database and clock. ``audio`` False says every prompt (``IVR_AUDIO=off``), True plays
    every current recording, machine-made previews too (``IVR_AUDIO=all``, for ``ivr call
    --audio``); None leaves ``IVR_AUDIO`` as configured. Raises whatever ``create_app`` raises.
    """
    if audio is not None:
        settings = dataclasses.replace(settings, audio="all" if audio else "off")
    if not isolated:
        return LocalSimulators(create_app(settings=settings))
    folder = tempfile.mkdtemp(prefix="ivr-replay-")
    settings = dataclasses.replace(settings, database_url=f"sqlite:///{folder}/replay.sqlite3")
    start = settings.clock or REPLAY_TIME
    clock = ManualClock(start)
    return LocalSimulators(create_app(settings=settings, clock=clock), clock=clock, reset_to=start)


def remote_simulators(
    url: str, *, auth_token: str | None, play_text: PlayText | None = None
) -> SimulatorFactory:
    """Simulators for the server at ``url`` over HTTP, signing with ``auth_token`` when given.

    Each gets its own range of CallSids, starting at a random one per factory, so runs (and
    several people) never share a call on one server. ``play_text`` reads played prompts as
    text: the server's recordings, read from this checkout's library.
    """
    base = url.rstrip("/")
    start = secrets.randbits(64) << 32
    made = 0

    def make() -> Simulator:
        nonlocal made
        made += 1
        return Simulator(
            HttpTransport(),
            base_url=base,
            auth_token=auth_token,
            first_call=start + made * CALLS_PER_SIMULATOR,
            play_text=play_text,
        )

    return make
