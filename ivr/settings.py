"""Settings: typed, frozen, read once: defaults, then the environment, then a test config.

Owns every setting's environment name (``IVR_*``, ``TWILIO_*``), default, description,
parsing and checks, and ``Settings``, the value that carries them. The entry point reads it
once and hands it down: the ``ivr`` command's group callback keeps it in click's ``ctx.obj``;
``create_app`` reads it itself only when no one handed it one, puts it in the app's
``Runtime`` for the code, and copies its values into ``app.config`` under the environment
names, for Flask users. Nothing else reads ``os.environ``.

Must not import anything above the kernel (``ivr.errors``): no Flask, no click.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Each parser turns the environment's text into the typed value, or raises ConfigError.
Parse = Callable[[str, str], Any]


def _text(name: str, raw: str) -> str:
    return raw


def _optional_text(name: str, raw: str) -> str | None:
    return raw or None


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected 1 or 0 (true/false, on/off)")


AUDIO_MODES = ("recorded", "all", "off")


def _audio_mode(name: str, raw: str) -> str:
    """``recorded``, ``all`` or ``off``; the old on/off words mean recorded/off."""
    value = raw.strip().lower()
    if value in AUDIO_MODES:
        return value
    if value in _TRUE:
        return "recorded"
    if value in _FALSE:
        return "off"
    raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(AUDIO_MODES)}")


def _folder(name: str, raw: str) -> Path:
    return Path(raw)


MATCHERS = ("auto", "rules", "trained")


def _matcher(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in MATCHERS:
        raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(MATCHERS)}")
    return value


def _session_store(name: str, raw: str) -> str:
    if raw not in {"sql", "memory"} and not raw.startswith(("redis://", "rediss://")):
        raise ConfigError(f"{name}={raw!r} is not understood: use sql, memory or a redis:// URL")
    return raw


def _public_url(name: str, raw: str) -> str | None:
    url = raw.rstrip("/")
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{name}={url!r} must start with https:// (or http://)")
    return url


def _moment(name: str, raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not an ISO 8601 time such as 2026-11-23T10:00:00+08:00"
        ) from None


def _byte_count(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name}={raw!r} is not a size: use a whole number of bytes, e.g. 65536")
    return value


def _url_prefixes(name: str, raw: str) -> tuple[str, ...]:
    prefixes = tuple(p.strip() for p in raw.split(",") if p.strip())
    for prefix in prefixes:
        if not prefix.startswith(("https://", "http://")) or "/" not in prefix.split("://")[1]:
            raise ConfigError(
                f"{name}: {prefix!r} is not a URL prefix such as https://api.twilio.com/ "
                "(scheme, host and a slash)"
            )
    return prefixes


PIN_KEY_MIN_CHARS = 32


def _secret_key(name: str, raw: str) -> str | None:
    """A secret key as text, long enough to be unguessable; empty: not set."""
    key = raw.strip()
    if not key:
        return None
    if len(key) < PIN_KEY_MIN_CHARS:
        raise ConfigError(
            f"{name} is too short ({len(key)} characters): use at least {PIN_KEY_MIN_CHARS} "
            "random ones, e.g. from `python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return key


def _log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"{name}={raw!r} is not a logging level: use {', '.join(_LOG_LEVELS)}")
    return level


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds, such as 2 or 0.5") from None
    if not 0 < value <= 86400:
        raise ConfigError(f"{name}={raw!r}: expected more than 0 and at most 86400 seconds (a day)")
    return value


def _rate(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 100:
        raise ConfigError(f"{name}={raw!r}: expected calls per second, more than 0 and at most 100")
    return value


def _attempts(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= 20:
        raise ConfigError(f"{name}={raw!r}: expected a whole number of attempts from 1 to 20")
    return value


def _setting(
    name: str,
    default: Any,
    parse: Parse,
    description: str,
    kind: type = str,
    *,
    secret: bool = False,
) -> Any:
    """A field of ``Settings`` read from the environment variable ``name``; ``kind`` is the
    type a test config may give instead of text. A ``secret`` never shows in a repr."""
    metadata = {"name": name, "parse": parse, "description": description, "kind": kind}
    return field(default=default, metadata=metadata, repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Every setting, typed. ``Settings()`` holds the defaults; ``Settings.read`` the
    environment's; ``with_values`` changes some by their environment names."""

    database_url: str | None = _setting(
        "IVR_DATABASE_URL",
        None,
        _optional_text,
        "SQLAlchemy URL of the database; default: a SQLite file in instance/",
    )
    session_store: str = _setting(
        "IVR_SESSION_STORE",
        "sql",
        _session_store,
        "where per-call state lives: sql (the database), redis://host:port/db, or memory",
    )
    flows_dir: Path = _setting(
        "IVR_FLOWS_DIR", PROJECT_ROOT / "flows", _folder, "folder of flow files", Path
    )
    flow: str = _setting("IVR_FLOW", "hotline", _text, "the flow that answers /voice")
    public_url: str | None = _setting(
        "IVR_PUBLIC_URL",
        None,
        _public_url,
        "public base URL Twilio calls (e.g. https://abcd.ngrok.app), for signature checks",
    )
    trust_proxy: bool = _setting(
        "IVR_TRUST_PROXY",
        False,
        _boolean,
        "trust X-Forwarded-Proto/Host from one proxy in front of the app",
        bool,
    )
    twilio_auth_token: str | None = _setting(
        "TWILIO_AUTH_TOKEN",
        None,
        _optional_text,
        "when set, every webhook must carry a valid X-Twilio-Signature",
        secret=True,
    )
    twilio_account_sid: str | None = _setting(
        "TWILIO_ACCOUNT_SID",
        None,
        _optional_text,
        "the Twilio account whose number `ivr twilio connect` points at this IVR",
    )
    pin_key: str | None = _setting(
        "IVR_PIN_KEY",
        None,
        _secret_key,
        "secret key PIN hashes are made with (HMAC-SHA256), kept outside the database; "
        "required on a public server; without it a local server uses a published "
        "development key",
        secret=True,
    )
    pin_key_old: str | None = _setting(
        "IVR_PIN_KEY_OLD",
        None,
        _secret_key,
        "the previous IVR_PIN_KEY while rotating: its hashes still verify and are rewritten "
        "with IVR_PIN_KEY at the next correct entry",
        secret=True,
    )
    agent_token: str | None = _setting(
        "IVR_AGENT_TOKEN",
        None,
        _optional_text,
        "the /agent pages need it (Bearer token or ?token=); without it they answer only "
        "local requests on a server that is not public",
        secret=True,
    )
    max_body_bytes: int = _setting(
        "IVR_MAX_BODY_BYTES",
        64 * 1024,
        _byte_count,
        "largest request body accepted (413 above it); Twilio's webhooks are a few KB",
        int,
    )
    recording_urls: tuple[str, ...] = _setting(
        "IVR_RECORDING_URLS",
        ("https://api.twilio.com/",),
        _url_prefixes,
        "comma-separated URL prefixes a voicemail's RecordingUrl may start with; others are "
        "refused",
        tuple,
    )
    clock: datetime | None = _setting(
        "IVR_CLOCK",
        None,
        _moment,
        "fix the clock at an ISO 8601 time, e.g. 2026-11-23T10:00:00+08:00",
        datetime,
    )
    demo_data: bool = _setting(
        "IVR_DEMO_DATA",
        True,
        _boolean,
        "create the demo accounts when the database is empty",
        bool,
    )
    audio: str = _setting(
        "IVR_AUDIO",
        "recorded",
        _audio_mode,
        "recorded: play current recordings a person made; all: machine-made (espeak-ng) "
        "previews too; off: <Say> everything",
    )
    audio_dir: Path = _setting(
        "IVR_AUDIO_DIR",
        PROJECT_ROOT / "audio_prompts",
        _folder,
        "folder of recorded prompts",
        Path,
    )
    voice_zh: str = _setting(
        "IVR_VOICE_ZH", "Polly.Zhiyu-Neural", _text, "Twilio voice for Mandarin prompts"
    )
    voice_en: str = _setting(
        "IVR_VOICE_EN", "Polly.Joanna-Neural", _text, "Twilio voice for English prompts"
    )
    log_level: str = _setting("IVR_LOG_LEVEL", "INFO", _log_level, "logging level")
    matcher: str = _setting(
        "IVR_MATCHER",
        "auto",
        _matcher,
        "what understands speech in menus: rules, trained (needs the extra ivr[nlu]), or auto "
        "(trained when ivr[nlu] is installed)",
    )
    nlu_cache: Path = _setting(
        "IVR_NLU_CACHE",
        PROJECT_ROOT / "flows" / "nlu",
        _folder,
        "folder of trained speech models, named by the hash of the flow data they learnt "
        "(the shipped flow's are committed there, so a fresh clone starts without training)",
        Path,
    )
    # Time budgets: Twilio waits 15 s for a webhook, so no store may hold one up for long.
    store_timeout: float = _setting(
        "IVR_STORE_TIMEOUT",
        2.0,
        _seconds,
        "seconds one database or session-store operation may take (connect, lock wait, "
        "statement, Redis socket) before the caller hears the apology",
        float,
    )
    lock_wait: float = _setting(
        "IVR_LOCK_WAIT",
        3.0,
        _seconds,
        "seconds a webhook waits for another webhook of the same call to finish",
        float,
    )
    waiting_ttl: float = _setting(
        "IVR_WAITING_TTL",
        900.0,
        _seconds,
        "seconds a caller waiting for an agent stays listed without their hold page being "
        "fetched; then they are taken for gone (a ghost) and `ivr sessions purge` drops them",
        float,
    )

    # The callback dialer (`ivr callbacks run`).
    dial: bool = _setting(
        "IVR_DIAL",
        True,
        _boolean,
        "off: `ivr callbacks run` places no calls and says what it would do (a dry run, also "
        "the case without Twilio credentials)",
        bool,
    )
    callback_from: str | None = _setting(
        "IVR_CALLBACK_FROM",
        None,
        _optional_text,
        "the Twilio number callbacks are placed from, in E.164 form (+14155550100)",
    )
    callback_flow: str = _setting(
        "IVR_CALLBACK_FLOW", "callback", _text, "the flow that speaks when a callback is answered"
    )
    dial_rate: float = _setting(
        "IVR_DIAL_RATE",
        1.0,
        _rate,
        "callbacks placed per second at most (Twilio's default for an account is 1)",
        float,
    )
    callback_attempts: int = _setting(
        "IVR_CALLBACK_ATTEMPTS",
        3,
        _attempts,
        "calls made for one callback (busy, no answer, a machine) before it becomes a ticket",
        int,
    )
    callback_retry: float = _setting(
        "IVR_CALLBACK_RETRY",
        600.0,
        _seconds,
        "seconds between two attempts of one callback",
        float,
    )
    callback_lease: float = _setting(
        "IVR_CALLBACK_LEASE",
        120.0,
        _seconds,
        "seconds a dialer holds a callback it is calling before another may settle it (more "
        "than Twilio's ring time; an answered call holds it for an hour)",
        float,
    )

    @classmethod
    def read(
        cls, environ: Mapping[str, str], overrides: Mapping[str, object] | None = None
    ) -> Settings:
        """Defaults, then the settings in ``environ`` (other variables are ignored), then
        ``overrides`` (a test config, by the same names)."""
        given = {name: environ[name] for name in _FIELDS if name in environ}
        return cls().with_values(given).with_values(overrides or {})

    def with_values(self, values: Mapping[str, object]) -> Settings:
        """These settings with some changed by name (``{"IVR_AUDIO": "off"}``). Text is parsed
        as the environment's is; a typed value (``False``, a ``Path``) is taken if it has the
        setting's type. Keys that are not ``IVR_*``/``TWILIO_*`` are not settings (Flask's
        ``TESTING``, say) and are left alone; an unknown ``IVR_*`` name is refused."""
        changes: dict[str, Any] = {}  # each value checked against its field by _typed
        for name, value in values.items():
            if name not in _FIELDS:
                if name.startswith(("IVR_", "TWILIO_")):
                    raise ConfigError(
                        f"{name} is not a setting; the settings are: {', '.join(_FIELDS)}"
                    )
                continue
            changes[_FIELDS[name].name] = _typed(_FIELDS[name], value)
        return dataclasses.replace(self, **changes) if changes else self

    def as_config(self) -> dict[str, object]:
        """The settings by environment name, as plain values (paths and times as text): what
        ``create_app`` puts in ``app.config``."""
        config: dict[str, object] = {}
        for name, f in _FIELDS.items():
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            config[name] = value
        return config


# environment name -> the dataclass field that holds it
_FIELDS: dict[str, dataclasses.Field[Any]] = {
    f.metadata["name"]: f for f in dataclasses.fields(Settings)
}

# name: (default, description): what the README's Settings table lists.
SETTINGS: dict[str, tuple[object, str]] = {
    name: (f.default, f.metadata["description"]) for name, f in _FIELDS.items()
}


def _typed(f: dataclasses.Field[Any], value: object) -> object:
    """``value`` for the setting in field ``f``: text parsed, typed values checked."""
    name = f.metadata["name"]
    if isinstance(value, str):
        return f.metadata["parse"](name, value)
    if isinstance(value, bool) and f.metadata["kind"] is str:
        return f.metadata["parse"](name, str(value))  # IVR_AUDIO=False: the word "false"
    if value is None and f.default is None:
        return None
    kind: type = f.metadata["kind"]
    if not isinstance(value, kind):
        raise ConfigError(f"{name}={value!r}: expected {kind.__name__} or text")
    return value
