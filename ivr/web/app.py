"""The app factory: settings, flows compiled once, stores and backends wired in.

Owns ``create_app``: it builds the ``Runtime`` (``ivr.web.runtime``) that the blueprints find
in ``app.extensions["ivr"]``, typed ``Settings`` included (and their values in ``app.config``
under the environment names, for Flask users). It reads the environment only when no one
handed it settings, and never configures logging: that is the entry point's job
(``ivr serve`` and the other commands; a WSGI server's own configuration otherwise).
Every dependency can be injected (clock, wallet, session store, recorder, action registry), so
tests pass fakes instead of monkeypatching. A broken flow stops start-up here, with the full
list of problems, before any call is answered. Recorded prompts are looked up once here too:
which are current, and the URLs ``<Play>`` uses (``IVR_AUDIO=off`` says everything).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.clock import Clock
from ivr.clock import FixedClock
from ivr.clock import SystemClock
from ivr.db import make_engine
from ivr.engine.catalog import load_flows
from ivr.engine.context import Services
from ivr.engine.registry import Registry
from ivr.engine.step import Engine
from ivr.errors import ConfigError
from ivr.errors import FlowValidationError
from ivr.flow.prompts import flow_prompts
from ivr.flow.validation import answering_problems
from ivr.hotline.actions import hotline
from ivr.media.recordings import AudioLibrary
from ivr.settings import Settings
from ivr.stores import migrate
from ivr.stores.callbacks import CallbackBook
from ivr.stores.records import CallRecorder
from ivr.stores.sessions import SessionStore
from ivr.stores.sessions import open_session_store
from ivr.telephony.render import Announcements
from ivr.telephony.render import Voice
from ivr.telephony.render import Voices
from ivr.telephony.signatures import SignatureChecker
from ivr.voice.languages import LANGUAGES
from ivr.wallet import Wallet
from ivr.wallet import ensure_demo
from ivr.web import agents
from ivr.web import audio as audio_web
from ivr.web import voice as webhooks
from ivr.web.runtime import Runtime


def database_url(settings: Settings, instance_path: str) -> str:
    """The configured database, or a SQLite file in the app's instance folder."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(instance_path) / 'ivr.sqlite3'}"


def make_clock(settings: Settings) -> Clock:
    """The clock ``IVR_CLOCK`` fixes, or the system's."""
    return FixedClock(settings.clock) if settings.clock is not None else SystemClock()


def create_app(
    test_config: Mapping[str, object] | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    wallet: Wallet | None = None,
    store: SessionStore | None = None,
    recorder: CallRecorder | None = None,
    callbacks: CallbackBook | None = None,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """Build the IVR app.

    ``settings`` are the ones the entry point read; without them the factory reads them from
    ``environ`` (default: the process environment). ``test_config`` then overrides settings
    by name (``{"IVR_AUDIO": False}``); its other keys (``TESTING``) go to ``app.config`` as
    they are. The keyword arguments replace the services the settings would otherwise build.
    """
    if settings is None:
        settings = Settings.read(os.environ if environ is None else environ)
    settings = settings.with_values(test_config or {})
    app = Flask("ivr", instance_relative_config=True)
    app.config.update(test_config or {})
    app.config.update(settings.as_config())

    flows = load_flows(settings.flows_dir, registry or hotline)
    flow_name = settings.flow
    if flow_name not in flows:
        raise ConfigError(
            f"IVR_FLOW={flow_name!r} is not one of the flows: {', '.join(sorted(flows))}"
        )
    answering = flows[flow_name].flow
    if missing := answering_problems(answering):
        raise FlowValidationError(missing)

    clock = clock or make_clock(settings)
    database = make_engine(database_url(settings, app.instance_path))
    try:
        # The embedded default SQLite file is ivr's to upgrade; a configured database is not.
        migrate.prepare(database, upgrade_if_behind=not settings.database_url)
    except BaseException:
        database.dispose()  # start-up stops here: leave no connection behind
        raise
    if wallet is None:
        wallet = Wallet(database, clock)
        if settings.demo_data:
            ensure_demo(database, clock)
    recorder = recorder or CallRecorder(database, clock)
    services = Services(
        wallet=wallet,
        clock=clock,
        recorder=recorder,
        callbacks=callbacks or CallbackBook(database, clock),
    )
    store = store or open_session_store(settings.session_store, database, clock)
    token = settings.twilio_auth_token
    library = AudioLibrary.open(settings.audio_dir)
    recordings = None
    if settings.audio in ("recorded", "all"):  # machine-made previews only with "all"
        prompts = [p for compiled in flows.values() for p in flow_prompts(compiled.flow)]
        recordings = library.playlist(
            prompts, settings.public_url or "", machine=settings.audio == "all"
        )
    # Each language's default Twilio voice, unless its setting (IVR_VOICE_ZH...) names another.
    voices = Voices(
        {lang.code: Voice.of(lang, app.config.get(lang.voice_setting)) for lang in LANGUAGES},
        recordings,
        Announcements.of(answering),  # the apology is taken now, never read mid-call
    )
    app.extensions["ivr"] = Runtime(
        engine=Engine(flows, services),
        store=store,
        services=services,
        flows=flows,
        flow_name=flow_name,
        voices=voices,
        signatures=SignatureChecker(token, settings.public_url) if token else None,
        database=database,
        records=recorder,
        settings=settings,
        audio=library,
        audio_files=library.files(),
    )
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(audio_web.bp)
    app.register_blueprint(agents.bp)
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1, x_port=1, x_prefix=1)  # type: ignore[method-assign]

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "flows": sorted(flows)}

    return app
