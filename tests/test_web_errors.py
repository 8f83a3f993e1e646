"""The voice blueprint's error handling, over HTTP: never dead air, and HTTP errors kept.

The guard is the blueprint's error handler, so any route in the blueprint has it, a route
added later included: an unexpected error is an apology and the general queue, logged with the
CallSid and noted on the call's record. A missing Twilio field is a 400 naming it; other HTTP
errors (403 forged, 400, 404, 405, 413 too large) keep their status.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask import abort
from flask import request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.exceptions import HTTPException

from ivr.clock import ManualClock
from ivr.web import voice
from ivr.web.app import create_app
from tests.conftest import PIN_KEY

TOKEN = "test-auth-token"
BASE = "http://localhost"
CALLER = "+8613800000001"


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(
        {
            "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_PIN_KEY": PIN_KEY,
            "IVR_AUDIO": False,
        },
        clock=clock,
        environ={},
    )
    yield app
    app.extensions["ivr"].database.dispose()


def add_voice_route(app: Flask, name: str, view: Callable[[], Any]) -> None:
    """A route in the voice blueprint added after the fact, as a new webhook would be: it
    declares nothing about errors."""
    app.add_url_rule(f"/voice/{name}", endpoint=f"voice.{name}", view_func=view, methods=["POST"])


def signed_post(app: Flask, path: str, form: dict[str, str]) -> Any:
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, form)
    return app.test_client().post(path, data=form, headers={"X-Twilio-Signature": signature})


def test_the_guard_is_the_blueprints_error_handler_and_no_view_is_wrapped(app: Flask) -> None:
    handlers = app.error_handler_spec["voice"]
    assert handlers[None][Exception] is voice.never_dead_air
    assert handlers[None][HTTPException] is voice.keep_http_status
    assert handlers[400][BadRequestKeyError] is voice.missing_parameter
    views = [v for e, v in app.view_functions.items() if e.startswith("voice.")]
    assert len(views) == 10  # with /voice/callback and its status callback
    assert not [v for v in views if hasattr(v, "__wrapped__")]


def test_a_new_route_that_fails_apologises_queues_logs_the_call_sid_and_notes_the_record(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> str:
        raise RuntimeError("a bug in a new route")

    add_voice_route(app, "new", broken)
    assert signed_post(app, "/voice", {"CallSid": "CAnew", "From": CALLER}).status_code == 200
    with caplog.at_level("ERROR", logger="ivr.web.voice"):
        response = signed_post(app, "/voice/new", {"CallSid": "CAnew", "From": CALLER})
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.headers["X-IVR-State"] == "error"
    root = ET.fromstring(response.get_data(as_text=True))
    assert [child.tag for child in root] == ["Say", "Say", "Enqueue"]
    assert root[2].text == "general"
    [logged] = caplog.records
    assert logged.getMessage() == (
        "call CAnew: unexpected error in /voice/new; apologising and queueing"
    )
    assert logged.exc_info is not None
    assert str(logged.exc_info[1]) == "a bug in a new route"
    assert CALLER not in caplog.text
    response.close()  # the record is written once the answer is out (the server closes it)
    record = app.extensions["ivr"].services.recorder.record("CAnew")
    assert (record.outcome, record.reason) == ("agent", "system error")


def test_a_new_route_is_signature_checked_too(app: Flask) -> None:
    add_voice_route(app, "new", lambda: "never reached")
    response = app.test_client().post("/voice/new", data={"CallSid": "CA1", "From": CALLER})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("/voice", {"From": CALLER}, "CallSid"),
        ("/voice", {"CallSid": "CA1"}, "From"),
        ("/voice", {"CallSid": "", "From": CALLER}, "CallSid"),
        ("/voice/step?n=1", {"Digits": "1"}, "CallSid"),
        ("/voice/queue-result?n=1", {"QueueResult": "bridged"}, "CallSid"),
        ("/voice/status", {"CallStatus": "completed"}, "CallSid"),
    ],
)
def test_a_missing_twilio_field_is_a_400_that_names_it(
    app: Flask, path: str, form: dict[str, str], field: str
) -> None:
    response = signed_post(app, path, form)
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == (
        f"Missing required Twilio parameter {field!r}. "
        "This URL expects Twilio's voice webhook form (CallSid, From, ...).\n"
    )


def test_a_new_route_reading_an_absent_field_gets_the_same_400(app: Flask) -> None:
    add_voice_route(app, "survey", lambda: request.form["SurveyScore"])
    response = signed_post(app, "/voice/survey", {"CallSid": "CA1"})
    assert response.status_code == 400
    assert "'SurveyScore'" in response.get_data(as_text=True)


def test_http_errors_raised_in_a_route_keep_their_status(app: Flask) -> None:
    def not_found() -> str:
        abort(404)

    def bad_request() -> str:
        raise BadRequest("a malformed body")

    add_voice_route(app, "gone", not_found)
    add_voice_route(app, "bad", bad_request)
    gone = signed_post(app, "/voice/gone", {"CallSid": "CA1"})
    bad = signed_post(app, "/voice/bad", {"CallSid": "CA1"})
    assert (gone.status_code, gone.mimetype) == (404, "text/html")
    assert (bad.status_code, bad.mimetype) == (400, "text/html")
    assert "a malformed body" in bad.get_data(as_text=True)


def test_unknown_paths_and_methods_keep_404_and_405(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/voice/nope").status_code == 404
    assert client.get("/voice").status_code == 405


def test_a_forged_request_keeps_its_403(app: Flask) -> None:
    response = app.test_client().post(
        "/voice", data={"CallSid": "CA1", "From": CALLER}, headers={"X-Twilio-Signature": "AAAA"}
    )
    assert response.status_code == 403
    assert response.mimetype == "text/plain"


def test_a_signed_body_over_the_cap_keeps_its_413_and_is_not_apologised_for(app: Flask) -> None:
    response = signed_post(app, "/voice", {"CallSid": "CA1", "From": CALLER, "Pad": "x" * 70_000})
    assert (response.status_code, response.mimetype) == (413, "text/plain")
    assert response.get_data(as_text=True).startswith("Request body too large: 70")
    assert app.extensions["ivr"].services.recorder.record("CA1") is None


def test_a_missing_or_malformed_signature_is_refused_before_any_view_or_handler(app: Flask) -> None:
    add_voice_route(app, "body", lambda: request.get_data(as_text=True))
    for headers in ({}, {"X-Twilio-Signature": "AAAA"}):
        response = app.test_client().post("/voice/body", data={"CallSid": "CA1"}, headers=headers)
        assert (response.status_code, response.mimetype) == (403, "text/plain")
