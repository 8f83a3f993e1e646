"""Settings: typed and frozen, read once (defaults, then the environment, then a test config),
handed to the app as ``Runtime.settings`` and, under the environment names, ``app.config``."""

from __future__ import annotations

import ast
import dataclasses
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path

import pytest

from ivr.errors import ConfigError
from ivr.settings import PROJECT_ROOT
from ivr.settings import SETTINGS
from ivr.settings import Settings
from ivr.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_the_defaults_need_no_environment() -> None:
    settings = Settings.read({})
    assert settings == Settings()
    assert (settings.session_store, settings.flow, settings.log_level) == ("sql", "hotline", "INFO")
    assert settings.flows_dir == PROJECT_ROOT / "flows"
    assert (settings.audio, settings.demo_data, settings.trust_proxy) == ("recorded", True, False)
    assert (settings.database_url, settings.public_url, settings.clock) == (None, None, None)


def test_the_environment_is_parsed_into_typed_values() -> None:
    settings = Settings.read(
        {
            "IVR_FLOWS_DIR": "/srv/flows",
            "IVR_AUDIO": "off",
            "IVR_TRUST_PROXY": "yes",
            "IVR_CLOCK": "2026-11-23T10:00:00+08:00",
            "IVR_PUBLIC_URL": "https://abcd.ngrok.app/",
            "IVR_LOG_LEVEL": "debug",
            "IVR_SESSION_STORE": "redis://127.0.0.1:6379/0",
            "TWILIO_AUTH_TOKEN": "",
        }
    )
    assert settings.flows_dir == Path("/srv/flows")
    assert (settings.audio, settings.trust_proxy) == ("off", True)
    assert settings.clock == datetime(2026, 11, 23, 10, tzinfo=timezone(timedelta(hours=8)))
    assert settings.public_url == "https://abcd.ngrok.app"
    assert settings.log_level == "DEBUG"
    assert settings.session_store == "redis://127.0.0.1:6379/0"
    assert settings.twilio_auth_token is None  # set but empty: unset


def test_a_test_config_overrides_the_environment_with_text_or_typed_values(tmp_path: Path) -> None:
    settings = Settings.read(
        {"IVR_AUDIO": "on", "IVR_FLOW": "hotline"},
        {"IVR_AUDIO": False, "IVR_AUDIO_DIR": tmp_path, "IVR_FLOW": "survey"},
    )
    assert (settings.audio, settings.audio_dir, settings.flow) == ("off", tmp_path, "survey")


def test_variables_that_are_not_settings_are_ignored_in_the_environment() -> None:
    assert Settings.read({"IVR_REQUIRE_SERVICES": "1", "HOME": "/root"}) == Settings()


def test_an_unknown_setting_in_a_test_config_is_refused_naming_the_settings() -> None:
    with pytest.raises(ConfigError, match=r"^IVR_DATABSE_URL is not a setting; the settings are: "):
        Settings.read({}, {"IVR_DATABSE_URL": "sqlite://"})


def test_flask_keys_in_a_test_config_are_not_settings_and_are_left_alone() -> None:
    assert Settings.read({}, {"TESTING": True}) == Settings()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"IVR_SESSION_STORE": "mongodb://x"},
            "IVR_SESSION_STORE='mongodb://x' is not understood: use sql, memory or a redis:// URL",
        ),
        (
            {"IVR_PUBLIC_URL": "abcd.ngrok.app"},
            "IVR_PUBLIC_URL='abcd.ngrok.app' must start with https:// (or http://)",
        ),
        (
            {"IVR_CLOCK": "tomorrow"},
            "IVR_CLOCK='tomorrow' is not an ISO 8601 time such as 2026-11-23T10:00:00+08:00",
        ),
        (
            {"IVR_LOG_LEVEL": "loud"},
            "IVR_LOG_LEVEL='loud' is not a logging level: use DEBUG, INFO, WARNING, ERROR, "
            "CRITICAL",
        ),
        (
            {"IVR_DEMO_DATA": "maybe"},
            "IVR_DEMO_DATA='maybe': expected 1 or 0 (true/false, on/off)",
        ),
        (
            {"IVR_DIAL_RATE": "fast"},
            "IVR_DIAL_RATE='fast': expected calls per second, more than 0 and at most 100",
        ),
        (
            {"IVR_DIAL_RATE": "0"},
            "IVR_DIAL_RATE='0': expected calls per second, more than 0 and at most 100",
        ),
        (
            {"IVR_CALLBACK_ATTEMPTS": "many"},
            "IVR_CALLBACK_ATTEMPTS='many': expected a whole number of attempts from 1 to 20",
        ),
        (
            {"IVR_CALLBACK_ATTEMPTS": "0"},
            "IVR_CALLBACK_ATTEMPTS='0': expected a whole number of attempts from 1 to 20",
        ),
    ],
)
def test_a_malformed_setting_is_refused_saying_what_is_wanted(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.read(values)
    assert str(raised.value) == message


def test_a_typed_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^IVR_AUDIO=1: expected str or text$"):
        Settings.read({}, {"IVR_AUDIO": 1})


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().audio = False  # type: ignore[misc]


def test_the_app_holds_the_typed_settings_and_flask_sees_them_by_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    app = create_app(
        {"IVR_DATABASE_URL": url, "IVR_AUDIO": "off", "TESTING": True},
        environ={"IVR_CLOCK": "2026-11-23T10:00:00+08:00"},
    )
    settings = app.extensions["ivr"].settings
    assert (settings.database_url, settings.audio) == (url, "off")
    assert set(SETTINGS) <= set(app.config)
    assert app.config["IVR_AUDIO"] == "off"
    assert app.config["IVR_FLOWS_DIR"] == str(PROJECT_ROOT / "flows")
    assert app.config["IVR_CLOCK"] == "2026-11-23T10:00:00+08:00"
    assert app.config["TESTING"] is True
    app.extensions["ivr"].database.dispose()


def test_settings_handed_to_the_factory_are_used_without_reading_the_environment(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ivr.sqlite3'}", audio=False)
    app = create_app(settings=settings, environ={"IVR_SESSION_STORE": "not read"})
    assert app.extensions["ivr"].settings is settings
    app.extensions["ivr"].database.dispose()


def _environment_readers(path: Path) -> list[int]:
    """Lines of ``path`` that read ``os.environ`` or call ``os.getenv``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
        and node.attr in {"environ", "environb", "getenv"}
    ]


def test_only_the_entry_points_read_the_environment() -> None:
    readers = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "ivr").rglob("*.py"))
        if (lines := _environment_readers(path))
    }
    assert list(readers) == ["ivr/cli/main.py", "ivr/web/app.py"]
    assert all(len(lines) == 1 for lines in readers.values())
