"""PIN hashing: HMAC-SHA256 keyed by a secret that lives outside the database (a "pepper").

Owns ``PinKeys`` (the current key, older keys still accepted, the development key), the stored
format ``hmac-sha256$<key id>$<salt b64>$<mac b64>``, reading the older scrypt format
``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, and the constant-time comparisons.

Why a keyed hash and not a slow one: a 6-digit PIN has a million values, so no affordable hash
cost stops a guesser who holds a leaked database. A MAC under a key the database never holds
does (NIST SP 800-63B's pepper): without ``IVR_PIN_KEY`` a stolen hash cannot be tested at
all. One check costs microseconds, so the hot path pays nothing; the lockout
(``ivr.wallet.service``) stays the defence against guessing on the phone.

The key id in a stored hash is a short digest of the key (never the key), so a hash names the
key that made it: after rotation (``IVR_PIN_KEY`` new, ``IVR_PIN_KEY_OLD`` the previous one)
hashes under the old key still verify, and ``needs_upgrade`` says which to rewrite on the next
correct entry, as it does for scrypt hashes. Touches no database and no clock. A PIN never
appears in a log line, an exception message or a repr: this module logs nothing, and a
malformed stored value is a plain mismatch rather than an error that could echo input back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

SCHEME = "hmac-sha256"
SALT_BYTES = 16
KEY_ID_CHARS = 8
# Used when no IVR_PIN_KEY is set, on a local server only (``ivr.web.app`` refuses to start
# a public one without a key). Anyone can read it here: hashes made with it protect nothing.
DEVELOPMENT_KEY = "ivr-development-pin-key: not a secret, for local servers only"

# The scheme before this one, still verified so that stored hashes keep working until the
# next correct entry rewrites them.
SCRYPT = "scrypt"
# Refuse stored parameters that would make one check cost absurd memory (or hang).
MAX_N = 2**17
MAX_R = 16
MAX_P = 4
_MAXMEM = 2**31 - 1  # the largest cap hashlib accepts; the limits above keep use far below


def key_id(key: bytes) -> str:
    """The name a stored hash gives its key: a digest of it, which does not reveal it."""
    return hashlib.sha256(b"ivr pin key id\x00" + key).hexdigest()[:KEY_ID_CHARS]


@dataclass(frozen=True)
class PinKeys:
    """The key new PIN hashes are made with, and older keys still accepted when checking."""

    key: bytes = field(repr=False)
    old: tuple[bytes, ...] = field(default=(), repr=False)
    development: bool = False

    @classmethod
    def of(cls, key: str, old: Iterable[str] = ()) -> PinKeys:
        """Keys from their text (``IVR_PIN_KEY``, ``IVR_PIN_KEY_OLD``)."""
        return cls(key.encode("utf-8"), tuple(k.encode("utf-8") for k in old if k))

    @classmethod
    def for_development(cls) -> PinKeys:
        """The published development key: for a local server, tests and demos only."""
        return cls(DEVELOPMENT_KEY.encode("utf-8"), development=True)

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def hash(self, pin: str) -> str:
        """Hash ``pin`` with a fresh random salt; two calls with one PIN give different strings."""
        salt = secrets.token_bytes(SALT_BYTES)
        mac = _mac(self.key, salt, pin)
        return "$".join([SCHEME, self.key_id, _b64(salt), _b64(mac)])

    def matches(self, pin: str, stored: str) -> bool:
        """Whether ``pin`` is the PIN that produced ``stored`` (under the current key, an old
        key, or the old scrypt scheme). Malformed ``stored`` never matches."""
        if stored.startswith(SCRYPT + "$"):
            return _scrypt_matches(pin, stored)
        parts = stored.split("$")
        if len(parts) != 4 or parts[0] != SCHEME:
            return False
        key = self._key_named(parts[1])
        try:
            salt = base64.b64decode(parts[2], validate=True)
            expected = base64.b64decode(parts[3], validate=True)
        except ValueError:
            return False
        if key is None or not salt or not expected:
            return False
        return hmac.compare_digest(_mac(key, salt, pin), expected)

    def can_check(self, stored: str) -> bool:
        """Whether a PIN can be checked against ``stored`` here at all: an scrypt hash, or a
        keyed hash made with the current key or an old one. A hash made with a key this
        server lacks (a rotation without ``IVR_PIN_KEY_OLD``, demo data hashed with the
        development key before ``IVR_PIN_KEY`` was set) or a malformed one cannot be: no PIN,
        right or wrong, would match it."""
        if stored.startswith(SCRYPT + "$"):
            return True
        named = stored_key_id(stored)
        return named is not None and self._key_named(named) is not None

    def needs_upgrade(self, stored: str) -> bool:
        """Whether ``stored`` should be rewritten with the current key once its PIN is known
        (an scrypt hash, or one made with an older key)."""
        return stored_key_id(stored) != self.key_id

    def _key_named(self, name: str) -> bytes | None:
        for key in (self.key, *self.old):
            if hmac.compare_digest(key_id(key), name):
                return key
        return None


def stored_key_id(stored: str) -> str | None:
    """The key id a keyed PIN hash names (never the key); None for any other string."""
    parts = stored.split("$")
    return parts[1] if len(parts) == 4 and parts[0] == SCHEME else None


def _mac(key: bytes, salt: bytes, pin: str) -> bytes:
    return hmac.new(key, salt + pin.encode("utf-8"), hashlib.sha256).digest()


def _scrypt_matches(pin: str, stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 6:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    if not _sane(n, r, p) or not salt or not expected:
        return False
    actual = hashlib.scrypt(
        pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


def _sane(n: int, r: int, p: int) -> bool:
    power_of_two = n > 1 and n & (n - 1) == 0
    return power_of_two and n <= MAX_N and 0 < r <= MAX_R and 0 < p <= MAX_P


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
