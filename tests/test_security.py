"""Security over HTTP, as an attacker would try it: request bodies that are never read,
unsigned webhooks refused before parsing, recording URLs that are not Twilio's, keyed numbers
in call events, and ``IVR_TRUST_PROXY`` through the real waitress server.

The agent pages' access rules are in ``test_agents.py``.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
import waitress
from flask import Flask
from twilio.request_validator import RequestValidator
from waitress import wasyncore
from werkzeug.test import TestResponse

from ivr.cli.server import access_notice
from ivr.cli.server import waitress_options
from ivr.clock import ManualClock
from ivr.engine.inputs import CallerInput
from ivr.errors import ConfigError
from ivr.masking import mask_keyed_number
from ivr.settings import Settings
from ivr.telephony import signatures
from ivr.telephony.signatures import SignatureChecker
from ivr.telephony.signatures import well_formed
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.wallet.demo import DEMO_PIN
from ivr.wallet.demo import ZHANG_WEI
from tests.conftest import AUTH_TOKEN
from tests.conftest import BASE_URL
from tests.conftest import MakeApp
from tests.conftest import post
from tests.conftest import runtime_of

HUNDRED_MB = 100 * 1024 * 1024
STRANGER = "+8613900000009"
CLOSED = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai: voicemail only
WRONG_SIGNATURE = "A" * 27 + "="  # well formed, matches nothing
FORGED = (
    "Forbidden: X-Twilio-Signature is missing or does not match. Behind a tunnel or proxy, "
    "set IVR_PUBLIC_URL to the public base URL Twilio calls.\n"
)
TOO_LARGE = (
    f"Request body too large: {HUNDRED_MB} bytes; this server accepts at most 65536 "
    "(IVR_MAX_BODY_BYTES).\n"
)


class Body:
    """A request body of ``size`` bytes made up as it is read, counting what was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.read_bytes
        n = left if n is None or n < 0 else min(n, left)
        self.read_bytes += n
        return b"a" * n

    def readline(self, n: int = -1) -> bytes:
        return self.read(n)


def send_big_body(
    app: Flask,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    declared: bool = True,
    size: int = HUNDRED_MB,
) -> tuple[TestResponse, Body]:
    """POST a form of ``size`` bytes to ``path``, its length declared or streamed without one."""
    body = Body(size)
    environ: dict[str, Any] = {"wsgi.input": body}
    if declared:
        environ["CONTENT_LENGTH"] = str(size)
    else:  # chunked, as a WSGI server that de-chunks passes it on
        environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    response = app.test_client().post(
        path,
        content_type="application/x-www-form-urlencoded",
        headers=headers or {},
        environ_overrides=environ,
    )
    return response, body


# -- request bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "", "AAAA", "not base64 at all, 28 chars!", "A" * 28])
def test_a_100_mb_webhook_without_a_well_formed_signature_is_refused_before_a_byte_is_read(
    make_app: MakeApp, signature: str | None
) -> None:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response, body = send_big_body(make_app(), "/voice", headers)
    assert (response.status_code, response.get_data(as_text=True)) == (403, FORGED)
    assert body.read_bytes == 0


def test_a_declared_100_mb_body_with_a_signature_is_a_413_before_a_byte_is_read(
    make_app: MakeApp,
) -> None:
    response, body = send_big_body(make_app(), "/voice", {"X-Twilio-Signature": WRONG_SIGNATURE})
    assert (response.status_code, response.get_data(as_text=True)) == (413, TOO_LARGE)
    assert body.read_bytes == 0


@pytest.mark.parametrize("path", ["/voice", "/voice/step?n=1", "/agent/pickup?queue=general"])
def test_without_signatures_a_declared_100_mb_body_is_a_413_before_a_byte_is_read(
    make_app: MakeApp, path: str
) -> None:
    response, body = send_big_body(make_app(TWILIO_AUTH_TOKEN=None), path)
    assert (response.status_code, response.get_data(as_text=True)) == (413, TOO_LARGE)
    assert body.read_bytes == 0


def test_a_streamed_body_without_a_length_stops_being_read_at_the_cap(make_app: MakeApp) -> None:
    response, body = send_big_body(make_app(TWILIO_AUTH_TOKEN=None), "/voice", declared=False)
    # werkzeug reads up to the cap and no further; what it read is not a webhook form
    assert (response.status_code, body.read_bytes) == (400, 65536)


@pytest.mark.parametrize(("size", "status"), [(1000, 403), (HUNDRED_MB, 413)])
def test_an_unsigned_agent_pickup_is_refused_before_a_byte_of_its_body_is_read(
    make_app: MakeApp, size: int, status: int
) -> None:
    response, body = send_big_body(make_app(), "/agent/pickup?queue=general", size=size)
    assert response.status_code == status
    assert body.read_bytes == 0


def test_a_webhook_under_the_cap_is_answered_and_the_cap_is_a_setting(make_app: MakeApp) -> None:
    form = {"CallSid": "CA1", "From": ZHANG_WEI, "Padding": "x" * 60_000}
    assert post(make_app(), "/voice", **form).status_code == 200
    small = post(make_app(IVR_MAX_BODY_BYTES="1024"), "/voice", **form)
    assert small.status_code == 413
    assert "accepts at most 1024 (IVR_MAX_BODY_BYTES)" in small.get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("IVR_MAX_BODY_BYTES", "0"),
        ("IVR_MAX_BODY_BYTES", "64k"),
        ("IVR_RECORDING_URLS", "api.twilio.com"),
        ("IVR_RECORDING_URLS", "https://api.twilio.com"),
    ],
)
def test_a_malformed_security_setting_is_refused(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.read({name: raw})


def test_the_security_settings_default_to_64_kib_and_twilios_recording_urls() -> None:
    settings = Settings()
    assert (settings.max_body_bytes, settings.recording_urls) == (
        65536,
        ("https://api.twilio.com/",),
    )


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", True),  # TWILIO.md's test vector
        (None, False),
        ("", False),
        ("0/KCTR6DLpKmkAf8muzZqo1nDgQ", False),
        ("0/KCTR6DLpKmkAf8muzZqo1nDgQ==", False),
        ("0/KCTR6DLpKmkAf8muzZ\nqo1nDgQ=", False),
    ],
)
def test_a_signature_header_is_well_formed_only_as_base64_of_an_hmac_sha1(
    signature: str | None, expected: bool
) -> None:
    assert well_formed(signature) is expected


# -- recording URLs --------------------------------------------------------------------------------

TWILIO_RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "https://api.twilio.com.evil.example/Recordings/RE1",
        "https://api.twilio.com@evil.example/Recordings/RE1",
        "https://evil.example/recording.mp3",
        "javascript:alert(1)",
        TWILIO_RECORDING + "\n<Redirect>",
        TWILIO_RECORDING + " x",
    ],
)
def test_a_recording_url_that_is_not_twilios_is_refused_as_garbage(url: str) -> None:
    answer = CallerInput.from_form({"RecordingUrl": url, "RecordingDuration": "12"})
    assert (answer.recording_url, answer.recording_duration, answer.garbage) == (None, None, True)


def test_twilios_recording_url_is_kept_and_another_base_only_when_configured() -> None:
    answer = CallerInput.from_form({"RecordingUrl": TWILIO_RECORDING, "RecordingDuration": "12"})
    assert (answer.recording_url, answer.recording_duration, answer.garbage) == (
        TWILIO_RECORDING,
        12,
        False,
    )
    simulated = "http://127.0.0.1:5000/recordings/RE1.wav"
    assert CallerInput.from_form({"RecordingUrl": simulated}).recording_url is None
    allowed = CallerInput.from_form(
        {"RecordingUrl": simulated}, recordings_from=("http://127.0.0.1:5000/",)
    )
    assert allowed.recording_url == simulated


def voicemail_with(app: Flask, clock: ManualClock, url: str) -> list[Any]:
    """Zhang calls after hours, asks for an agent, chooses voicemail, and Twilio (or someone)
    posts ``url`` as his recording: the voicemail tickets he has afterwards."""
    clock.set(CLOSED)
    sim = Simulator(WsgiTransport(app), base_url=BASE_URL, clock=clock, auth_token=AUTH_TOKEN)
    call = sim.dial(ZHANG_WEI)
    call.press("1")
    call.press(DEMO_PIN)
    call.press("0")
    call.press("1")
    assert call.waiting_for == "record"
    rt = runtime_of(app)
    session = rt.store.load(call.call_sid)
    assert session is not None
    form = {
        "CallSid": call.call_sid,
        "RecordingUrl": url,
        "RecordingDuration": "12",
        "RecordingSid": "RE1",
        "Digits": "#",
    }
    assert post(app, f"/voice/step?n={session.seq}", **form).status_code == 200
    wallet = rt.services.wallet
    account = wallet.find_by_phone(ZHANG_WEI)
    assert account is not None
    return [t for t in wallet.tickets(account.id) if t.kind == "voicemail"]


def test_a_voicemail_recording_url_off_twilio_is_not_stored(
    make_app: MakeApp, clock: ManualClock
) -> None:
    assert voicemail_with(make_app(), clock, "https://evil.example/x.mp3") == []


def test_a_voicemail_recording_url_is_stored_from_twilio_or_a_configured_base(
    make_app: MakeApp, clock: ManualClock
) -> None:
    twilio = voicemail_with(make_app(), clock, TWILIO_RECORDING)
    assert [t.recording_url for t in twilio] == [TWILIO_RECORDING]
    local = "http://127.0.0.1:5000/recordings/RE1.wav"
    configured = make_app(IVR_RECORDING_URLS="http://127.0.0.1:5000/recordings/")
    assert [t.recording_url for t in voicemail_with(configured, clock, local)] == [local]


# -- keyed numbers in call events --------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "masked"),
    [
        ("13800000001", "*******0001"),
        ("13800000001#", "************"),
        ("1234567", "*******"),
        ("12345678", "****5678"),
        ("", ""),
    ],
)
def test_a_keyed_number_keeps_only_its_last_four_digits(keys: str, masked: str) -> None:
    assert mask_keyed_number(keys) == masked


def test_a_mobile_number_keyed_by_a_caller_is_masked_in_the_call_events(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app = make_app()
    sim = Simulator(WsgiTransport(app), base_url=BASE_URL, clock=clock, auth_token=AUTH_TOKEN)
    call = sim.dial(STRANGER)
    call.press("1")
    assert call.state == "ask_phone"
    call.press("1380000000")  # one digit short: a no-match, still masked
    call.press("13800000001")
    record = runtime_of(app).records.record(call.call_sid)
    assert record is not None
    inputs = [(e.state, e.detail) for e in record.events if e.kind == "input"]
    assert ("ask_phone", "entered *******0001") in inputs
    assert not [detail for _, detail in inputs if "1380000000" in detail]


# -- the real server: waitress ------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start ``app`` on waitress, on a free port, in a thread; stop it after the test.

    The thread runs waitress's loop in short turns until told to stop; its sockets are closed
    only after it has stopped, so no socket is closed under a running ``select``."""
    stop = threading.Event()
    servers: list[tuple[Any, threading.Thread]] = []

    def start(app: Flask, **options: Any) -> int:
        server = waitress.create_server(app, **{**options, "host": "127.0.0.1", "port": 0})
        sockets = server._map  # waitress's socket map: the listener and its connections

        def run() -> None:
            while not stop.is_set():
                wasyncore.loop(timeout=0.05, map=sockets, count=1)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        servers.append((server, thread))
        return int(server.effective_port)

    yield start
    stop.set()
    for server, thread in servers:
        thread.join(timeout=5)
        wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown()


PUBLIC = "https://ivr.example.com"
PROXIED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "ivr.example.com",
    "X-Forwarded-For": "198.51.100.7",
}


def post_through_proxy(port: int) -> int:
    """A webhook Twilio signed for the public https URL, as a proxy forwards it over http."""
    form = {"CallSid": "CA1", "From": ZHANG_WEI}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}/voice", form)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            "/voice",
            body="&".join(f"{k}={v.replace('+', '%2B')}" for k, v in form.items()),
            headers={
                **PROXIED,
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_behind_a_trusted_proxy_a_signed_https_webhook_is_answered_by_ivr_serves_waitress(
    make_app: MakeApp, serve: Any
) -> None:
    app = make_app(IVR_TRUST_PROXY="1")
    settings = runtime_of(app).settings
    options = waitress_options(settings, host="127.0.0.1", port=0, threads=2)
    assert post_through_proxy(serve(app, **options)) == 200
    # waitress's own defaults drop the X-Forwarded-* headers: what `ivr serve` did before
    assert post_through_proxy(serve(app)) == 403


def test_waitress_refuses_a_declared_100_mb_body_before_reading_it(
    make_app: MakeApp, serve: Any
) -> None:
    app = make_app()
    settings = runtime_of(app).settings
    port = serve(app, **waitress_options(settings, host="127.0.0.1", port=0, threads=2))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /voice HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {HUNDRED_MB}\r\n\r\n".encode()
        )
        status_line = conn.recv(1024).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_waitress_options_trust_one_proxy_only_when_told() -> None:
    plain = waitress_options(Settings(), host="0.0.0.0", port=8080, threads=4)
    assert plain == {
        "host": "0.0.0.0",
        "port": 8080,
        "threads": 4,
        "ident": "ivr",
        "max_request_body_size": 65537,
    }
    trusting = waitress_options(Settings(trust_proxy=True), host="0.0.0.0", port=8080, threads=4)
    assert {k: v for k, v in trusting.items() if k not in plain} == {
        "trusted_proxy": "*",
        "trusted_proxy_count": 1,
        "trusted_proxy_headers": {
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-forwarded-port",
        },
        "clear_untrusted_proxy_headers": True,
    }


@pytest.mark.parametrize(
    ("host", "token", "notice"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("192.0.2.10", None, True),
        ("0.0.0.0", "agent-secret", False),
    ],
)
def test_serving_beyond_this_machine_without_an_agent_token_says_how_to_open_the_agent_pages(
    host: str, token: str | None, notice: bool
) -> None:
    said = access_notice(Settings(agent_token=token), host)
    expected = (
        f"     listening on {host} without IVR_AGENT_TOKEN: the /agent pages answer only "
        "requests from this machine; set IVR_AGENT_TOKEN to open them to your agents"
    )
    assert said == (expected if notice else None)


def test_a_webhook_signature_is_computed_once_per_request(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    computed: list[str] = []
    original = RequestValidator.compute_signature

    def counting(self: RequestValidator, uri: str, params: Any, algorithm: Any = None) -> str:
        computed.append(uri)
        return original(self, uri, params, algorithm)

    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        BASE_URL + "/voice", {"CallSid": "CAonce", "From": ZHANG_WEI}
    )
    monkeypatch.setattr(RequestValidator, "compute_signature", counting)
    response = app.test_client().post(
        "/voice",
        data={"CallSid": "CAonce", "From": ZHANG_WEI},
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status_code == 200
    assert computed == [BASE_URL + "/voice"]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"CallSid": "CA1", "From": "+8613800138000", "Digits": "1#"},
        {"b": "2", "a": "1", "A": "0", "a b": "x y", "Ünï": "çödé 元", "empty": ""},
        {"SpeechResult": "my PIN is 1 2 3 & 4=5 +6 %7", "Confidence": "0.93"},
    ],
)
@pytest.mark.parametrize(
    "url", ["https://ivr.example.com/voice", "http://127.0.0.1:5000/voice/step?n=3&x=%C3%A9"]
)
def test_a_form_read_as_fields_is_signed_as_the_plain_dict(url: str, form: dict[str, str]) -> None:
    validator = RequestValidator(AUTH_TOKEN)
    expected = validator.compute_signature(url, form)

    assert validator.compute_signature(url, signatures.Fields(form)) == expected
    assert SignatureChecker(AUTH_TOKEN).valid(url, form, expected) is True
    assert SignatureChecker(AUTH_TOKEN).valid(url, {**form, "extra": ""}, expected) is False


def test_the_public_url_of_a_received_url_is_the_same_when_asked_again() -> None:
    checker = SignatureChecker(AUTH_TOKEN, "https://ivr.example.com/base/")
    received = "http://127.0.0.1:5000/voice/step?n=3"

    first = checker.public_url(received)
    again = checker.public_url(received)
    other = checker.public_url("http://127.0.0.1:5000/voice/step?n=4")

    assert first == again == "https://ivr.example.com/base/voice/step?n=3"
    assert other == "https://ivr.example.com/base/voice/step?n=4"


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        ("https://ivr.example.com:443/voice", "https://ivr.example.com/voice"),
        ("https://ivr.example.com/voice", "https://ivr.example.com:443/voice"),
    ],
)
def test_a_signature_over_the_url_with_or_without_its_default_port_still_matches(
    signed: str, received: str
) -> None:
    form = {"CallSid": "CAport"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed, form)
    checker = SignatureChecker(AUTH_TOKEN)

    assert checker.valid(received, form, signature) is True
    assert checker.valid(received, {"CallSid": "CAother"}, signature) is False
