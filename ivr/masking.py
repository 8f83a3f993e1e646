"""Masking personal data (phone numbers, keyed-in digits) before it reaches a log or a view.

Owns only pure string functions. Stores keep raw values; whoever writes a log line or renders
a page masks with these. Depends on nothing else in ``ivr``.
"""

from __future__ import annotations

import re

# E.164 country codes are prefix-free: these are all the 1- and 2-digit ones (ITU-T E.164
# assignments); every other code has 3 digits.
_ONE_DIGIT_CODES = frozenset({"1", "7"})
_TWO_DIGIT_CODES = frozenset(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)
_NUMBER = re.compile(r"(\+?)(\d+)")
SHOWN_DIGITS = 4
# Below this many digits (after the country code), showing the last four would give away
# too much of the number, so nothing is shown.
MIN_DIGITS_TO_SHOW = 8


def mask_phone(number: str) -> str:
    """Keep the country code and the last four digits: ``+8613800000001`` → ``+86*******0001``.

    Without a ``+`` there is no country code to keep: ``13800000001`` → ``*******0001``.
    Short numbers and anything that is not a plain number (``client:alice``, ``anonymous``)
    are masked whole, one ``*`` per character.
    """
    match = _NUMBER.fullmatch(number)
    if match is None:
        return "*" * len(number)
    plus, digits = match.groups()
    code = _country_code(digits) if plus else ""
    national = digits[len(code) :]
    if len(national) < MIN_DIGITS_TO_SHOW:
        return "*" * len(number)
    hidden = len(national) - SHOWN_DIGITS
    return f"{plus}{code}{'*' * hidden}{national[hidden:]}"


def mask_digits(digits: str) -> str:
    """Hide keyed-in digits (PINs, card numbers) entirely: one ``*`` per character."""
    return "*" * len(digits)


def _country_code(digits: str) -> str:
    if digits[:1] in _ONE_DIGIT_CODES:
        return digits[:1]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]
