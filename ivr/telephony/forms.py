"""Twilio's webhook form, read from the raw request body.

Owns ``parse_form``: an ``application/x-www-form-urlencoded`` body → its fields, the first
value of each (what the webhooks read, and what the signature covers: ``to_dict()`` of the
form). It reads as werkzeug's form parser does (the stdlib's ``parse_qsl`` on the body
decoded as UTF-8, blank values kept, percent escapes that are not UTF-8 left quoted, a body
that is not UTF-8 read as no fields at all), into one plain dict: werkzeug's stream,
options header and two ``MultiDict`` s around the same ``parse_qsl`` cost more than the
parsing. Which requests carry such a body (the content type) and how much of it may be read
(the size cap) are the web layer's to decide. No Flask, no werkzeug.
"""

from __future__ import annotations

import codecs
from urllib.parse import parse_qsl
from urllib.parse import quote

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
    for name, value in parse_qsl(text, keep_blank_values=True, errors=URL_QUOTE):
        fields.setdefault(name, value)
    return fields
