"""The in-process transport hands a WSGI app the request a WSGI server would: the same
environ as werkzeug's builder and the same request as over HTTP (form, headers, signature);
forms are encoded and signed exactly as urllib and twilio's validator do it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder

from ivr.errors import TwimlError
from ivr.testing.simulator import HttpTransport
from ivr.testing.simulator import WsgiTransport
from ivr.testing.simulator import form_encode
from ivr.testing.simulator import twilio_signature
from ivr.testing.simulator import wsgi_environ
from tests.simulator_apps import TwimlApp
from tests.simulator_apps import served

FORM = {
    "CallSid": "CA" + "1" * 32,
    "From": "+8613800000001",
    "SpeechResult": "我想查一下退款 & more = 100%",
    "Digits": "123456#",
    "Empty": "",
}
HEADERS = {"User-Agent": "TwilioProxy/1.1", "X-Twilio-Signature": "c2lnbmVk", "Cookie": "a=1"}
CGI_KEYS = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "HTTP_HOST",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "HTTP_USER_AGENT",
    "HTTP_X_TWILIO_SIGNATURE",
    "HTTP_COOKIE",
    "wsgi.url_scheme",
    "wsgi.version",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
)

StartResponse = Callable[..., Callable[[bytes], object]]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "https://ivr.example.test/voice/step?turn=2&x=%C3%A9"),
        ("POST", "http://localhost:8080/voice/a%20b"),
        ("GET", "http://localhost/voice/hold?QueueTime=30"),
    ],
)
def test_the_environ_is_the_one_werkzeugs_builder_makes(method: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    body = form_encode(FORM).encode() if method == "POST" else None
    options: dict[str, Any] = {}
    if body is not None:
        options = {"data": body, "content_type": "application/x-www-form-urlencoded"}
    expected = EnvironBuilder(
        parts.path,
        base_url=f"{parts.scheme}://{parts.netloc}",
        query_string=parts.query,
        method=method,
        headers=list(HEADERS.items()),
        **options,
    ).get_environ()

    environ = wsgi_environ(method, url, body, HEADERS)

    assert {k: environ.get(k) for k in CGI_KEYS} == {k: expected.get(k) for k in CGI_KEYS}
    assert environ["wsgi.input"].read() == expected["wsgi.input"].read()


def test_an_app_gets_the_same_request_in_process_as_over_http() -> None:
    app = TwimlApp({"/voice": "<Response><Say>Hi.</Say></Response>"})
    headers = {"User-Agent": "TwilioProxy/1.1", "X-Twilio-Signature": "c2lnbmVk"}
    with served(app) as base:
        over_http = HttpTransport().send("POST", base + "/voice?a=1", FORM, headers)
    in_process = WsgiTransport(app).send("POST", base + "/voice?a=1", FORM, headers)
    wire, direct = app.seen

    assert (direct.method, direct.url, direct.args, direct.form) == (
        wire.method,
        wire.url,
        wire.args,
        wire.form,
    )
    for name in ("Host", "User-Agent", "X-Twilio-Signature", "Content-Type", "Content-Length"):
        assert direct.headers[name] == wire.headers[name]
    assert (in_process.status, in_process.body) == (over_http.status, over_http.body)
    assert in_process.headers["content-type"] == over_http.headers["content-type"]


class Recorder:
    """A bare WSGI app: writes part of its body through ``write()``, sets two cookies, and
    notes whether the server closed what it returned."""

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        write = start_response(
            "201 Created",
            [("Content-Type", "text/xml"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
        )
        write(b"<Response>")
        return self.body()

    def body(self) -> Iterator[bytes]:
        try:
            yield b""
            yield b"</Response>"
        finally:
            self.closed = True


def test_the_reply_has_the_status_every_cookie_and_the_whole_body_and_is_closed() -> None:
    app = Recorder()

    reply = WsgiTransport(app).send("GET", "http://localhost/voice", {}, {})

    assert reply.status == 201
    assert reply.body == b"<Response></Response>"
    assert reply.set_cookies == ("a=1", "b=2")
    assert reply.headers == {"content-type": "text/xml", "set-cookie": "b=2"}
    assert app.closed


def test_an_error_passed_to_start_response_is_raised() -> None:
    def failing(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            raise ValueError("broken handler")
        except ValueError as error:
            start_response("500 Internal Server Error", [], (type(error), error, None))
        return [b""]

    with pytest.raises(ValueError, match="broken handler"):
        WsgiTransport(failing).send("GET", "http://localhost/voice", {}, {})


def test_an_app_that_never_starts_a_response_is_an_error() -> None:
    def silent(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return []

    with pytest.raises(TwimlError, match="never called start_response"):
        WsgiTransport(silent).send("GET", "http://localhost/voice", {}, {})


def test_a_content_type_given_as_a_header_is_the_environs() -> None:
    environ = wsgi_environ("GET", "http://localhost/x", None, {"Content-Type": "text/plain"})

    assert environ["CONTENT_TYPE"] == "text/plain"
    assert "HTTP_CONTENT_TYPE" not in environ


def test_forms_are_encoded_as_urllib_encodes_them() -> None:
    assert form_encode(FORM) == urllib.parse.urlencode(FORM)
    assert form_encode({}) == urllib.parse.urlencode({}) == ""


@pytest.mark.parametrize("form", [FORM, {}, {"b": "2", "a": "1", "B": "3"}])
def test_signatures_are_twilios(form: dict[str, str]) -> None:
    url = "https://ivr.example.test/voice/step?turn=2"
    expected = RequestValidator("token").compute_signature(url, form)

    assert twilio_signature("token", url, form) == expected
