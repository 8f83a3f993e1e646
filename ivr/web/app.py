"""The app factory: settings, flows compiled once, stores and backends wired in.

Owns ``create_app``: it builds the ``Runtime`` (``ivr.web.runtime``) that the blueprints find
in ``app.extensions["ivr"]``.
Every dependency can be injected (clock, wallet, session store, recorder, action registry), so
tests pass fakes instead of monkeypatching. A broken flow stops start-up here, with the full
list of problems, before any call is answered. Recorded prompts are looked up once here too:
which are current, and the URLs ``<Play>`` uses (``IVR_AUDIO=off`` says everything).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.clock import Clock
from ivr.clock import SystemClock
from ivr.clock import parse_clock
from ivr.db import make_engine
from ivr.engine.catalog import load_flows
from ivr.engine.context import Services
from ivr.engine.registry import Registry
from ivr.engine.step import Engine
from ivr.errors import ConfigError
from ivr.flow.prompts import flow_prompts
from ivr.hotline.actions import hotline
from ivr.media.recordings import AudioLibrary
from ivr.settings import load_config
from ivr.stores import migrate
from ivr.stores.callbacks import CallbackBook
from ivr.stores.records import CallRecorder
from ivr.stores.sessions import SessionStore
from ivr.stores.sessions import open_session_store
from ivr.telephony.render import Voice
from ivr.telephony.render import Voices
from ivr.telephony.signatures import SignatureChecker
from ivr.wallet import Wallet
from ivr.wallet import ensure_demo
from ivr.web import agents
from ivr.web import audio as audio_web
from ivr.web import voice as webhooks
from ivr.web.runtime import Runtime


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
    try:
        # The embedded default SQLite file is ivr's to upgrade; a configured database is not.
        migrate.prepare(database, upgrade_if_behind=not config.get("IVR_DATABASE_URL"))
    except BaseException:
        database.dispose()  # start-up stops here: leave no connection behind
        raise
    if wallet is None:
        wallet = Wallet(database, clock)
        if config["IVR_DEMO_DATA"]:
            ensure_demo(database, clock)
    recorder = recorder or CallRecorder(database, clock)
    services = Services(
        wallet=wallet,
        clock=clock,
        recorder=recorder,
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
        records=recorder,
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
