"""The webhooks as Twilio meets them: the exact TwiML of the first answer, what callers send,
duplicate and concurrent deliveries, unknown calls, missing fields, status callbacks,
signatures, errors and the fallback URL.

Whole calls through the hotline's menus are call scripts (tests/calls, replayed by
tests/test_call_scripts.py); the engine's rules are tests/test_engine.py's. Where the database
matters (duplicates, locking, sessions, records) a test runs on SQLite and, where it runs,
PostgreSQL.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.clock import ManualClock
from ivr.testing.scripts import squash
from ivr.testing.simulator import Call
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import WANG_FANG
from ivr.wallet.demo import ZHANG_WEI
from tests.conftest import AUTH_TOKEN
from tests.conftest import BASE_URL
from tests.conftest import MakeApp
from tests.conftest import post
from tests.conftest import runtime_of


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app(IVR_AUDIO="all")  # the shipped recordings are espeak-ng previews


@pytest.fixture
def app_on_each_database(make_app: MakeApp, database_url: str) -> Flask:
    return make_app(IVR_DATABASE_URL=database_url, IVR_AUDIO="all")  # shipped previews play


def simulator(app: Flask, clock: ManualClock) -> Simulator:
    # A played prompt shows in the transcript as the text it was recorded from.
    return Simulator(
        WsgiTransport(app),
        base_url=BASE_URL,
        auth_token=AUTH_TOKEN,
        clock=clock,
        play_text=runtime_of(app).play_text,
    )


def said(call: Call) -> str:
    """What the caller heard since their last action, compared as call scripts compare it: a
    played prompt reads as its text, and no space where a recording meets a said value in
    Chinese ("验证成功，" ▶ "张伟，" ▶ "您好。")."""
    return squash(call.heard())


def words(app: Flask, elements: list[ET.Element]) -> str:
    """The words of the <Say> and <Play> elements in ``elements``, a played prompt read as its
    text."""
    play_text = runtime_of(app).play_text
    spoken = [e for element in elements for e in element.iter() if e.tag in ("Say", "Play")]
    return squash(
        " ".join(
            (play_text(BASE_URL + (e.text or "")) or "?") if e.tag == "Play" else (e.text or "")
            for e in spoken
        )
    )


def document_words(app: Flask, response: Any) -> str:
    return words(app, [ET.fromstring(response.get_data(as_text=True))])


def verified(sim: Simulator, caller: str) -> Call:
    call = sim.dial(caller)
    call.press("1")
    call.press("123456")
    assert call.state == "main_menu"
    return call


def assert_queued(call: Call, queue: str) -> None:
    """The caller waits in ``queue``; hanging up there reports it."""
    assert call.waiting_for == "queue"
    call.hangup()
    assert call.result.outcome is not None
    assert (call.result.outcome.kind, call.result.outcome.queue) == ("queued", queue)


def wallet(app: Flask) -> Any:
    return runtime_of(app).services.wallet


def next_step(call: Call) -> int:
    """The step number the call's next webhook carries."""
    return int(call.result.requests[-1][0].split("n=")[1]) + 1


# -- exact TwiML of the first answer --------------------------------------------------------


def test_incoming_call_greets_in_both_languages_with_exact_twiml(make_app: MakeApp) -> None:
    app = make_app(IVR_AUDIO=False)  # every prompt said, as where no current recording exists

    response = post(app, "/voice", CallSid="CA1", From=ZHANG_WEI)

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.headers["X-IVR-State"] == "welcome"
    zh = 'language="cmn-CN" voice="Polly.Zhiyu-Neural"'
    en = 'language="en-US" voice="Polly.Joanna-Neural"'
    assert response.get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Gather action="/voice/step?n=1" finishOnKey="#" input="dtmf" method="POST" numDigits="1" timeout="5">'
        f"<Say {zh}>您好，欢迎致电数字钱包客服热线。</Say>"
        f"<Say {en}>Welcome to the digital wallet hotline.</Say>"
        f"<Say {zh}>中文服务请按1。</Say>"
        f"<Say {en}>For English, press 2.</Say>"
        f"<Say {zh}>人工服务请按0。重听请按9。</Say>"
        f"<Say {en}>To speak to an agent, press 0. To hear these options again, press 9.</Say>"
        "</Gather>"
        '<Redirect method="POST">/voice/step?n=1</Redirect>'
        "</Response>"
    )


def test_the_greeting_played_from_recordings_says_the_same_words(app: Flask) -> None:
    response = post(app, "/voice", CallSid="CA1", From=ZHANG_WEI)

    gather = ET.fromstring(response.get_data(as_text=True))[0]
    assert gather.tag == "Gather"
    assert words(app, list(gather)) == squash(
        "您好，欢迎致电数字钱包客服热线。 Welcome to the digital wallet hotline. "
        "中文服务请按1。 For English, press 2. 人工服务请按0。重听请按9。 "
        "To speak to an agent, press 0. To hear these options again, press 9."
    )


def test_pin_prompt_gathers_six_digits_and_never_contains_the_pin(
    app_on_each_database: Flask,
) -> None:
    app = app_on_each_database
    post(app, "/voice", CallSid="CA2", From=ZHANG_WEI)
    post(app, "/voice/step?n=1", CallSid="CA2", From=ZHANG_WEI, Digits="1")

    response = post(app, "/voice/step?n=2", CallSid="CA2", From=ZHANG_WEI, Digits="123456")

    body = response.get_data(as_text=True)
    assert "123456" not in body
    root = ET.fromstring(body)
    assert [child.tag for child in root][-2:] == ["Gather", "Redirect"]
    assert words(app, list(root)[:-2]) == "验证成功，张伟，您好。"
    assert root[-2].attrib["action"] == "/voice/step?n=3"
    record = runtime_of(app).services.recorder.record("CA2")
    assert "entered ******" in [e.detail for e in record.events]
    assert not any("123456" in e.detail for e in record.events)


# -- what callers send ------------------------------------------------------------------------


def test_garbage_digits_are_an_invalid_key_not_an_error(app: Flask) -> None:
    post(app, "/voice", CallSid="CA9", From=ZHANG_WEI)

    markup = post(app, "/voice/step?n=1", CallSid="CA9", From=ZHANG_WEI, Digits="<Hangup/>")
    long = post(app, "/voice/step?n=2", CallSid="CA9", From=ZHANG_WEI, Digits="9" * 5000)

    assert (markup.status_code, markup.headers["X-IVR-State"]) == (200, "welcome")
    assert "抱歉，您的输入无效。" in document_words(app, markup)
    assert (long.status_code, long.headers["X-IVR-State"]) == (200, "welcome")
    assert "抱歉，您的输入无效。" in document_words(app, long)


def test_missing_parameters_get_a_400_that_names_them(app: Flask) -> None:
    response = post(app, "/voice", From=ZHANG_WEI)

    assert response.status_code == 400
    assert "'CallSid'" in response.get_data(as_text=True)


# -- duplicates, concurrency, unknown and ended calls -----------------------------------------


def test_a_duplicate_webhook_replays_its_reply_and_opens_no_second_ticket(
    app_on_each_database: Flask, clock: ManualClock
) -> None:
    app = app_on_each_database
    call = verified(simulator(app, clock), WANG_FANG)
    call.press("3")
    step = next_step(call)

    first = post(app, f"/voice/step?n={step}", CallSid=call.call_sid, From=WANG_FANG, Digits="1")
    again = post(app, f"/voice/step?n={step}", CallSid=call.call_sid, From=WANG_FANG, Digits="1")

    assert first.get_data() == again.get_data()
    tickets = wallet(app).tickets(wallet(app).find_by_phone(WANG_FANG).id)
    assert [t.kind for t in tickets].count("topup_investigation") == 1


def test_concurrent_duplicate_unlocks_apply_once(
    app_on_each_database: Flask, clock: ManualClock
) -> None:
    app = app_on_each_database
    call = verified(simulator(app, clock), LI_NA)
    call.press("1")
    step = next_step(call)
    responses: list[Any] = []

    def deliver() -> None:
        responses.append(
            post(app, f"/voice/step?n={step}", CallSid=call.call_sid, From=LI_NA, Digits="1")
        )

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(responses) == 4
    assert len({response.get_data() for response in responses}) == 1
    assert "您的账户已解锁，现在可以正常登录。" in document_words(app, responses[0])
    assert wallet(app).find_by_phone(LI_NA).status == "active"


def test_unknown_call_sid_on_an_action_url_starts_over_politely(
    app_on_each_database: Flask,
) -> None:
    response = post(
        app_on_each_database, "/voice/step?n=4", CallSid="CAnobody", From=ZHANG_WEI, Digits="1"
    )

    assert (response.status_code, response.headers["X-IVR-State"]) == (200, "restart")
    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root] == ["Play", "Play", "Redirect"]  # the restart, recorded
    assert root[2].text == "/voice"


def test_status_callback_ends_the_session_and_closes_the_record(
    app_on_each_database: Flask, clock: ManualClock
) -> None:
    app = app_on_each_database
    call = verified(simulator(app, clock), ZHANG_WEI)

    call.hangup()

    runtime = runtime_of(app)
    assert runtime.store.load(call.call_sid).ended_at is not None
    record = runtime.services.recorder.record(call.call_sid)
    assert record.ended_at is not None
    assert record.outcome == "abandoned"


# -- signatures -------------------------------------------------------------------------------


def test_forged_webhook_gets_403(app: Flask) -> None:
    client = app.test_client()
    form = {"CallSid": "CA1", "From": ZHANG_WEI}

    unsigned = client.post("/voice", data=form)
    forged = client.post("/voice", data=form, headers={"X-Twilio-Signature": "AAAA"})

    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert "IVR_PUBLIC_URL" in forged.get_data(as_text=True)


def test_signature_is_checked_against_the_public_url_behind_a_tunnel(make_app: MakeApp) -> None:
    app = make_app(IVR_PUBLIC_URL="https://abc.example-tunnel.app")
    form = {"CallSid": "CA1", "From": ZHANG_WEI}
    validator = RequestValidator(AUTH_TOKEN)
    public = validator.compute_signature("https://abc.example-tunnel.app/voice", form)
    local = validator.compute_signature("http://localhost/voice", form)
    client = app.test_client()

    assert (
        client.post("/voice", data=form, headers={"X-Twilio-Signature": public}).status_code == 200
    )
    assert (
        client.post("/voice", data=form, headers={"X-Twilio-Signature": local}).status_code == 403
    )


# -- errors: never dead air -------------------------------------------------------------------


class BrokenWallet:
    """A wallet whose every use fails, as when its database is down."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("wallet down")


def test_an_unexpected_error_still_answers_twiml_with_an_apology_and_a_queue(
    make_app: MakeApp, clock: ManualClock
) -> None:
    app = make_app(wallet=BrokenWallet())
    call = simulator(app, clock).dial(ZHANG_WEI)

    call.press("1")  # identifying the caller asks the wallet

    assert "抱歉，系统暂时出现问题" in said(call)
    assert_queued(call, "general")


def test_fallback_logs_the_error_apologises_and_queues_for_an_agent(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    post(app, "/voice", CallSid="CAfb", From=ZHANG_WEI)

    with caplog.at_level("ERROR"):
        response = post(
            app,
            "/voice/fallback",
            CallSid="CAfb",
            From=ZHANG_WEI,
            ErrorCode="11200",
            ErrorUrl="https://x/voice/step?n=1",
        )

    assert response.status_code == 200
    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root] == ["Play", "Play", "Enqueue"]  # the apology, recorded
    assert root[2].text == "general"
    assert "error 11200 on https://x/voice/step?n=1" in caplog.text
    record = runtime_of(app).services.recorder.record("CAfb")
    assert record.reason == "twilio fallback"
