"""What a running app holds: everything a webhook needs, built once by the app factory.

Owns ``Runtime`` and ``runtime()``, the blueprints' one way to reach it (through
``current_app.extensions["ivr"]``). Sits below the blueprints and the factory, so neither
imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from ivr.engine.compile import CompiledFlow
from ivr.engine.context import Services
from ivr.engine.step import Engine
from ivr.media.recordings import AudioLibrary
from ivr.settings import Settings
from ivr.stores.callbacks import CallbackBook
from ivr.stores.records import CallRecorder
from ivr.stores.sessions import SessionStore
from ivr.telephony.render import Voices
from ivr.telephony.signatures import SignatureChecker
from ivr.wallet.pins import PinKeys


@dataclass(frozen=True)
class Runtime:
    """Everything a webhook needs, built once per app."""

    engine: Engine
    store: SessionStore
    services: Services
    flows: Mapping[str, CompiledFlow]
    flow_name: str
    voices: Voices
    signatures: SignatureChecker | None
    database: sa.Engine
    records: CallRecorder  # call records, hand-offs and the agents' view of them
    settings: Settings  # read once by the entry point (or the factory); typed
    audio: AudioLibrary | None = None  # the recordings folder (None: not configured)
    audio_files: Mapping[str, Path] = field(default_factory=dict)  # what /audio/ may serve
    callbacks: CallbackBook | None = None  # callback requests and the dialer's attempts
    pins: PinKeys = field(default_factory=PinKeys.for_development)  # IVR_PIN_KEY (demo resets)

    def purge(self) -> tuple[int, int]:
        """Housekeeping (``ivr sessions purge``): expired sessions deleted, and waiting
        callers not seen for ``IVR_WAITING_TTL`` (ghosts) marked abandoned; both counts."""
        return self.store.purge(), self.records.expire_waiting()

    def play_text(self, url: str) -> str | None:
        """The words a ``<Play>`` of ``url`` says (the simulator's ``play_text``)."""
        return self.audio.play_text(url) if self.audio is not None else None


def runtime() -> Runtime:
    """The current app's ``Runtime``."""
    rt: Runtime = current_app.extensions["ivr"]
    return rt
