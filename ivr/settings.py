"""Settings: defaults, then ``IVR_*`` (and ``TWILIO_AUTH_TOKEN``) from the environment, then
the test config, read in one place.

Owns every setting's name, default and parsing. Nothing else reads ``os.environ``: the app
factory puts the result in ``app.config`` and code reads it from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ivr.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# name: (default, description) — the README's settings table is written from this.
SETTINGS: dict[str, tuple[Any, str]] = {
    "IVR_DATABASE_URL": (
        None,
        "SQLAlchemy URL of the database; default: a SQLite file in instance/",
    ),
    "IVR_SESSION_STORE": (
        "sql",
        "where per-call state lives: sql (the database), redis://host:port/db, or memory",
    ),
    "IVR_FLOWS_DIR": (str(PROJECT_ROOT / "flows"), "folder of flow files"),
    "IVR_FLOW": ("hotline", "the flow that answers /voice"),
    "IVR_PUBLIC_URL": (
        None,
        "public base URL Twilio calls (e.g. https://abcd.ngrok.app), for signature checks",
    ),
    "IVR_TRUST_PROXY": (False, "trust X-Forwarded-Proto/Host from one proxy in front of the app"),
    "TWILIO_AUTH_TOKEN": (None, "when set, every webhook must carry a valid X-Twilio-Signature"),
    "IVR_AGENT_TOKEN": (None, "when set, the /agent pages need it (Bearer token or ?token=)"),
    "IVR_CLOCK": (None, "fix the clock at an ISO 8601 time, e.g. 2026-11-23T10:00:00+08:00"),
    "IVR_DEMO_DATA": (True, "create the demo accounts when the database is empty"),
    "IVR_AUDIO": (True, "play recorded prompts where current ones exist; off: <Say> everything"),
    "IVR_AUDIO_DIR": (str(PROJECT_ROOT / "audio_prompts"), "folder of recorded prompts"),
    "IVR_VOICE_ZH": ("Polly.Zhiyu-Neural", "Twilio voice for Mandarin prompts"),
    "IVR_VOICE_EN": ("Polly.Joanna-Neural", "Twilio voice for English prompts"),
    "IVR_LOG_LEVEL": ("INFO", "logging level"),
}
BOOLEAN = {"IVR_TRUST_PROXY", "IVR_DEMO_DATA", "IVR_AUDIO"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_config(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then the environment, then ``overrides`` (a test config)."""
    config: dict[str, Any] = {name: default for name, (default, _) in SETTINGS.items()}
    for name in SETTINGS:
        if name in environ:
            config[name] = _parse(name, environ[name])
    if overrides:
        config.update(overrides)
    store = str(config["IVR_SESSION_STORE"])
    if store not in {"sql", "memory"} and not store.startswith(("redis://", "rediss://")):
        raise ConfigError(
            f"IVR_SESSION_STORE={store!r} is not understood: use sql, memory or a redis:// URL"
        )
    if config["IVR_PUBLIC_URL"]:
        url = str(config["IVR_PUBLIC_URL"]).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"IVR_PUBLIC_URL={url!r} must start with https:// (or http://)")
        config["IVR_PUBLIC_URL"] = url
    return config


def _parse(name: str, raw: str) -> Any:
    if name in BOOLEAN:
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(f"{name}={raw!r}: expected 1 or 0 (true/false, on/off)")
    return raw or None
