"""PIN hashing: HMAC-SHA256 under a key kept outside the database, salted, self-describing;
the old scrypt hashes still verify and are upgraded; keys rotate; a public server needs one."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.clock import ManualClock
from ivr.db import make_engine
from ivr.errors import ConfigError
from ivr.settings import Settings
from ivr.stores import migrate
from ivr.wallet import DEMO_PIN
from ivr.wallet import Wallet
from ivr.wallet import seed_demo
from ivr.wallet.demo import ZHANG_WEI
from ivr.wallet.pins import DEVELOPMENT_KEY
from ivr.wallet.pins import PinKeys
from ivr.wallet.pins import key_id
from ivr.wallet.pins import stored_key_id
from ivr.wallet.tables import AccountRow
from ivr.web.app import pin_keys

KEY = "a" * 32 + "-current"
OLD_KEY = "b" * 32 + "-previous"
KEYS = PinKeys.of(KEY)


def scrypt_hash(pin: str, salt: bytes = b"0123456789abcdef") -> str:
    """A hash in the format stored before keyed hashes: scrypt$n$r$p$salt$hash."""
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    encoded = [base64.b64encode(x).decode() for x in (salt, digest)]
    return "$".join(["scrypt", "16384", "8", "1", *encoded])


def test_hash_is_self_describing_hmac_naming_its_key_not_holding_it() -> None:
    stored = KEYS.hash("123456")

    scheme, named, salt, mac = stored.split("$")

    assert scheme == "hmac-sha256"
    assert named == key_id(KEY.encode())
    assert len(named) == 8
    assert KEY not in stored
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(mac)) == 32


def test_hash_never_contains_the_pin() -> None:
    stored = KEYS.hash("123456")

    assert "123456" not in stored


def test_same_pin_hashed_twice_gives_different_salts_and_hashes() -> None:
    first = KEYS.hash("123456")
    second = KEYS.hash("123456")

    assert first != second
    assert first.split("$")[2] != second.split("$")[2]
    assert KEYS.matches("123456", first) is True
    assert KEYS.matches("123456", second) is True


def test_right_pin_matches_and_wrong_pin_does_not() -> None:
    stored = KEYS.hash("246810")

    assert KEYS.matches("246810", stored) is True
    assert KEYS.matches("246811", stored) is False
    assert KEYS.matches("", stored) is False


def test_a_hash_cannot_be_checked_without_its_key() -> None:
    stored = KEYS.hash("246810")

    assert PinKeys.of("c" * 40).matches("246810", stored) is False
    assert PinKeys.for_development().matches("246810", stored) is False


def test_a_hash_under_the_old_key_verifies_after_rotation_and_asks_for_an_upgrade() -> None:
    stored = PinKeys.of(OLD_KEY).hash("246810")
    rotated = PinKeys.of(KEY, [OLD_KEY])

    assert rotated.matches("246810", stored) is True
    assert rotated.matches("246811", stored) is False
    assert rotated.needs_upgrade(stored) is True
    assert rotated.needs_upgrade(rotated.hash("246810")) is False


def test_an_old_scrypt_hash_verifies_and_asks_for_an_upgrade() -> None:
    stored = scrypt_hash("246810")

    assert KEYS.matches("246810", stored) is True
    assert KEYS.matches("246811", stored) is False
    assert KEYS.needs_upgrade(stored) is True


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "123456",
        "bcrypt$16384$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$AAAA",
        "scrypt$abc$8$1$AAAA$AAAA",
        "scrypt$1000$8$1$AAAA$AAAA",
        "scrypt$1073741824$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$!!!!$AAAA",
        "scrypt$16384$8$1$$AAAA",
        "hmac-sha256$00000000$AAAA$AAAA",
        f"hmac-sha256${key_id(KEY.encode())}$!!!!$AAAA",
        f"hmac-sha256${key_id(KEY.encode())}$$AAAA",
        f"hmac-sha256${key_id(KEY.encode())}$AAAA",
    ],
)
def test_malformed_stored_value_never_matches(stored: str) -> None:
    assert KEYS.matches("123456", stored) is False


def test_only_a_hash_under_a_known_key_or_scrypt_can_be_checked() -> None:
    rotated = PinKeys.of(KEY, [OLD_KEY])

    assert rotated.can_check(KEYS.hash("246810")) is True
    assert rotated.can_check(PinKeys.of(OLD_KEY).hash("246810")) is True
    assert rotated.can_check(scrypt_hash("246810")) is True
    assert rotated.can_check(PinKeys.for_development().hash("246810")) is False
    assert rotated.can_check("123456") is False


def test_a_hash_names_its_key_id_and_nothing_else_does() -> None:
    assert stored_key_id(KEYS.hash("246810")) == KEYS.key_id
    assert stored_key_id(scrypt_hash("246810")) is None
    assert stored_key_id("123456") is None


def test_keys_never_show_in_a_repr() -> None:
    shown = repr(PinKeys.of(KEY, [OLD_KEY]))

    assert KEY not in shown
    assert OLD_KEY not in shown


# -- the wallet upgrades stored hashes -------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'pins.sqlite3'}")
    migrate.upgrade(engine)
    return engine


def stored_hash(engine: sa.Engine, phone: str) -> str:
    with engine.connect() as conn:
        value: str = conn.execute(
            sa.select(AccountRow.pin_hash).where(AccountRow.phone == phone)
        ).scalar_one()
    return value


def set_hash(engine: sa.Engine, phone: str, stored: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(AccountRow).where(AccountRow.phone == phone).values(pin_hash=stored))


CLOCK = ManualClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


def test_an_scrypt_hash_is_rewritten_with_the_key_at_the_next_right_pin(engine: sa.Engine) -> None:
    seed_demo(engine, CLOCK, KEYS)
    wallet = Wallet(engine, CLOCK, KEYS)
    set_hash(engine, ZHANG_WEI, scrypt_hash(DEMO_PIN))
    account = wallet.find_by_phone(ZHANG_WEI)
    assert account is not None

    wrong = wallet.verify_pin(account.id, "000000")
    kept = stored_hash(engine, ZHANG_WEI)
    right = wallet.verify_pin(account.id, DEMO_PIN)
    upgraded = stored_hash(engine, ZHANG_WEI)

    assert wrong.ok is False
    assert kept.startswith("scrypt$")
    assert right.ok is True
    assert right.failures == 0
    assert upgraded.split("$")[:2] == ["hmac-sha256", KEYS.key_id]
    assert KEYS.matches(DEMO_PIN, upgraded) is True
    assert wallet.verify_pin(account.id, DEMO_PIN).ok is True
    assert stored_hash(engine, ZHANG_WEI) == upgraded  # a current hash is left as it is


def test_after_rotation_a_hash_under_the_old_key_moves_to_the_new_one(engine: sa.Engine) -> None:
    old = PinKeys.of(OLD_KEY)
    seed_demo(engine, CLOCK, old)
    rotated = PinKeys.of(KEY, [OLD_KEY])
    account = Wallet(engine, CLOCK, old).find_by_phone(ZHANG_WEI)
    assert account is not None

    check = Wallet(engine, CLOCK, rotated).verify_pin(account.id, DEMO_PIN)

    assert check.ok is True
    assert stored_hash(engine, ZHANG_WEI).split("$")[1] == KEYS.key_id
    assert Wallet(engine, CLOCK, KEYS).verify_pin(account.id, DEMO_PIN).ok is True


def test_a_hash_under_a_key_the_server_lacks_is_never_counted_as_a_wrong_pin(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Demo data hashed with the development key, then IVR_PIN_KEY set without `ivr demo
    # reset`: the right PIN cannot pass, and five tries lock nothing.
    seed_demo(engine, CLOCK, PinKeys.for_development())
    wallet = Wallet(engine, CLOCK, KEYS)
    account = wallet.find_by_phone(ZHANG_WEI)
    assert account is not None
    caplog.set_level(logging.ERROR, logger="ivr.wallet.service")

    checks = [wallet.verify_pin(account.id, DEMO_PIN) for _ in range(5)]

    assert {(c.ok, c.unchecked, c.failures, c.locked_until) for c in checks} == {
        (False, True, 0, None)
    }
    assert wallet.pin_locked_until(account.id) is None
    development = PinKeys.for_development().key_id
    assert caplog.messages[0] == (
        f"account {account.id}: its PIN hash cannot be checked here (made with key id "
        f"{development}, which is not IVR_PIN_KEY or IVR_PIN_KEY_OLD); set IVR_PIN_KEY_OLD to "
        "the key that made it, or reset the PIN (`ivr demo reset` for the demo accounts)"
    )
    assert DEMO_PIN not in caplog.text
    # with the old key given, the same PIN passes and moves to the new key
    rotated = Wallet(engine, CLOCK, PinKeys.of(KEY, [DEVELOPMENT_KEY]))
    assert rotated.verify_pin(account.id, DEMO_PIN).ok is True
    assert stored_hash(engine, ZHANG_WEI).split("$")[1] == KEYS.key_id


# -- where the key comes from --------------------------------------------------------------


def test_the_key_comes_from_ivr_pin_key_and_the_old_one_from_ivr_pin_key_old() -> None:
    settings = Settings.read({"IVR_PIN_KEY": KEY, "IVR_PIN_KEY_OLD": OLD_KEY})

    keys = pin_keys(settings)

    assert keys == PinKeys.of(KEY, [OLD_KEY])


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ({"TWILIO_AUTH_TOKEN": "token"}, "TWILIO_AUTH_TOKEN is set"),
        ({"IVR_PUBLIC_URL": "https://ivr.example.com"}, "IVR_PUBLIC_URL is set"),
    ],
)
def test_a_public_server_without_a_pin_key_does_not_start(
    setting: dict[str, str], why: str
) -> None:
    with pytest.raises(ConfigError) as error:
        pin_keys(Settings.read(setting))

    assert str(error.value).startswith(f"IVR_PIN_KEY is not set on this public server ({why})")


def test_a_local_server_without_a_pin_key_uses_the_development_key_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="ivr.web.app"):
        keys = pin_keys(Settings())

    assert keys.development is True
    assert keys.key == DEVELOPMENT_KEY.encode()
    assert caplog.messages == [
        "IVR_PIN_KEY is not set: PINs are hashed with the published development key, fit for "
        "a local server only; set IVR_PIN_KEY before this server takes real calls"
    ]


def test_a_short_pin_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.read({"IVR_PIN_KEY": "short"})

    assert str(error.value) == (
        "IVR_PIN_KEY is too short (5 characters): use at least 32 random ones, e.g. from "
        "`python -c 'import secrets; print(secrets.token_hex(32))'`"
    )


def test_a_command_on_a_public_server_without_a_pin_key_says_what_to_set(
    runner: CliRunner,
) -> None:
    result = runner.invoke(main, ["demo", "reset"], env={"TWILIO_AUTH_TOKEN": "secret"})

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[0].startswith(
        "error: IVR_PIN_KEY is not set on this public server (TWILIO_AUTH_TOKEN is set)"
    )


def test_settings_never_show_their_secrets_in_a_repr() -> None:
    settings = Settings.read(
        {"IVR_PIN_KEY": KEY, "IVR_PIN_KEY_OLD": OLD_KEY, "TWILIO_AUTH_TOKEN": "twilio-secret"}
    )

    shown = repr(settings)

    assert KEY not in shown
    assert OLD_KEY not in shown
    assert "twilio-secret" not in shown
