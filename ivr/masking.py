"""Masking keyed-in digits (PINs, keyed numbers) before they reach a log, a view or a call event.

Owns only pure string functions. Stores keep raw values; whoever writes a log line or renders
a page masks with these. Phone numbers are masked by ``ivr.phones.mask_phone``, beside the rest
of what ``ivr`` knows about them. Depends on nothing else in ``ivr``.
"""

from __future__ import annotations

import re


def mask_digits(digits: str) -> str:
    """Hide keyed-in digits (PINs, card numbers) entirely: one ``*`` per character."""
    return "*" * len(digits)


SHOWN_DIGITS = 4  # the last digits a keyed number keeps, as ``mask_phone`` does
MIN_DIGITS_TO_SHOW = 8  # shorter entries are hidden whole


def mask_keyed_number(keys: str) -> str:
    """Hide a keyed-in number that is not secret (a mobile number, a ticket number) but may
    identify someone: keep its last four digits when it is at least eight keys long,
    ``13800000001`` → ``*******0001``; hide shorter ones, and any other key, entirely."""
    tail = keys[-SHOWN_DIGITS:]
    if len(keys) < MIN_DIGITS_TO_SHOW or not tail.isdigit():
        return mask_digits(keys)
    return "*" * (len(keys) - SHOWN_DIGITS) + tail


_DIGIT_RUN = re.compile(r"\d(?:[\s-]*\d){3,}")


def mask_spoken(text: str) -> str:
    """Hide numbers said aloud in a transcript (an account, card or phone number may identify
    someone): every run of four or more digits, spaces and dashes between them included,
    becomes one ``*`` per digit. "卡号6222 0201 1234" → "卡号************"."""
    return _DIGIT_RUN.sub(lambda m: "*" * sum(ch.isdigit() for ch in m.group()), text)
