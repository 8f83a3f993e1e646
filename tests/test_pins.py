"""PIN hashing: salted scrypt, a self-describing format, no PIN in the stored string."""

from __future__ import annotations

import base64

import pytest

from ivr.wallet.pins import hash_pin
from ivr.wallet.pins import pin_matches


def test_hash_is_self_describing_scrypt_with_moderate_cost() -> None:
    stored = hash_pin("123456")

    scheme, n, r, p, salt, digest = stored.split("$")

    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32


def test_hash_never_contains_the_pin() -> None:
    stored = hash_pin("123456")

    assert stored != "123456"
    assert "123456" not in stored


def test_same_pin_hashed_twice_gives_different_salts_and_hashes() -> None:
    first = hash_pin("123456")
    second = hash_pin("123456")

    assert first != second
    assert first.split("$")[4] != second.split("$")[4]
    assert pin_matches("123456", first) is True
    assert pin_matches("123456", second) is True


def test_right_pin_matches_and_wrong_pin_does_not() -> None:
    stored = hash_pin("246810")

    assert pin_matches("246810", stored) is True
    assert pin_matches("246811", stored) is False
    assert pin_matches("", stored) is False


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
    ],
)
def test_malformed_stored_value_never_matches(stored: str) -> None:
    assert pin_matches("123456", stored) is False
