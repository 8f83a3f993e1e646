"""The app factory: settings, flows compiled once, stores and backends wired in.

Owns ``create_app`` and ``Runtime`` (what the webhooks find in ``app.extensions["ivr"]``).
Every dependency can be injected (clock, wallet, session store, recorder, action registry), so
tests pass fakes instead of monkeypatching. A broken flow stops start-up here, with the full
list of problems, before any call is answered. Recorded prompts are looked up once here too:
which are current, and the URLs ``<Play>`` uses (``IVR_AUDIO=off`` says everything).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr import agents
from ivr import audio_web
from ivr import webhooks
from ivr.actions import hotline
from ivr.audio import AudioLibrary
from ivr.callbacks import CallbackBook
from ivr.catalog import load_flows
from ivr.clock import Clock
from ivr.clock import SystemClock
from ivr.clock import parse_clock
from ivr.config import load_config
from ivr.context import Services
from ivr.db import create_schema
from ivr.db import make_engine
from ivr.engine import CompiledFlow
from ivr.engine import Engine
from ivr.errors import ConfigError
from ivr.prompts import flow_prompts
from ivr.records import CallRecorder
from ivr.registry import Registry
from ivr.render import Voice
from ivr.render import Voices
from ivr.sessions import SessionStore
from ivr.sessions import open_session_store
from ivr.signature import SignatureChecker
from ivr.wallet import Wallet
from ivr.wallet import ensure_demo


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
    audio: AudioLibrary | None = None  # the recordings folder (None: not configured)
    audio_files: Mapping[str, Path] = field(default_factory=dict)  # what /audio/ may serve

    def play_text(self, url: str) -> str | None:
        """The words a ``<Play>`` of ``url`` says (the simulator's ``play_text``)."""
        return self.audio.play_text(url) if self.audio is not None else None


def database_url(config: Mapping[str, Any], instance_path: str) -> str:
    url = config.get("IVR_DATABASE_URL")
    if url:
        return str(url)
    return f"sqlite:///{Path(instance_path) / 'ivr.sqlite3'}"


def make_clock(config: Mapping[str, Any]) -> Clock:
    fixed = config.get("IVR_CLOCK")
    if not fixed:
        return SystemClock()
    try:
        return parse_clock(str(fixed))
    except ValueError as exc:
        raise ConfigError(
            f"IVR_CLOCK={fixed!r} is not an ISO 8601 time such as 2026-11-23T10:00:00+08:00"
        ) from exc


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    wallet: Wallet | None = None,
    store: SessionStore | None = None,
    recorder: CallRecorder | None = None,
    callbacks: CallbackBook | None = None,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """Build the IVR app. ``test_config`` overrides settings; the keyword arguments replace
    the services the settings would otherwise build."""
    app = Flask("ivr", instance_relative_config=True)
    config = load_config(os.environ if environ is None else environ, test_config)
    app.config.update(config)
    logging.basicConfig(level=str(config["IVR_LOG_LEVEL"]).upper())

    flows = load_flows(Path(config["IVR_FLOWS_DIR"]), registry or hotline)
    flow_name = str(config["IVR_FLOW"])
    if flow_name not in flows:
        raise ConfigError(
            f"IVR_FLOW={flow_name!r} is not one of the flows: {', '.join(sorted(flows))}"
        )

    clock = clock or make_clock(config)
    database = make_engine(database_url(config, app.instance_path))
    create_schema(database)
    if wallet is None:
        wallet = Wallet(database, clock)
        if config["IVR_DEMO_DATA"]:
            ensure_demo(database, clock)
    services = Services(
        wallet=wallet,
        clock=clock,
        recorder=recorder or CallRecorder(database, clock),
        callbacks=callbacks or CallbackBook(database, clock),
    )
    store = store or open_session_store(str(config["IVR_SESSION_STORE"]), database, clock)
    token = config.get("TWILIO_AUTH_TOKEN")
    library = AudioLibrary.open(Path(config["IVR_AUDIO_DIR"]))
    recordings = None
    if config["IVR_AUDIO"]:
        prompts = [p for compiled in flows.values() for p in flow_prompts(compiled.flow)]
        recordings = library.playlist(prompts, str(config.get("IVR_PUBLIC_URL") or ""))
    voices = Voices(
        {
            "zh-CN": Voice("cmn-CN", str(config["IVR_VOICE_ZH"])),
            "en-US": Voice("en-US", str(config["IVR_VOICE_EN"])),
        },
        recordings,
    )
    app.extensions["ivr"] = Runtime(
        engine=Engine(flows, services),
        store=store,
        services=services,
        flows=flows,
        flow_name=flow_name,
        voices=voices,
        signatures=SignatureChecker(str(token), config.get("IVR_PUBLIC_URL")) if token else None,
        database=database,
        audio=library,
        audio_files=library.files(),
    )
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(audio_web.bp)
    app.register_blueprint(agents.bp)
    if config["IVR_TRUST_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1, x_port=1, x_prefix=1)  # type: ignore[method-assign]

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "flows": sorted(flows)}

    return app
