"""PIN hashing: scrypt with a random salt per PIN, stored as one self-describing string.

Owns the stored format ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` and the constant-time
comparison. Touches no database and no clock. A PIN never appears in a log line, an exception
message or a repr: this module logs nothing, and a malformed stored value is reported as a
plain mismatch rather than an error that could echo input back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# Moderate cost: about 16 MiB and tens of milliseconds per check, acceptable per call.
N = 2**14
R = 8
P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# Refuse stored parameters that would make one check cost absurd memory (or hang).
MAX_N = 2**17
MAX_R = 16
MAX_P = 4
_MAXMEM = 2**31 - 1  # the largest cap hashlib accepts; the limits above keep use far below


def hash_pin(pin: str) -> str:
    """Hash ``pin`` with a fresh random salt; two calls with one PIN give different strings."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(pin, salt, N, R, P, HASH_BYTES)
    return "$".join([SCHEME, str(N), str(R), str(P), _b64(salt), _b64(digest)])


def pin_matches(pin: str, stored: str) -> bool:
    """Whether ``pin`` is the PIN that produced ``stored``. Malformed ``stored`` never matches."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    if not _sane(n, r, p) or not salt or not expected:
        return False
    actual = _scrypt(pin, salt, n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def _sane(n: int, r: int, p: int) -> bool:
    power_of_two = n > 1 and n & (n - 1) == 0
    return power_of_two and n <= MAX_N and 0 < r <= MAX_R and 0 < p <= MAX_P


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=length
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
