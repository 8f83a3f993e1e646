"""Callbacks on the browser phone (``/phone/api/callbacks``, ``/phone/api/ringing``): a
callback booked from the page is listed, the real dialer places it at the time the page moves
to (its due and retry rules), it rings the page, and answering, declining, a busy line, no
answer or a machine each run through the real ``/voice/callback`` webhooks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.clock import ManualClock
from ivr.errors import SimulationError
from ivr.testing.console import PhoneCalls
from ivr.testing.console_web import install_phone
from ivr.wallet.demo import ZHANG_WEI
from tests.conftest import T0
from tests.conftest import hotline_app
from tests.conftest import runtime_of
from tests.phone_api import AUTH
from tests.phone_api import TOKEN
from tests.phone_api import phone_app
from tests.phone_api import turns

STRANGER = "+8613900000099"
OFFER_ZH = (
    "您好，这里是数字钱包客服中心。您之前来电咨询您的问题，并预约了回电，现在为您回电。"
    "如果不再需要，取消本次回电请按2。现在接通客服人员请按1。重听请按9。"
)
OFFER_EN = (
    "Hello Zhang Wei, this is the digital wallet customer service team. You called us about "
    "your question and asked us to call you back, so here we are. If you no longer need us, "
    "press 2 to cancel this call back. To speak to an agent now, press 1. To hear this again, "
    "press 9."
)
MACHINE_EN = (
    "Hello, this is the digital wallet customer service team, returning your call as you "
    "asked. We will try you again later, or you can call our hotline during opening hours. "
    "Goodbye."
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    yield from phone_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def press(client: FlaskClient, call: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        reply = client.post(
            f"/phone/api/calls/{call['id']}/press",
            json={"value": key, "since": call["next"]},
            headers=AUTH,
        )
        assert reply.status_code == 200, reply.get_json()
        call = reply.get_json()
    return call


def book_after_hours(client: FlaskClient, caller: str, lang: str, *keys: str) -> Any:
    """A call at 23:10 (the line closed) that books a callback for the opening."""
    reply = client.post(
        "/phone/api/calls",
        json={"from": caller, "lang": lang, "at": "2026-11-23T23:10"},
        headers=AUTH,
    )
    assert reply.status_code == 201, reply.get_json()
    return press(client, reply.get_json(), *keys)


def listed_for(client: FlaskClient, caller: str) -> Any:
    return client.get("/phone/api/callbacks", query_string={"phone": caller}, headers=AUTH)


def run(client: FlaskClient, caller: str, status: int = 200, **body: Any) -> Any:
    reply = client.post("/phone/api/callbacks/run", json={"phone": caller, **body}, headers=AUTH)
    assert reply.status_code == status, reply.get_json()
    return reply.get_json()


def pick_up(client: FlaskClient, call_sid: str, how: str) -> Any:
    reply = client.post(f"/phone/api/ringing/{call_sid}/{how}", json={}, headers=AUTH)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def test_a_callback_booked_after_hours_rings_at_the_opening_and_is_connected(
    client: FlaskClient,
) -> None:
    call = book_after_hours(client, STRANGER, "zh-CN", "0", "2")
    assert turns(call)[-1] == (
        "ivr",
        "say",
        "goodbye",
        "已为您预约回电。客服人员会在明天9点00分之后尽快拨打您的电话。感谢您的来电，祝您生活愉快，再见。",
    )
    assert call["effects"] == ["callback requested (pending)"]
    listed = listed_for(client, STRANGER).get_json()
    assert listed["callbacks"] == [
        {
            "id": 1,
            "queue": "general",
            "issue": None,
            "status": "pending",
            "requested_at": "2026-11-23T15:10:08+00:00",
            "earliest": "2026-11-24T01:00:00+00:00",
            "earliest_local": "2026-11-24T09:00+08:00",
            "attempts": [],
            "ticket": None,
        }
    ]
    assert listed["next_due"] == "2026-11-24T09:00:00+08:00"
    assert listed["ringing"] == []
    assert listed["can_move_time"] is True

    # Run now: it is 23:10, the queue is closed and the callback is for the opening.
    assert run(client, STRANGER)["ringing"] == []
    # Time passes to 09:00: the dialer places it, and it rings the page.
    due = run(client, STRANGER, until_due=True)
    assert due["dial_time"] == "2026-11-24T09:00+08:00"
    assert [(r["callback"], r["attempt"], r["at"], r["to"]) for r in due["ringing"]] == [
        (1, 1, "2026-11-24T01:00:00+00:00", STRANGER)
    ]
    assert due["callbacks"][0]["status"] == "dialing"

    back = pick_up(client, due["ringing"][0]["call_sid"], "answer")
    assert back["flow"] == "callback"
    assert back["callback"] == 1
    assert turns(back) == [("ivr", "say", "offer", OFFER_ZH)]
    back = press(client, back, "1")
    assert turns(back) == [
        ("caller", "press", "offer", "1"),
        ("ivr", "say", "agent", "正在为您接通客服人员，请稍候。"),
    ]
    assert back["path"] == ["answered", "offer", "agent"]
    assert back["in_queue"] is True
    waiting = client.get("/agent/queue", headers=AUTH).get_json()
    assert [(w["call_sid"], w["queue"], w["can_pickup"]) for w in waiting] == [
        (back["call_sid"], "general", True)
    ]
    assert listed_for(client, STRANGER).get_json()["ringing"] == []
    picked = client.post(
        "/agent/answer", json={"call_sid": back["call_sid"], "queue": "general"}, headers=AUTH
    )
    assert picked.get_json() == {"bridged": back["call_sid"], "queue": "general"}
    back = client.get(f"/phone/api/calls/{back['id']}?since={back['next']}", headers=AUTH)
    assert turns(back.get_json())[:2] == [
        ("caller", "agent", "agent", "60s"),
        ("ivr", "say", None, "现在为您接通人工客服。"),
    ]


def test_a_declined_callback_and_a_machine_are_attempts_retried_until_a_ticket(
    client: FlaskClient,
) -> None:
    book_after_hours(client, ZHANG_WEI, "en-US", "123456#", "0", "2")
    first = run(client, ZHANG_WEI, until_due=True)["ringing"][0]
    declined = pick_up(client, first["call_sid"], "decline")
    assert turns(declined) == []
    assert declined["outcome"]["text"] == "ended unanswered (busy)"
    assert declined["effects"] == [
        "callback 1: attempt 1 not answered; tried again from 2026-11-24T01:10:00+00:00"
    ]
    # The retry is not due before its delay.
    assert run(client, ZHANG_WEI, advance=300)["ringing"] == []
    second = run(client, ZHANG_WEI, advance=300)["ringing"][0]
    assert (second["attempt"], second["at"]) == (2, "2026-11-24T01:10:00+00:00")
    machine = pick_up(client, second["call_sid"], "machine")
    assert turns(machine) == [("ivr", "say", "machine_message", MACHINE_EN)]
    assert machine["path"] == ["answered", "machine_message"]
    third = run(client, ZHANG_WEI, advance=600)["ringing"][0]
    rung_out = pick_up(client, third["call_sid"], "no-answer")
    assert rung_out["outcome"]["text"] == "ended unanswered (no-answer)"
    ticket_opened, effect = rung_out["effects"]
    assert effect.startswith("callback 1: out of attempts; ticket ")
    listed = listed_for(client, ZHANG_WEI).get_json()
    (callback,) = listed["callbacks"]
    assert callback["status"] == "failed"
    assert [(a["number"], a["outcome"], a["answered_by"]) for a in callback["attempts"]] == [
        (1, "busy", None),
        (2, "machine", "machine_end_beep"),
        (3, "no-answer", None),
    ]
    assert effect.endswith(callback["ticket"])
    assert ticket_opened == f"ticket {callback['ticket']} opened: callback"


def test_pressing_2_on_the_callback_cancels_it(client: FlaskClient) -> None:
    book_after_hours(client, ZHANG_WEI, "en-US", "123456#", "0", "2")
    ringing = run(client, ZHANG_WEI, until_due=True)["ringing"][0]
    back = pick_up(client, ringing["call_sid"], "answer")
    assert turns(back) == [("ivr", "say", "offer_by_name", OFFER_EN)]
    back = press(client, back, "2")
    assert turns(back) == [
        ("caller", "press", "offer_by_name", "2"),
        ("ivr", "say", "cancelled", "Your call back is cancelled. Thank you, goodbye."),
    ]
    assert back["effects"] == ["callback 1: cancelled"]
    script = client.get(f"/phone/api/calls/{back['id']}/script", headers=AUTH)
    assert script.status_code == 409
    assert listed_for(client, ZHANG_WEI).get_json()["callbacks"][0]["status"] == "cancelled"


def test_the_page_is_refused_what_it_cannot_do(client: FlaskClient) -> None:
    assert run(client, STRANGER, 409, until_due=True) == {
        "error": "no callback of +8613900000099 is waiting to be placed"
    }
    assert run(client, STRANGER, 409, advance=-5) == {"error": "time passes forwards only"}
    assert run(client, STRANGER, 400, advance="soon") == {
        "error": "advance='soon' is not a number of seconds"
    }
    assert client.post("/phone/api/callbacks/run", data="x", headers=AUTH).status_code == 400
    unknown = client.post("/phone/api/ringing/CA1/answer", json={}, headers=AUTH)
    assert unknown.status_code == 404
    assert client.post("/phone/api/ringing/CA1/shout", json={}, headers=AUTH).status_code == 404
    assert client.post("/phone/api/ringing/CA1/answer", data="x", headers=AUTH).status_code == 400
    assert client.get("/phone/api/callbacks?phone=x").status_code in (401, 403)


def test_a_server_that_cannot_move_time_runs_the_dialer_at_its_own(tmp_path: Path) -> None:
    app = hotline_app(tmp_path, ManualClock(T0), IVR_AUDIO="off", IVR_AGENT_TOKEN=TOKEN)
    install_phone(app)
    try:
        client = app.test_client()
        assert run(client, STRANGER, 409, advance=60) == {
            "error": "this server cannot move time: run the dialer now instead"
        }
        listed = run(client, STRANGER)
        assert (listed["can_move_time"], listed["ringing"]) == (False, [])
    finally:
        runtime_of(app).database.dispose()


def test_the_setup_names_the_callback_flows_diagram(client: FlaskClient) -> None:
    setup = client.get("/phone/api/setup", headers=AUTH).get_json()
    assert list(setup["diagrams"]) == ["callback"]
    assert setup["diagrams"]["callback"].splitlines()[1] == "flowchart LR"


def test_the_phone_object_refuses_an_unknown_way_and_a_server_without_callbacks(
    app: Flask,
) -> None:
    calls: PhoneCalls = app.extensions["ivr.phone"]
    with pytest.raises(SimulationError, match="a ringing phone can answer, decline"):
        calls.pick_up("CA1", "shout")
    calls.runtime = dataclasses.replace(calls.runtime, callbacks=None)
    assert calls.callbacks(STRANGER) == []
    with pytest.raises(SimulationError, match="this server books no callbacks"):
        calls.run_dialer(STRANGER)


def test_a_callback_twilio_refuses_rings_nothing_and_becomes_a_ticket(
    client: FlaskClient, app: Flask
) -> None:
    book_after_hours(client, STRANGER, "zh-CN", "0", "2")
    calls: PhoneCalls = app.extensions["ivr.phone"]
    calls.api.fail_next(400, 21216, "Account not allowed to call this number")
    listed = run(client, STRANGER, until_due=True)
    assert listed["ringing"] == []
    (callback,) = listed["callbacks"]
    assert (callback["status"], callback["attempts"][0]["outcome"]) == ("failed", "failed")


def test_a_page_dials_its_own_callers_callbacks_only(client: FlaskClient) -> None:
    book_after_hours(client, STRANGER, "zh-CN", "0", "2")
    book_after_hours(client, ZHANG_WEI, "en-US", "123456#", "0", "2")
    (ringing,) = run(client, STRANGER, until_due=True)["ringing"]
    assert ringing["to"] == STRANGER
    (other,) = listed_for(client, ZHANG_WEI).get_json()["callbacks"]
    assert (other["status"], other["attempts"]) == ("pending", [])
    # The queue's one agent is on the stranger's callback: the cap holds Zhang Wei's back.
    assert run(client, ZHANG_WEI)["ringing"] == []
    pick_up(client, ringing["call_sid"], "decline")
    assert [r["to"] for r in run(client, ZHANG_WEI)["ringing"]] == [ZHANG_WEI]


def test_a_callback_booked_while_waiting_rings_when_the_dialer_runs_now(
    client: FlaskClient,
) -> None:
    reply = client.post("/phone/api/calls", json={"from": ZHANG_WEI, "lang": "en-US"}, headers=AUTH)
    call = press(client, reply.get_json(), "123456#", "0")
    held = client.post(
        f"/phone/api/calls/{call['id']}/hold", json={"since": call["next"]}, headers=AUTH
    ).get_json()
    booked = press(client, held, "1")
    assert turns(booked)[-1][3].startswith("Your call back is booked.")
    (ringing,) = run(client, ZHANG_WEI)["ringing"]
    assert ringing["attempt"] == 1
    back = pick_up(client, ringing["call_sid"], "answer")
    assert turns(back) == [("ivr", "say", "offer_by_name", OFFER_EN)]


def test_a_callback_nobody_meets_rings_out_as_no_answer(client: FlaskClient, app: Flask) -> None:
    book_after_hours(client, STRANGER, "zh-CN", "0", "2")
    assert len(run(client, STRANGER, until_due=True)["ringing"]) == 1
    calls: PhoneCalls = app.extensions["ivr.phone"]
    calls.ring_out = 0  # the page was closed; Twilio's ring time has passed
    listed = listed_for(client, STRANGER).get_json()
    assert listed["ringing"] == []
    (callback,) = listed["callbacks"]
    assert (callback["status"], callback["attempts"][0]["outcome"]) == ("pending", "no-answer")


def test_a_callback_ringing_when_the_server_restarted_is_settled_as_not_answered(
    client: FlaskClient, app: Flask
) -> None:
    book_after_hours(client, STRANGER, "zh-CN", "0", "2")
    assert len(run(client, STRANGER, until_due=True)["ringing"]) == 1
    clock = app.extensions["ivr.phone"].clock
    restarted = PhoneCalls(app, clock=clock)  # a new server process: nothing rings on it
    lease = runtime_of(app).settings.callback_lease
    # Once the claim's lease has run out, the dialer asks the (new) fake API about the call.
    assert restarted.run_dialer(STRANGER, advance=86400 + lease) == []
    ((callback, attempts),) = restarted.callbacks(STRANGER)
    assert (callback.status, [a.outcome for a in attempts]) == ("pending", ["no-answer"])
    assert [r.attempt for r in restarted.run_dialer(STRANGER, until_due=True)] == [2]
