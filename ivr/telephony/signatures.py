"""``X-Twilio-Signature`` checking with twilio's own ``RequestValidator``.

Owns which URL a request is validated against: the configured public base URL (behind a
tunnel or proxy Twilio signs ``https://public-host/...`` while the app sees
``http://127.0.0.1/...``) or the URL as received, and what a signature header must look like
before anything else of the request is read (``well_formed``: base64 of an HMAC-SHA1, 28
characters). A signature is computed once per request: for the URL as Twilio signs it in
nearly every case; the port variants twilio's ``validate`` always computes too (Twilio adds
or drops a default port inconsistently) only when that first one does not match. The form
reaches twilio's ``compute_signature`` as ``Fields``, which answers the ``getall`` it asks
each field for first: a plain dict costs it two exceptions per field (``getall``, then
``getlist``), most of the check's time. The public URL of a received one is kept (a few
hundred distinct URLs a flow uses). No Flask: the web layer passes plain values.
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Iterator
from collections.abc import Mapping
from urllib.parse import urlparse
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from twilio.request_validator import RequestValidator
from twilio.request_validator import add_port
from twilio.request_validator import remove_port

# base64 of the 20 bytes of an HMAC-SHA1: 27 characters of the alphabet, then one '='.
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{27}=")


def well_formed(signature: str | None) -> bool:
    """Whether ``signature`` could be an ``X-Twilio-Signature`` at all. A request without one
    is refused on this alone, before its body is read."""
    return signature is not None and _SIGNATURE.fullmatch(signature) is not None


# Public URLs kept (``_on_base``): the least recently used go past this many.
MAX_URLS = 1024


class Fields(dict[str, str]):
    """A form of one value per field, as twilio's ``RequestValidator`` reads a ``MultiDict``
    (``getall``): the same signature as the plain dict, without its exceptions."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


class SignatureChecker:
    def __init__(self, auth_token: str, public_url: str | None = None) -> None:
        self._validator = RequestValidator(auth_token)
        self._public = urlsplit(public_url) if public_url else None

    def public_url(self, received_url: str) -> str:
        """The URL Twilio signed: the received path and query on the public base URL."""
        if self._public is None:
            return received_url
        public = self._public
        return _on_base(public.scheme, public.netloc, public.path.rstrip("/"), received_url)

    def valid(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """Whether ``signature`` is Twilio's for ``url`` (as received) and the form
        ``params``: what ``RequestValidator.validate`` decides, usually with one HMAC."""
        if signature is None or not well_formed(signature):
            return False
        fields = Fields(params)
        for candidate in _signed_urls(self.public_url(url)):
            computed = self._validator.compute_signature(candidate, fields)
            if hmac.compare_digest(computed, signature):
                return True
        return False


@functools.lru_cache(maxsize=MAX_URLS)
def _on_base(scheme: str, netloc: str, base_path: str, received_url: str) -> str:
    """``received_url``'s path and query on the public base URL (kept: a flow's webhooks use a
    few hundred distinct URLs)."""
    got = urlsplit(received_url)
    return urlunsplit((scheme, netloc, base_path + got.path, got.query, ""))


def _signed_urls(url: str) -> Iterator[str]:
    """``url`` as received, then without and with its default port, each once."""
    yield url
    parsed = urlparse(url)
    seen = {url}
    for variant in (remove_port(parsed), add_port(parsed)):
        if variant not in seen:
            seen.add(variant)
            yield variant
