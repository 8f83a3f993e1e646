"""What every request passes before any view runs: the body's size, and, on Twilio's
webhooks, the signature header's presence and shape.

Owns ``install``: it caps request bodies (Flask's ``MAX_CONTENT_LENGTH`` from
``IVR_MAX_BODY_BYTES``, so werkzeug refuses a larger body with a 413 instead of reading it)
and registers one ``before_request`` check that refuses, without reading the body:

- a request to the voice webhooks (``/voice/...``) without a well-formed
  ``X-Twilio-Signature`` when signatures are on (403), so a forged 100 MB form is never
  parsed. Whether a well-formed signature matches is the voice blueprint's own check, which
  needs the form;
- a body whose declared ``Content-Length`` is over the cap (413), on any route.

The agent pages guard their own Twilio documents (``ivr.web.agents``). No routes, no menu
logic, nothing stored.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask import Response
from flask import request

from ivr.settings import Settings
from ivr.telephony.signatures import well_formed
from ivr.web.runtime import runtime

log = logging.getLogger(__name__)

SIGNED_BLUEPRINT = "voice"  # Twilio's webhooks: every request there must be signed
FORGED = (
    "Forbidden: X-Twilio-Signature is missing or does not match. Behind a tunnel or proxy, "
    "set IVR_PUBLIC_URL to the public base URL Twilio calls.\n"
)
TOO_LARGE = (
    "Request body too large: {size} bytes; this server accepts at most {limit} "
    "(IVR_MAX_BODY_BYTES).\n"
)


def install(app: Flask, settings: Settings) -> None:
    """Cap ``app``'s request bodies and refuse unsigned webhooks before their body is read."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.before_request(refuse_before_reading_the_body)


def refuse_before_reading_the_body() -> Response | None:
    """A 403 for a webhook without a well-formed signature, a 413 for a declared body over
    the cap; None lets the request through. Reads headers only: a body sent without a length
    (chunked) is cut at the cap by werkzeug as it is read."""
    rt = runtime()
    signed = request.blueprint == SIGNED_BLUEPRINT and rt.signatures is not None
    if signed and not well_formed(request.headers.get("X-Twilio-Signature")):
        log.warning(
            "rejected %s %s: X-Twilio-Signature missing or malformed", request.method, request.path
        )
        return Response(FORGED, status=403, mimetype="text/plain")
    limit = rt.settings.max_body_bytes
    size = request.content_length
    if size is not None and size > limit:
        log.warning("refused %s %s: a body of %d bytes", request.method, request.path, size)
        return Response(TOO_LARGE.format(size=size, limit=limit), status=413, mimetype="text/plain")
    return None
