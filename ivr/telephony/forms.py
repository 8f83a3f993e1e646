"""Twilio's webhook form, read from the raw request body.

Owns ``parse_form``: an ``application/x-www-form-urlencoded`` body → its fields, the first
value of each (what the webhooks read, and what the signature covers: ``to_dict()`` of the
form). It decides exactly as werkzeug's form parser does (``parse_qsl`` on the body decoded
as UTF-8, blank values kept, ``+`` as a space, percent escapes that are not UTF-8 left
quoted, a body that is not UTF-8 read as no fields at all), but in one pass over a plain
dict: a Twilio form has some 30 fields, most of them without escapes, and werkzeug's
stream, options-header and two ``MultiDict`` s cost more than the parsing. Which requests
carry such a body (the content type) and how much of it may be read (the size cap) are the
web layer's to decide. No Flask, no werkzeug.
"""

from __future__ import annotations

import codecs
from urllib.parse import quote
from urllib.parse import unquote

#: The codec error handler that leaves bytes that are not UTF-8 percent-quoted, as
#: werkzeug's ``werkzeug.url_quote`` does (registered here so this module needs no werkzeug).
URL_QUOTE = "ivr.url_quote"


def _url_quote(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return quote(error.object[error.start : error.end], safe=""), error.end


codecs.register_error(URL_QUOTE, _url_quote)


def parse_form(body: bytes) -> dict[str, str]:
    """The fields of a urlencoded ``body``, the first value of each, in order of first
    appearance; ``{}`` when the body is not UTF-8 (werkzeug's form is empty then too)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return {}
    fields: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name = _unquote_plus(name)
        if name not in fields:
            fields[name] = _unquote_plus(value)
    return fields


def _unquote_plus(text: str) -> str:
    """``parse_qsl``'s decoding of one name or value, skipped when there is nothing to do."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" in text:
        text = unquote(text, errors=URL_QUOTE)
    return text
