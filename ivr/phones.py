"""Phone numbers: the one place that knows how they are written, checked, read aloud and masked.

Owns every piece of phone-number knowledge in ``ivr``, built on Google's libphonenumber
(the ``phonenumbers`` package, here as ``phonenumberslite``: the same parser without the
geocoder and carrier data, which nothing here needs):

- ``to_e164``: a number as people and Twilio write it → ``+8613800000001``, or None.
  National input is read in ``HOME_REGION`` (mainland China): ``13800000001`` and
  ``010-12345678`` are ``+8613800000001`` and ``+861012345678``.
- ``is_e164``: whether a text already is a valid number in E.164 form (a flow's agent phone).
- ``national_format``: ``+861012345678`` → ``010 1234 5678``, as it is written at home.
- ``spoken_groups``: the digit groups a number is read aloud in (``ivr.voice.reading``).
- ``mask_phone``: a caller's number for a log line or a page.
- ``is_caller_id``: whether a text is something Twilio can send as the caller (``From``).
- ``country_of``: the ISO country a number belongs to (``CN``), as Twilio's ``FromCountry``.

Pure: no IO, imports only the standard library and ``phonenumbers``, nothing else from
``ivr`` (it is part of the kernel, under every layer). Must not learn about accounts, flows,
Twilio's API or speech: those call it.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import PhoneNumberFormat

HOME_REGION = "CN"
"""Where a number written without a country code is (the hotline's own country)."""

HOME_COUNTRY_CODE = phonenumbers.country_code_for_region(HOME_REGION)

# What a person may write around the digits: "+86 138-0000-0001", "+1 (415) 555-0100".
# Letters are refused (no vanity numbers, no "x123" extensions), and so are digits other
# than ASCII 0-9: libphonenumber would quietly accept them, but no caller or Twilio sends them.
_SEPARATORS = re.compile(r"[\s().\-]", re.ASCII)
_WRITTEN = re.compile(r"\+?[0-9]+")
_PLAIN_NUMBER = re.compile(r"(\+?)([0-9]+)")
# What Twilio sends as ``From``: a number (E.164, or national and short codes such as 10086,
# as some networks pass them on), ``client:<identity>`` from a Twilio Client (a browser or app
# call), or ``anonymous`` when the caller withheld it.
_CALLER_ID = re.compile(r"\+?[0-9]{3,15}|client:[A-Za-z0-9_.-]+|anonymous")

_NOWHERE = "ZZ"  # libphonenumber's region of a country code that no country has

SHOWN_DIGITS = 4
# Below this many digits (after the country code), showing the last four would give away
# too much of the number, so nothing is shown.
MIN_DIGITS_TO_SHOW = 8


@functools.lru_cache(maxsize=4096)  # pure, and on every webhook (phonenumbers is slow)
def to_e164(text: str, *, region: str | None = HOME_REGION) -> str | None:
    """The E.164 form of a valid phone number as a person or Twilio writes it, else None.

    Spaces, dashes, dots and brackets may stand anywhere. A number without ``+`` is read as
    dialled in ``region``: in mainland China (the default) ``13800000001``, ``8613800000001``
    and ``010-12345678`` are ``+8613800000001``, ``+8613800000001`` and ``+861012345678``.
    With ``region=None`` the number must be international: ``+`` or ``00``, then the country
    code (``0086 138 0000 0001`` is ``+8613800000001``). Numbers that no country assigns
    (``12800000001``, a digit short or over) are None.
    """
    parsed = _parse(text, region)
    if parsed is None:
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def is_e164(text: str) -> bool:
    """Whether ``text`` is a valid number written in E.164 and nothing else: ``+8613800000000``.

    ``+86 138 0000 0000`` and ``13800000000`` are numbers, but not written in E.164.
    """
    return text.startswith("+") and to_e164(text, region=None) == text


def national_format(number: str) -> str | None:
    """A valid number as it is written in its own country: ``+861012345678`` → ``010 1234 5678``,
    ``+14155550100`` → ``(415) 555-0100``; None when ``number`` is not a valid number.

    A number without ``+`` is read as dialled in ``HOME_REGION``.
    """
    parsed = _parse(number, HOME_REGION)
    if parsed is None:
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)


def spoken_groups(number: str) -> tuple[str, ...]:
    """The digit groups ``number`` is read aloud in, left to right, the same in every language.

    A valid number of ``HOME_REGION`` is read as it is written there, trunk 0 included:
    ``+861012345678`` is ``010 1234 5678`` (Beijing), ``13800000001`` is ``138 0000 0001``. A
    valid number of another country is read with its country code, in that country's groups:
    ``+12349013030`` is ``1 234 901 3030``. Anything else (service numbers such as ``95188``,
    numbers no country assigns) is read as given, ``+86`` or a bare ``+`` dropped, in groups of
    four counted from the right with a leading group of one joining the next (8 digits: 4-4;
    9: 5-4; 10: 2-4-4; up to 5: one group).

    Raises ``ValueError`` unless ``number`` is digits, optionally after ``+``, with digits left
    once ``+86`` is dropped.
    """
    match = _PLAIN_NUMBER.fullmatch(number)
    if match is None:
        raise ValueError(f"not a phone number: {number!r}; expected digits, optionally after '+'")
    parsed = _parse(number, HOME_REGION)
    if parsed is not None:
        if parsed.country_code == HOME_COUNTRY_CODE:
            written = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
        else:
            written = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
        return tuple(re.findall(r"[0-9]+", written))
    plus, digits = match.groups()
    if plus:
        digits = digits.removeprefix(str(HOME_COUNTRY_CODE))
    if not digits:
        raise ValueError(f"not a phone number: {number!r}; no digits after the country code")
    return _fours_from_the_right(digits)


def mask_phone(number: str) -> str:
    """Keep the country code and the last four digits: ``+8613800000001`` → ``+86*******0001``.

    For logs and views; stores keep the raw number. Without a ``+`` there is no country code to
    keep: ``13800000001`` → ``*******0001``. Short numbers (under 8 digits after the country
    code), numbers with an unknown country code, and anything that is not a plain number
    (``client:alice``, ``anonymous``, ``+86 138 0000 0001``) are masked whole, one ``*`` per
    character.
    """
    match = _PLAIN_NUMBER.fullmatch(number)
    if match is None:
        return "*" * len(number)
    plus, digits = match.groups()
    code = ""
    if plus:
        code = _country_code(digits)
        if not code:
            return "*" * len(number)
    national = digits[len(code) :]
    if len(national) < MIN_DIGITS_TO_SHOW:
        return "*" * len(number)
    hidden = len(national) - SHOWN_DIGITS
    return f"{plus}{code}{'*' * hidden}{national[hidden:]}"


def is_caller_id(text: str) -> bool:
    """Whether Twilio can send ``text`` as the caller (``From``): ``+8613800000002``, ``10086``,
    ``client:alice`` or ``anonymous``; not ``138-0000-0002`` nor ``8613800000002x``."""
    return _CALLER_ID.fullmatch(text) is not None


@functools.lru_cache(maxsize=4096)  # pure, and on every simulated request
def country_of(number: str) -> str:
    """The ISO 3166 country of an E.164 number (``+8613800000001`` → ``CN``), as Twilio sends
    it in ``FromCountry``; "" for anything else (``client:alice``, ``anonymous``, short codes)."""
    parsed = _parse(number, None) if number.startswith("+") else None
    if parsed is None:
        return ""
    return phonenumbers.region_code_for_number(parsed) or ""


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """``text`` as a valid number, or None; ``00`` reads as ``+`` when there is no region."""
    compact = _SEPARATORS.sub("", text)
    if not _WRITTEN.fullmatch(compact):
        return None
    if region is None and compact.startswith("00"):
        compact = "+" + compact[2:]
    try:
        parsed = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def _country_code(digits: str) -> str:
    """The country code that ``digits`` (an international number without ``+``) starts with,
    or "" when no country has it. Country codes are prefix-free, so the first match is it."""
    if digits.startswith("0"):
        return ""  # no country code starts with 0
    for length in (1, 2, 3):
        code = digits[:length]
        region = phonenumbers.region_code_for_country_code(int(code))
        if len(digits) > length and region != _NOWHERE:
            return code
    return ""


def _fours_from_the_right(digits: str) -> tuple[str, ...]:
    head = len(digits) % 4 or 4
    if head == 1 and len(digits) > 4:
        head = 5
    return (digits[:head], *(digits[i : i + 4] for i in range(head, len(digits), 4)))
