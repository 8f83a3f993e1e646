"""Whole calls through the webhooks: exact TwiML, the simulator's transcripts, lasting effects,
duplicates, signatures and bad input. Runs on SQLite and, where it runs, PostgreSQL."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.clock import ManualClock
from ivr.testing.scripts import squash
from ivr.testing.simulator import Call
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.web.app import create_app

TOKEN = "test-auth-token"
BASE = "http://localhost"
ZHANG, LI, WANG, LIU, STRANGER = (
    "+8613800000001",
    "+8613800000002",
    "+8613800000003",
    "+8613800000004",
    "+8613900000009",
)


@pytest.fixture
def app(database_url: str, clock: ManualClock) -> Iterator[Flask]:
    app = create_app(
        {"IVR_DATABASE_URL": database_url, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_LOG_LEVEL": "WARNING"},
        clock=clock,
        environ={},
    )
    yield app
    app.extensions["ivr"].database.dispose()


@pytest.fixture
def app_without_audio(database_url: str, clock: ManualClock) -> Iterator[Flask]:
    """IVR_AUDIO off: every prompt is said, as where no current recording exists."""
    app = create_app(
        {
            "IVR_DATABASE_URL": database_url,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_LOG_LEVEL": "WARNING",
            "IVR_AUDIO": False,
        },
        clock=clock,
        environ={},
    )
    yield app
    app.extensions["ivr"].database.dispose()


@pytest.fixture
def sim(app: Flask, clock: ManualClock) -> Simulator:
    # A played prompt shows in the transcript as the text it was recorded from.
    play_text = app.extensions["ivr"].play_text
    return Simulator(
        WsgiTransport(app), base_url=BASE, auth_token=TOKEN, clock=clock, play_text=play_text
    )


def said(call: Call) -> str:
    """What the caller heard since their last action, compared as call scripts compare it: a
    played prompt reads as its text, and no space where a recording meets a said value in
    Chinese ("验证成功，" ▶ "张伟，" ▶ "您好。")."""
    return squash(call.heard())


def words(app: Flask, elements: list[ET.Element]) -> str:
    """The words of the <Say> and <Play> elements in ``elements``, a played prompt read as its
    text."""
    play_text = app.extensions["ivr"].play_text
    spoken = [e for element in elements for e in element.iter() if e.tag in ("Say", "Play")]
    return squash(
        " ".join(
            (play_text(BASE + (e.text or "")) or "?") if e.tag == "Play" else (e.text or "")
            for e in spoken
        )
    )


def document_words(app: Flask, response: Any) -> str:
    return words(app, [ET.fromstring(response.get_data(as_text=True))])


def signed_post(app: Flask, path: str, form: dict[str, str]) -> Any:
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, form)
    return app.test_client().post(path, data=form, headers={"X-Twilio-Signature": signature})


def verified(sim: Simulator, caller: str, lang_key: str = "1") -> Call:
    call = sim.dial(caller)
    call.press(lang_key)
    call.press("123456")
    assert call.state == "main_menu"
    return call


def assert_queued(call: Call, queue: str | None = None) -> None:
    """The caller waits in a queue; hanging up there reports which one."""
    assert call.waiting_for == "queue"
    call.hangup()
    assert call.result.outcome is not None
    assert call.result.outcome.kind == "queued"
    if queue is not None:
        assert call.result.outcome.queue == queue


def wallet(app: Flask) -> Any:
    return app.extensions["ivr"].services.wallet


# -- exact TwiML ----------------------------------------------------------------------------


def test_incoming_call_greets_in_both_languages_with_exact_twiml(app_without_audio: Flask) -> None:
    response = signed_post(app_without_audio, "/voice", {"CallSid": "CA1", "From": ZHANG})
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
        "</Gather>"
        '<Redirect method="POST">/voice/step?n=1</Redirect>'
        "</Response>"
    )


def test_the_greeting_played_from_recordings_says_the_same_words(app: Flask) -> None:
    response = signed_post(app, "/voice", {"CallSid": "CA1", "From": ZHANG})
    gather = ET.fromstring(response.get_data(as_text=True))[0]
    assert gather.tag == "Gather"
    assert words(app, list(gather)) == squash(
        "您好，欢迎致电数字钱包客服热线。 Welcome to the digital wallet hotline. "
        "中文服务请按1。 For English, press 2. 人工服务请按0。重听请按9。"
    )


def test_pin_prompt_gathers_six_digits_and_never_contains_the_pin(app: Flask) -> None:
    signed_post(app, "/voice", {"CallSid": "CA2", "From": ZHANG})
    signed_post(app, "/voice/step?n=1", {"CallSid": "CA2", "From": ZHANG, "Digits": "1"})
    response = signed_post(
        app, "/voice/step?n=2", {"CallSid": "CA2", "From": ZHANG, "Digits": "123456"}
    )
    body = response.get_data(as_text=True)
    assert "123456" not in body
    root = ET.fromstring(body)
    assert [child.tag for child in root][-2:] == ["Gather", "Redirect"]
    assert words(app, list(root)[:-2]) == "验证成功，张伟，您好。"
    assert root[-2].attrib["action"] == "/voice/step?n=3"
    record = app.extensions["ivr"].services.recorder.record("CA2")
    assert "entered ******" in [e.detail for e in record.events]
    assert not any("123456" in e.detail for e in record.events)


# -- every demo caller, both languages --------------------------------------------------------


@pytest.mark.parametrize(
    ("lang_key", "expected"),
    [
        (
            "1",
            "您最近一笔失败的支付是昨天10点00分向朝阳电器支付的3000元，失败原因是超出每日支付限额。",
        ),
        (
            "2",
            "Your most recent failed payment was 3,000 yuan to Chaoyang Electronics yesterday at 10:00 AM. It failed because of the daily payment limit was exceeded.",
        ),
    ],
)
def test_zhang_wei_hears_his_failed_payment_and_the_advice_for_its_reason(
    sim: Simulator, lang_key: str, expected: str
) -> None:
    call = verified(sim, ZHANG, lang_key)
    call.press("2")
    assert expected in said(call)
    assert ("每日支付限额" if lang_key == "1" else "daily and per-payment limits") in said(call)
    assert call.state == "solved"


@pytest.mark.parametrize(
    ("lang_key", "expected"),
    [
        ("1", "您有一笔来自青叶书店的89元9角退款，当前状态为处理中，预计11月26日到账。"),
        (
            "2",
            "Your refund of 89 yuan and 90 fen from Greenleaf Books is in progress and is expected on November 26.",
        ),
    ],
)
def test_zhang_wei_hears_his_refund_status(sim: Simulator, lang_key: str, expected: str) -> None:
    call = verified(sim, ZHANG, lang_key)
    call.press("4")
    assert expected in said(call)


def test_zhang_wei_hears_his_limits_and_the_fee_rules(sim: Simulator) -> None:
    call = verified(sim, ZHANG, "2")
    call.press("8")
    heard = said(call)
    assert (
        "Your daily payment limit is 2,000 yuan and your per-payment limit is 5,000 yuan." in heard
    )
    assert "withdrawals to a bank card are free up to 10,000 yuan a month" in heard


@pytest.mark.parametrize("lang_key", ["1", "2"])
def test_stolen_account_is_frozen_at_once_and_lastingly_then_queued_as_security_priority(
    app: Flask, sim: Simulator, lang_key: str
) -> None:
    call = verified(sim, ZHANG, lang_key)
    call.press("5")
    # two payments and the failed attempt of yesterday
    assert (
        "过去24小时内，您的账户共有3笔交易" if lang_key == "1" else "There were 3 transactions"
    ) in said(call)
    assert_queued(call, "security-priority")  # priority callers wait in their own queue
    account = wallet(app).find_by_phone(ZHANG)
    assert (account.status, account.lock_reason) == ("frozen", "reported_stolen")
    handoff = app.extensions["ivr"].services.recorder.record(call.call_sid).handoff
    assert (handoff.queue, handoff.priority, handoff.verified, handoff.reason) == (
        "security",
        10,
        True,
        "account reported stolen",
    )
    assert handoff.steps_tried[0] == "stolen"


@pytest.mark.parametrize("lang_key", ["1", "2"])
def test_li_na_unlocks_her_account_and_the_unlock_lasts(
    app: Flask, sim: Simulator, lang_key: str
) -> None:
    call = verified(sim, LI, lang_key)
    call.press("1")
    assert call.state == "locked_offer"
    call.press("1")
    assert ("您的账户已解锁" if lang_key == "1" else "Your account is unlocked") in said(call)
    assert wallet(app).find_by_phone(LI).status == "active"
    call.press("1")  # solved
    call.press("5")  # very satisfied
    assert call.ended
    assert call.result.outcome is not None
    assert call.result.outcome.kind == "hangup"
    record = app.extensions["ivr"].services.recorder.record(call.call_sid)
    assert record.outcome == "self_served"


@pytest.mark.parametrize("lang_key", ["1", "2"])
def test_wang_fang_opens_a_top_up_investigation_and_hears_its_number_digit_by_digit(
    app: Flask, sim: Simulator, lang_key: str
) -> None:
    call = verified(sim, WANG, lang_key)
    call.press("3")
    assert (
        "尾号6 7 8 9的银行卡充值的200元"
        if lang_key == "1"
        else "200 yuan from the card ending 6 7 8 9"
    ) in said(call)
    assert "48" in said(call)
    call.press("1")
    tickets = wallet(app).tickets(wallet(app).find_by_phone(WANG).id)
    new = [t for t in tickets if t.kind == "topup_investigation"]
    assert len(new) == 1
    assert " ".join(new[0].number) in said(call)


@pytest.mark.parametrize("lang_key", ["1", "2"])
def test_liu_yang_frozen_by_risk_control_goes_to_the_security_queue(
    sim: Simulator, lang_key: str
) -> None:
    call = verified(sim, LIU, lang_key)
    call.press("1")
    assert (
        "检测到陌生设备登录" if lang_key == "1" else "a login from an unrecognised device"
    ) in said(call)
    assert_queued(call, "security")


def test_an_active_account_hears_it_is_not_frozen(sim: Simulator) -> None:
    call = verified(sim, ZHANG, "2")
    call.press("1")
    assert "Your account is active. It is not frozen or locked." in said(call)


@pytest.mark.parametrize("lang_key", ["1", "2"])
def test_unregistered_caller_keys_in_a_registered_number_which_is_read_back(
    sim: Simulator, lang_key: str
) -> None:
    call = sim.dial(STRANGER)
    call.press(lang_key)
    assert call.state == "ask_phone"
    call.press("13800000003#")
    assert "1 3 8 0 0 0 0 0 0 0 3" in said(call)
    call.press("1")
    assert call.state == "ask_pin"
    call.press("123456")
    assert call.state == "main_menu"


def test_login_help_puts_one_reset_sms_in_the_outbox(app: Flask, sim: Simulator) -> None:
    call = verified(sim, WANG)
    call.press("7")
    assert "尾号0 0 0 3" in said(call)
    assert len(wallet(app).outbox(wallet(app).find_by_phone(WANG).id)) == 1


def test_new_complaint_is_recorded_and_its_ticket_read_back(app: Flask, sim: Simulator) -> None:
    call = verified(sim, WANG)
    call.press("6")
    call.press("1")
    assert call.waiting_for == "record"
    call.record(10)
    complaints = [
        t
        for t in wallet(app).tickets(wallet(app).find_by_phone(WANG).id)
        if t.kind == "complaint" and t.recording_url
    ]
    assert len(complaints) == 1
    assert f"工单号是{' '.join(complaints[0].number)}" in said(call)


def test_existing_complaint_status_is_read(sim: Simulator) -> None:
    call = verified(sim, WANG)
    call.press("6")
    call.press("2")
    call.press("10000001#")
    assert "工单1 0 0 0 0 0 0 1的状态是正在处理中" in said(call)


# -- retries, lockout, conventions ----------------------------------------------------------


def test_silence_at_the_welcome_defaults_to_chinese(sim: Simulator) -> None:
    call = sim.dial(ZHANG)
    call.silence()
    assert call.state == "ask_pin"
    assert "请输入6位数字电话密码" in said(call)


def test_invalid_key_reprompts_short_then_full_then_transfers_after_three_failures(
    app: Flask, sim: Simulator
) -> None:
    call = verified(sim, ZHANG)
    call.press("*")  # no back from the main menu: invalid
    first = said(call)
    assert first.startswith("抱歉，您的输入无效。账户被冻结或锁定请按1。")  # short: options only
    call.silence()
    second = said(call)
    assert second.startswith("抱歉，没有收到您的按键。请选择您要咨询的问题。")  # full prompt
    call.silence()
    assert "正在为您转接人工客服" in said(call)
    assert_queued(call, "general")
    handoff = app.extensions["ivr"].services.recorder.record(call.call_sid).handoff
    assert handoff.reason == "no input x3 at main_menu"


def test_three_wrong_pins_transfer_with_verification_failed_and_never_reach_the_main_menu(
    app: Flask, sim: Simulator
) -> None:
    call = sim.dial(ZHANG)
    call.press("1")
    for _ in range(3):
        call.press("111111")
    assert "main_menu" not in call.result.states
    assert_queued(call, "general")
    handoff = app.extensions["ivr"].services.recorder.record(call.call_sid).handoff
    assert (handoff.reason, handoff.verified) == ("verification failed", False)


def test_forgotten_pin_reaches_an_agent_with_zero(sim: Simulator) -> None:
    call = sim.dial(LI)
    call.press("1")
    call.press("0#")
    assert_queued(call, "general")


def test_nine_repeats_the_menu_and_star_goes_back(sim: Simulator) -> None:
    call = verified(sim, WANG)
    call.press("6")
    assert call.state == "complaints"
    call.press("9")
    assert said(call).startswith("投诉服务。")
    call.press("*")
    assert call.state == "main_menu"


def test_garbage_digits_are_an_invalid_key_not_an_error(app: Flask) -> None:
    form = {"CallSid": "CA9", "From": ZHANG}
    signed_post(app, "/voice", form)
    response = signed_post(app, "/voice/step?n=1", {**form, "Digits": "<Hangup/>"})
    assert response.status_code == 200
    assert response.headers["X-IVR-State"] == "welcome"
    assert "抱歉，您的输入无效。" in document_words(app, response)
    long = signed_post(app, "/voice/step?n=2", {**form, "Digits": "9" * 5000})
    assert long.status_code == 200
    assert "抱歉，您的输入无效。" in document_words(app, long)


# -- duplicates, concurrency, unknown calls ---------------------------------------------------


def test_a_duplicate_webhook_replays_its_reply_and_opens_no_second_ticket(
    app: Flask, sim: Simulator
) -> None:
    call = verified(sim, WANG)
    call.press("3")
    step = int(call.result.requests[-1][0].split("n=")[1])
    form = {"CallSid": call.call_sid, "From": WANG, "Digits": "1"}
    first = signed_post(app, f"/voice/step?n={step + 1}", form)
    again = signed_post(app, f"/voice/step?n={step + 1}", form)
    assert first.get_data() == again.get_data()
    tickets = [
        t
        for t in wallet(app).tickets(wallet(app).find_by_phone(WANG).id)
        if t.kind == "topup_investigation"
    ]
    assert len(tickets) == 1


def test_concurrent_duplicate_unlocks_apply_once(app: Flask, sim: Simulator) -> None:
    call = verified(sim, LI)
    call.press("1")
    step = int(call.result.requests[-1][0].split("n=")[1]) + 1
    form = {"CallSid": call.call_sid, "From": LI, "Digits": "1"}
    bodies: list[bytes] = []

    def post() -> None:
        bodies.append(signed_post(app, f"/voice/step?n={step}", form).get_data())

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(bodies)) == 1
    assert b"unlocked" in bodies[0] or "已解锁".encode() in bodies[0]
    assert wallet(app).find_by_phone(LI).status == "active"


def test_unknown_call_sid_on_an_action_url_starts_over_politely(app: Flask) -> None:
    response = signed_post(
        app, "/voice/step?n=4", {"CallSid": "CAnobody", "From": ZHANG, "Digits": "1"}
    )
    assert response.status_code == 200
    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root] == ["Play", "Play", "Redirect"]  # the restart, recorded
    assert root[2].text == "/voice"


def test_missing_parameters_get_a_400_that_names_them(app: Flask) -> None:
    response = signed_post(app, "/voice", {"From": ZHANG})
    assert response.status_code == 400
    assert "'CallSid'" in response.get_data(as_text=True)


def test_status_callback_ends_the_session_and_closes_the_record(app: Flask, sim: Simulator) -> None:
    call = verified(sim, ZHANG)
    call.hangup()
    runtime = app.extensions["ivr"]
    assert runtime.store.load(call.call_sid).ended_at is not None
    record = runtime.services.recorder.record(call.call_sid)
    assert record.ended_at is not None
    assert record.outcome == "abandoned"


# -- signatures and errors ------------------------------------------------------------------


def test_forged_webhook_gets_403(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/voice", data={"CallSid": "CA1", "From": ZHANG}).status_code == 403
    forged = client.post(
        "/voice", data={"CallSid": "CA1", "From": ZHANG}, headers={"X-Twilio-Signature": "AAAA"}
    )
    assert forged.status_code == 403
    assert "IVR_PUBLIC_URL" in forged.get_data(as_text=True)


def test_signature_is_checked_against_the_public_url_behind_a_tunnel(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = create_app(
        {
            "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_PUBLIC_URL": "https://abc.example-tunnel.app",
        },
        clock=clock,
        environ={},
    )
    form = {"CallSid": "CA1", "From": ZHANG}
    good = RequestValidator(TOKEN).compute_signature("https://abc.example-tunnel.app/voice", form)
    client = app.test_client()
    assert client.post("/voice", data=form, headers={"X-Twilio-Signature": good}).status_code == 200
    local = RequestValidator(TOKEN).compute_signature("http://localhost/voice", form)
    assert (
        client.post("/voice", data=form, headers={"X-Twilio-Signature": local}).status_code == 403
    )


def test_an_unexpected_error_still_answers_twiml_with_an_apology_and_a_queue(
    app: Flask, sim: Simulator
) -> None:
    runtime = app.extensions["ivr"]

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("wallet down")

    call = sim.dial(ZHANG)
    object.__setattr__(runtime.services, "wallet", Broken())
    call.press("1")
    assert "抱歉，系统暂时出现问题" in said(call)
    assert_queued(call, "general")


def test_fallback_logs_the_error_apologises_and_queues_for_an_agent(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    signed_post(app, "/voice", {"CallSid": "CAfb", "From": ZHANG})
    form = {
        "CallSid": "CAfb",
        "From": ZHANG,
        "ErrorCode": "11200",
        "ErrorUrl": "https://x/voice/step?n=1",
    }
    with caplog.at_level("ERROR"):
        response = signed_post(app, "/voice/fallback", form)
    assert response.status_code == 200
    root = ET.fromstring(response.get_data(as_text=True))
    assert [c.tag for c in root] == ["Play", "Play", "Enqueue"]  # the apology, recorded
    assert root[2].text == "general"
    assert "error 11200 on https://x/voice/step?n=1" in caplog.text
    record = app.extensions["ivr"].services.recorder.record("CAfb")
    assert record.reason == "twilio fallback"
