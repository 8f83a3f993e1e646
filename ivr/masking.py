"""Masking keyed-in digits (PINs, card numbers) before they reach a log or a view.

Owns only pure string functions. Stores keep raw values; whoever writes a log line or renders
a page masks with these. Phone numbers are masked by ``ivr.phones.mask_phone``, beside the rest
of what ``ivr`` knows about them. Depends on nothing else in ``ivr``.
"""

from __future__ import annotations


def mask_digits(digits: str) -> str:
    """Hide keyed-in digits (PINs, card numbers) entirely: one ``*`` per character."""
    return "*" * len(digits)
