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
Request bodies are capped and unsigned webhooks refused before their body is read
(``ivr.web.guards``); a public server without ``IVR_AGENT_TOKEN`` is logged at start-up,
as its agent pages will refuse everyone. A public server without ``IVR_PIN_KEY`` does not
start; a local one uses the published development PIN key, and says so in the log.

Every database connection and the session store keep to ``IVR_STORE_TIMEOUT``
(``ivr.stores.budgets``). Start-up refuses, with a ``ConfigError`` that names the store and the
fix, when the database or the session store does not answer; ``GET /health`` checks both
again, each within that budget, and answers 503 naming what failed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask import Response
from flask import jsonify
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
from ivr.stores.budgets import StoreBudget
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
from ivr.wallet.pins import PinKeys
from ivr.web import agents
from ivr.web import audio as audio_web
from ivr.web import dashboard
from ivr.web import guards
from ivr.web import home
from ivr.web import voice as webhooks
from ivr.web.runtime import Runtime

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


def database_url(settings: Settings, instance_path: str) -> str:
    """The configured database, or a SQLite file in the app's instance folder."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(instance_path) / 'ivr.sqlite3'}"


def make_clock(settings: Settings) -> Clock:
    """The clock ``IVR_CLOCK`` fixes, or the system's."""
    return FixedClock(settings.clock) if settings.clock is not None else SystemClock()


def _open_database(settings: Settings, instance_path: str, budget: StoreBudget) -> sa.Engine:
    """The database, at this version's schema, every connection within the store budget."""
    database = budget.limit(make_engine(database_url(settings, instance_path)))
    try:
        # The embedded default SQLite file is ivr's to upgrade; a configured database is not.
        migrate.prepare(database, upgrade_if_behind=not settings.database_url)
    except sa.exc.OperationalError as exc:
        database.dispose()  # start-up stops here: leave no connection behind
        where = database.url.render_as_string(hide_password=True)
        raise ConfigError(
            f"the database at {where} does not answer ({_first_line(exc.orig)}); start it, "
            "or point IVR_DATABASE_URL at one that runs"
        ) from exc
    except BaseException:
        database.dispose()  # start-up stops here: leave no connection behind
        raise
    return database


def pin_keys(settings: Settings) -> PinKeys:
    """The keys PIN hashes are made with: ``IVR_PIN_KEY`` (and ``IVR_PIN_KEY_OLD``). Without
    one, a public server is refused (``ConfigError``) and a local one uses the published
    development key, which the log says."""
    if settings.pin_key:
        old = [settings.pin_key_old] if settings.pin_key_old else []
        return PinKeys.of(settings.pin_key, old)
    if reasons := agents.public_because(settings):
        raise ConfigError(
            f"IVR_PIN_KEY is not set on this public server ({'; '.join(reasons)}): callers' "
            "PINs need a secret key kept outside the database. Set IVR_PIN_KEY to at least "
            "32 random characters (python -c 'import secrets; print(secrets.token_hex(32))') "
            "and keep it with TWILIO_AUTH_TOKEN, not in the database"
        )
    log.warning(
        "IVR_PIN_KEY is not set: PINs are hashed with the published development key, fit for "
        "a local server only; set IVR_PIN_KEY before this server takes real calls"
    )
    return PinKeys.for_development()


def _check_store(store: SessionStore, settings: Settings, database: sa.Engine) -> None:
    """Refuse to start when the session store does not answer."""
    try:
        store.check()
    except Exception as exc:
        database.dispose()
        raise ConfigError(
            f"the session store {settings.session_store} does not answer "
            f"({type(exc).__name__}: {_first_line(exc)}); start it, or set IVR_SESSION_STORE "
            "to one that runs (sql keeps sessions in the database)"
        ) from exc


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
    # The console's scripts, styles and vendored libraries (ivr/web/static/vendor/README.md).
    app = Flask("ivr", instance_relative_config=True, static_folder=STATIC)
    app.config.update(test_config or {})
    app.config.update(settings.as_config())

    flows = load_flows(
        settings.flows_dir, registry or hotline, matcher=settings.matcher, cache=settings.nlu_cache
    )
    flow_name = settings.flow
    if flow_name not in flows:
        raise ConfigError(
            f"IVR_FLOW={flow_name!r} is not one of the flows: {', '.join(sorted(flows))}"
        )
    answering = flows[flow_name].flow
    log.info("speech in menus: %s matcher", flows[flow_name].speech.matcher)
    if missing := answering_problems(answering):
        raise FlowValidationError(missing)

    clock = clock or make_clock(settings)
    pins = pin_keys(settings)
    budget = StoreBudget(settings.store_timeout)
    database = _open_database(settings, app.instance_path, budget)
    if wallet is None:
        wallet = Wallet(database, clock, pins)
        if settings.demo_data:
            ensure_demo(database, clock, pins)
    # A recorder built here writes to the database the SQL session store uses, so a save can
    # write the webhook's events in its own transaction; an injected one writes on its own.
    companion = None
    if recorder is None:
        recorder = companion = CallRecorder(
            database, clock, waiting_ttl=timedelta(seconds=settings.waiting_ttl)
        )
    callbacks = callbacks or CallbackBook(database, clock)
    services = Services(
        wallet=wallet,
        clock=clock,
        recorder=recorder,
        callbacks=callbacks,
    )
    store = store or open_session_store(
        settings.session_store, database, clock, budget=budget, companion=companion
    )
    _check_store(store, settings, database)
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
        callbacks=callbacks,
        pins=pins,
    )
    guards.install(app, settings)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(audio_web.bp)
    app.register_blueprint(agents.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(dashboard.bp)
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1, x_port=1, x_prefix=1)  # type: ignore[method-assign]

    if not settings.agent_token and (reasons := agents.public_because(settings)):
        log.warning(
            "the /agent pages are refused on this public server (%s) until IVR_AGENT_TOKEN is "
            "set; set it to a long random value and open /agent/?token=<token>",
            "; ".join(reasons),
        )

    @app.get("/health")
    def health() -> Response:
        """Whether calls can be answered now: the database and the session store each
        answer within the store budget. 503 names what failed."""
        checks = {
            "database": _check(lambda: _ping(database)),
            "sessions": _check(store.check),
        }
        failing = sorted(name for name, result in checks.items() if result["status"] != "ok")
        body = {
            "status": "failing: " + ", ".join(failing) if failing else "ok",
            "flows": sorted(flows),
            "checks": checks,
        }
        response = jsonify(body)
        response.status_code = 503 if failing else 200
        return response

    return app


def _ping(database: sa.Engine) -> None:
    with database.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _check(probe: Callable[[], None]) -> dict[str, object]:
    """Run ``probe``: ``ok`` or the error's first line, and the milliseconds it took."""
    start = time.monotonic()
    try:
        probe()
        result: dict[str, object] = {"status": "ok"}
    except Exception as exc:
        result = {"status": f"{type(exc).__name__}: {_first_line(exc)}"}
    result["ms"] = round((time.monotonic() - start) * 1000)
    return result


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
