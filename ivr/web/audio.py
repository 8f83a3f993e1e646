"""Serving recorded prompts and hold music: ``GET /audio/<lang>/<file>`` (and HEAD).

Owns the HTTP side of the recordings folder: the audio content type, caching headers (public,
a day; the ``?v=`` in the URLs ``<Play>`` uses changes whenever a file does), conditional
requests (ETag, Last-Modified), and refusing everything that is not one of the library's
files: a name is looked up in the allow-list the app factory built
(``Runtime.audio_files``), never joined to a path, so ``../`` in any encoding is a 404.
Part of the web shell with ``app`` and ``voice``; no signature check (the prompts are
public, and Twilio fetches media like a browser).
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import abort
from flask import send_file

from ivr.media.recordings import content_type
from ivr.web.runtime import runtime

MAX_AGE = 86_400  # seconds

bp = Blueprint("audio", __name__, url_prefix="/audio")


@bp.get("/<path:name>", merge_slashes=False)
def serve(name: str) -> Response:
    path = runtime().audio_files.get(name)
    if path is None:
        abort(404)
    return send_file(
        path, mimetype=content_type(path), max_age=MAX_AGE, conditional=True, etag=True
    )
