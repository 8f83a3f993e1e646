"""Waiting for an agent and what happens after: the hold document, callbacks, opening hours,
what Twilio reports when the queue is done, ringing an agent's phone, priority, and speech in
menus. Through the real webhooks and the simulator."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.clock import ManualClock
from ivr.testing.simulator import Call
from ivr.testing.simulator import Simulator
from ivr.testing.simulator import WsgiTransport
from ivr.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
ZHANG, LI, WANG = "+8613800000001", "+8613800000002", "+8613800000003"
OPEN = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday
CLOSED = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
HOLIDAY = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)  # 11:00 on National Day


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., tuple[Flask, Simulator]]]:
    apps: list[Flask] = []

    def build(at: datetime = OPEN, flows: Path | None = None) -> tuple[Flask, Simulator]:
        clock = ManualClock(at)
        folder = tmp_path / f"app{len(apps)}"
        config: dict[str, Any] = {
            "IVR_DATABASE_URL": f"sqlite:///{folder / 'ivr.sqlite3'}",
            "IVR_LOG_LEVEL": "WARNING",
            "IVR_AUDIO": False,
        }
        if flows is not None:
            config["IVR_FLOWS_DIR"] = str(flows)
        app = create_app(config, clock=clock, environ={})
        apps.append(app)
        return app, Simulator(WsgiTransport(app), base_url="http://localhost", clock=clock)

    yield build
    for app in apps:
        app.extensions["ivr"].database.dispose()


def to_agent(sim: Simulator, caller: str = ZHANG, lang_key: str = "1") -> Call:
    call = sim.dial(caller)
    call.press(lang_key)
    call.press("123456")
    call.press("0")
    return call


def post(app: Flask, path: str, **form: str) -> Any:
    return app.test_client().post(path, data=form)


# -- the hold document ------------------------------------------------------------------------


def test_the_hold_document_tells_the_place_in_line_and_the_wait_from_twilios_history(
    make: Any,
) -> None:
    app, _ = make()
    body = post(
        app,
        "/voice/hold?queue=payments",
        QueuePosition="2",
        AvgQueueTime="240",
        CurrentQueueSize="4",
    ).get_data(as_text=True)
    root = ET.fromstring(body)
    assert [e.tag for e in root] == ["Say", "Say", "Gather", "Pause"]
    # Little's law: 240 s on average for 4 waiting, the second in line: 2 minutes.
    assert root[0].text == "您前面还有2位客户，预计等待约2分钟。"
    assert root[1].text == "正在为您转接支付问题专员，请稍候。"
    gather = root[2]
    assert gather.attrib == {
        "action": "/voice/hold/choice?queue=payments",
        "input": "dtmf",
        "method": "POST",
        "numDigits": "1",
        "timeout": "3",
    }
    assert gather[0].text == "如果您不想等待，请按1，挂机后客服人员会给您回电。"


def test_without_history_the_wait_comes_from_the_queues_handle_time(make: Any) -> None:
    app, _ = make()
    body = post(app, "/voice/hold?queue=security", QueuePosition="3").get_data(as_text=True)
    # 3 callers x 420 s handle time, one agent: 21 minutes
    assert "您前面还有3位客户，预计等待约21分钟。" in body


def test_a_full_queue_offers_the_callback_first(make: Any) -> None:
    app, _ = make()
    body = post(app, "/voice/hold?queue=security", QueuePosition="10", CurrentQueueSize="10")
    assert [e.tag for e in ET.fromstring(body.get_data(as_text=True))][:2] == ["Gather", "Say"]


def test_another_key_while_waiting_keeps_the_caller_waiting(make: Any) -> None:
    app, _ = make()
    body = post(app, "/voice/hold/choice?queue=general", Digits="7").get_data(as_text=True)
    assert "<Leave" not in body
    assert "客服人员正忙" in body
    assert post(app, "/voice/hold/choice?queue=general", Digits="1").get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Leave /></Response>'
    )


def test_accepting_the_callback_leaves_the_queue_books_one_request_and_hangs_up(make: Any) -> None:
    app, sim = make()
    call = to_agent(sim)
    call.hold(1, position=2)
    call.press("1")
    assert call.ended
    assert "已为您预约回电，客服人员会尽快给您回电。" in call.heard()
    book = app.extensions["ivr"].services.callbacks
    requests = book.pending()
    assert [(r.call_sid, r.phone, r.queue, r.preferred_at) for r in requests] == [
        (call.call_sid, ZHANG, "general", None)
    ]
    handoff = app.extensions["ivr"].services.recorder.record(call.call_sid).handoff
    assert handoff.status == "left"


# -- opening hours -------------------------------------------------------------------------


@pytest.mark.parametrize(("at", "reopens"), [(CLOSED, "明天9点00分"), (HOLIDAY, "明天9点00分")])
def test_outside_hours_the_caller_hears_when_the_line_reopens(
    make: Any, at: datetime, reopens: str
) -> None:
    _, sim = make(at)
    call = to_agent(sim)
    assert call.state == "after_hours"
    assert f"现在不在服务时间内，将于{reopens}恢复服务。" in call.heard()
    assert call.waiting_for == "gather"


def test_after_hours_voicemail_records_with_a_status_callback_and_reads_back_a_ticket(
    make: Any,
) -> None:
    app, sim = make(CLOSED)
    call = to_agent(sim)
    call.press("1")
    assert call.waiting_for == "record"
    call.record(15)
    wallet = app.extensions["ivr"].services.wallet
    tickets = [t for t in wallet.tickets(wallet.find_by_phone(ZHANG).id) if t.kind == "voicemail"]
    assert len(tickets) == 1
    assert tickets[0].recording_url
    assert f"工单号是{' '.join(tickets[0].number)}" in call.heard()
    record_request = next(url for url, _ in call.result.requests if "/voice/step" in url)
    assert record_request  # the Record posted back to the step URL
    body = post(app, "/voice/recording-status", CallSid=call.call_sid, RecordingStatus="completed")
    assert body.status_code == 200


def test_the_voicemail_record_verb_asks_for_the_recording_status(make: Any) -> None:
    app, _ = make(CLOSED)
    client = app.test_client()
    form = {"CallSid": "CAvm", "From": ZHANG}
    client.post("/voice", data=form)
    client.post("/voice/step?n=1", data={**form, "Digits": "1"})
    client.post("/voice/step?n=2", data={**form, "Digits": "123456"})
    client.post("/voice/step?n=3", data={**form, "Digits": "0"})
    body = client.post("/voice/step?n=4", data={**form, "Digits": "1"}).get_data(as_text=True)
    record = ET.fromstring(body).find("Record")
    assert record is not None
    assert record.attrib["recordingStatusCallback"] == "/voice/recording-status"
    assert record.attrib["maxLength"] == "120"


def test_after_hours_callback_is_booked_for_the_next_opening(make: Any) -> None:
    app, sim = make(CLOSED)
    call = to_agent(sim, LI, "2")
    call.press("2")
    assert "soon after we open tomorrow at 9:00 AM" in call.heard()
    (request,) = app.extensions["ivr"].services.callbacks.pending()
    assert request.preferred_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


# -- when the queue is done with the caller ----------------------------------------------


def test_a_bridged_call_gets_the_survey(make: Any) -> None:
    app, sim = make()
    call = to_agent(sim, WANG)
    call.agent_answers()
    assert call.state == "survey"
    call.press("5")
    assert call.ended
    assert app.extensions["ivr"].services.recorder.record(call.call_sid).handoff.status == "bridged"


def _queue_result(app: Flask, result: str, *, field: str = "QueueResult") -> Any:
    client = app.test_client()
    form = {"CallSid": "CAq", "From": ZHANG}
    client.post("/voice", data=form)
    client.post("/voice/step?n=1", data={**form, "Digits": "1"})
    client.post("/voice/step?n=2", data={**form, "Digits": "123456"})
    client.post("/voice/step?n=3", data={**form, "Digits": "0"})
    return client.post("/voice/queue-result?n=4", data={**form, field: result})


@pytest.mark.parametrize("result", ["queue-full", "error", "system-error"])
def test_a_failed_queue_offers_voicemail_or_a_callback(make: Any, result: str) -> None:
    app, _ = make()
    response = _queue_result(app, result)
    assert response.headers["X-IVR-State"] == "agent_unavailable"
    body = response.get_data(as_text=True)
    assert "抱歉，现在暂时无法为您接通人工客服。留言请按1。预约回电请按2。" in body
    handoff = app.extensions["ivr"].services.recorder.record("CAq").handoff
    assert handoff.status == "failed"


def test_a_caller_who_hangs_up_in_the_queue_is_recorded_as_abandoned(make: Any) -> None:
    app, _ = make()
    response = _queue_result(app, "hangup")
    assert response.get_data(as_text=True).endswith("<Response />")
    assert app.extensions["ivr"].services.recorder.record("CAq").handoff.status == "abandoned"


def test_a_repeated_queue_result_replays_its_reply(make: Any) -> None:
    app, _ = make()
    first = _queue_result(app, "bridged")
    again = app.test_client().post(
        "/voice/queue-result?n=4", data={"CallSid": "CAq", "From": ZHANG, "QueueResult": "bridged"}
    )
    assert first.get_data() == again.get_data()
    assert first.headers["X-IVR-State"] == "survey"


# -- ringing an agent's phone instead ----------------------------------------------------------


@pytest.fixture
def dial_flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    text = (ROOT / "flows" / "hotline.yaml").read_text(encoding="utf-8")
    text = text.replace("    max_size: 20\n", '    max_size: 20\n    dial: "+8613900001111"\n', 1)
    (folder / "hotline.yaml").write_text(text, encoding="utf-8")
    return folder


def test_a_queue_with_a_dial_number_rings_the_agent_phone(make: Any, dial_flows: Path) -> None:
    _, sim = make(flows=dial_flows)
    call = to_agent(sim)
    assert call.waiting_for == "dial"
    call.dial_result("completed", 90)
    assert call.state == "survey"


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_an_unanswered_agent_phone_falls_back_to_voicemail_or_callback(
    make: Any, dial_flows: Path, status: str
) -> None:
    _, sim = make(flows=dial_flows)
    call = to_agent(sim)
    call.dial_result(status, 0)
    assert call.state == "agent_unavailable"
    call.press("2")
    assert "已为您预约回电" in call.heard()


# -- priority --------------------------------------------------------------------------------


def test_stolen_account_callers_wait_in_the_priority_queue_that_pickup_drains_first(
    make: Any,
) -> None:
    app, sim = make()
    to_agent(sim, WANG)  # waits in general? no: Wang Fang presses 0 from the main menu
    stolen = sim.dial(ZHANG)
    stolen.press("1")
    stolen.press("123456")
    stolen.press("5")
    assert stolen.waiting_for == "queue"
    pickup = post(app, "/agent/pickup?queue=security").get_data(as_text=True)
    assert "<Queue" in pickup
    assert ">security-priority</Queue>" in pickup
    assert ">general</Queue>" in post(app, "/agent/pickup?queue=general").get_data(as_text=True)


# -- speech in menus ---------------------------------------------------------------------------


def test_speech_menus_listen_for_speech_in_the_callers_language_with_hints(make: Any) -> None:
    _, sim = make()
    call = sim.dial(WANG)
    call.press("2")
    call.press("123456")
    gather = call.gather
    assert gather is not None
    assert gather.input == ("dtmf", "speech")
    assert gather.language == "en-US"
    assert gather.speech_timeout == "auto"
    assert "top up" in (gather.hints or "")


@pytest.mark.parametrize(
    ("lang_key", "said", "state"),
    [
        ("1", "我的充值还没到账", "topup_details"),
        ("1", "账号被别人登了", "agent"),
        ("2", "my payment failed", "solved"),
        ("2", "I want to check my refund", "solved"),
    ],
)
def test_what_callers_say_takes_them_to_the_right_branch(
    make: Any, lang_key: str, said: str, state: str
) -> None:
    _, sim = make()
    call = sim.dial(ZHANG if state != "topup_details" else WANG)
    call.press(lang_key)
    call.press("123456")
    call.say(said)
    assert call.state in {state, "security_priority"}


def test_two_misunderstandings_switch_the_menu_to_keys_only(make: Any) -> None:
    _, sim = make()
    call = sim.dial(WANG)
    call.press("2")
    call.press("123456")
    call.say("what is the weather like today")
    assert call.gather is not None
    assert call.gather.input == ("dtmf", "speech")
    call.say("please play some music")
    assert call.state == "main_menu"
    assert call.gather is not None
    assert call.gather.input == ("dtmf",)
    call.press("4")
    assert call.state == "solved"


def test_yes_no_questions_understand_speech(make: Any) -> None:
    _, sim = make()
    call = sim.dial(ZHANG)
    call.press("1")
    call.press("123456")
    call.press("4")
    assert call.state == "solved"
    call.say("没有解决")
    assert call.waiting_for == "queue"


def test_the_shipped_flows_can_be_copied_and_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    assert (folder / "hotline.yaml").exists()
