"""The browser phone's API (``/phone/api``): calls through the real webhooks, exact transcripts,
a chosen time of call, lasting effects, saved call scripts that replay, and an agent picking a
queued browser call up from the agent page."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from ivr.cli.main import main
from ivr.clock import ManualClock
from ivr.errors import SimulationError
from ivr.testing.console import CallTimeClock
from ivr.testing.console import PhoneCalls
from ivr.testing.console import call_json
from ivr.testing.console_web import browser_mermaid
from ivr.testing.console_web import install_phone
from ivr.wallet.demo import LI_NA
from ivr.wallet.demo import ZHANG_WEI
from ivr.web.agents import readable_step
from tests.conftest import T0
from tests.conftest import hotline_app
from tests.conftest import runtime_of
from tests.phone_api import AUTH
from tests.phone_api import TOKEN
from tests.phone_api import phone_app
from tests.phone_api import turns

WELCOME = [
    ("ivr", "say", "welcome", "您好，欢迎致电数字钱包客服热线。"),
    ("ivr", "say", "welcome", "Welcome to the digital wallet hotline."),
    ("ivr", "say", "welcome", "中文服务请按1。"),
    ("ivr", "say", "welcome", "For English, press 2."),
    ("ivr", "say", "welcome", "人工服务请按0。重听请按9。"),
    (
        "ivr",
        "say",
        "welcome",
        "To speak to an agent, press 0. To hear these options again, press 9.",
    ),
]
MAIN_MENU_EN = (
    "Please tell us what you are calling about. For a frozen or locked account, press 1. For a "
    "failed payment, press 2. For a top-up that has not arrived, press 3. For refund status, "
    "press 4. For a stolen account or transactions you did not make, press 5. For complaints, "
    "press 6. For login and password help, press 7. For limits and fees, press 8. To speak to "
    "an agent, press 0. To hear these options again, press 9."
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    yield from phone_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def dial(client: FlaskClient, caller: str, lang: str | None = "en-US", **more: str) -> Any:
    reply = client.post(
        "/phone/api/calls", json={"from": caller, "lang": lang, **more}, headers=AUTH
    )
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def act(client: FlaskClient, call: dict[str, Any], action: str, value: str = "") -> Any:
    reply = client.post(
        f"/phone/api/calls/{call['id']}/{action}",
        json={"value": value, "since": call["next"]},
        headers=AUTH,
    )
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def test_a_browser_call_runs_through_the_webhooks_and_presses_the_chosen_languages_key(
    client: FlaskClient,
) -> None:
    call = dial(client, LI_NA)
    assert turns(call) == [
        *WELCOME,
        ("caller", "press", "welcome", "2"),
        (
            "ivr",
            "say",
            "ask_pin",
            "Please enter your 6-digit phone PIN, followed by the pound key. If you have no PIN "
            "or forgot it, press star.",
        ),
    ]
    assert call["state"] == "ask_pin"
    assert call["path"] == ["welcome", "identify", "ask_pin"]
    assert call["waiting_for"] == "gather"
    assert call["gather"] == {
        "input": ["dtmf"],
        "num_digits": 6,
        "finish_on_key": "#",
        "timeout": 8,
    }
    assert call["ended"] is False
    assert call["outcome"] is None
    assert call["caller"] == LI_NA
    assert call["at"] == "2026-11-23T02:00:00+00:00"
    assert call["turns"][0]["lang"] == "cmn-CN"
    assert call["turns"][0]["language"] == "zh-CN"
    assert call["turns"][0]["audio"] is None


def test_without_a_language_the_caller_chooses_at_the_menu(client: FlaskClient) -> None:
    call = dial(client, LI_NA, lang=None)
    assert turns(call) == WELCOME
    assert call["state"] == "welcome"


def test_keys_speech_and_silence_each_return_only_the_new_turns(client: FlaskClient) -> None:
    call = dial(client, LI_NA)
    call = act(client, call, "press", "123456")
    assert turns(call) == [
        ("caller", "press", "ask_pin", "123456"),
        ("ivr", "say", "main_menu", "Thank you, Li Na, you are verified."),
        ("ivr", "say", "main_menu", MAIN_MENU_EN),
    ]
    assert call["gather"]["input"] == ["dtmf", "speech"]
    call = act(client, call, "say", "  my account   is locked ")
    assert turns(call)[0] == ("caller", "speech", "main_menu", "my account is locked")
    assert call["state"] == "locked_offer"
    call = act(client, call, "silence")
    assert turns(call) == [
        ("caller", "silence", "locked_offer", ""),
        ("ivr", "say", "locked_offer", "Sorry, I didn't hear a key press."),
        (
            "ivr",
            "say",
            "locked_offer",
            "To unlock it now, press 1. To leave it locked, press 2. To speak to an agent, press "
            "0. To go back, press star. To hear these options again, press 9.",
        ),
    ]
    shown = client.get(f"/phone/api/calls/{call['id']}?since={call['next'] - 1}", headers=AUTH)
    assert len(shown.get_json()["turns"]) == 1


@pytest.mark.parametrize("at", ["2026-11-23T23:10:00+08:00", "2026-11-23T23:10"])
def test_a_call_placed_at_a_chosen_time_takes_the_after_hours_way(
    client: FlaskClient, at: str
) -> None:
    call = dial(client, LI_NA, at=at)  # without an offset: the hotline's own time
    call = act(client, call, "press", "123456")
    call = act(client, call, "press", "0")
    assert call["state"] == "after_hours"
    assert turns(call)[-1][3].startswith("Sorry, our agents answer from 9 AM to 9 PM every day.")
    assert call["at"] == "2026-11-23T15:10:00+00:00"


def test_when_the_call_ends_the_page_gets_the_outcome_and_the_sms_sent(
    client: FlaskClient,
) -> None:
    call = dial(client, LI_NA)
    for keys in ("123456", "7", "1", "5"):
        call = act(client, call, "press", keys)
    assert call["ended"] is True
    assert call["waiting_for"] is None
    assert call["outcome"] == {
        "kind": "hangup",
        "queue": None,
        "detail": "",
        "text": "ended hangup",
    }
    assert call["effects"] == [
        "SMS to +8613800000002: [Digital Wallet] You are resetting your login password. Open "
        "this link within 10 minutes to finish: https://wallet.example/reset"
    ]
    refused = client.post(f"/phone/api/calls/{call['id']}/press", json={"value": "1"}, headers=AUTH)
    assert refused.status_code == 409
    assert "has ended" in refused.get_json()["error"]


def test_an_unlock_and_a_complaint_with_a_voicemail_are_lasting_effects(
    client: FlaskClient,
) -> None:
    call = dial(client, LI_NA)
    for keys in ("123456", "1", "1"):
        call = act(client, call, "press", keys)
    call = act(client, call, "hangup")
    assert call["effects"] == ["account locked → active"]
    call = dial(client, ZHANG_WEI)
    for keys in ("123456", "6", "1"):
        call = act(client, call, "press", keys)
    assert call["waiting_for"] == "record"
    call = act(client, call, "record")
    assert turns(call)[0] == ("caller", "record", "record_complaint", "5s #")
    call = act(client, call, "hangup")
    [ticket] = call["effects"]
    assert ticket.startswith("ticket ")
    assert ticket.endswith(" opened: complaint (with a voicemail)")


def test_a_saved_call_is_a_call_script_that_replays_and_passes(
    client: FlaskClient, runner: CliRunner, tmp_path: Path
) -> None:
    call = dial(client, LI_NA)
    for keys in ("123456", "7"):
        call = act(client, call, "press", keys)
    call = act(client, call, "silence")
    call = act(client, call, "silence")
    for keys in ("1", "5"):
        call = act(client, call, "press", keys)
    reply = client.get(f"/phone/api/calls/{call['id']}/script", headers=AUTH)
    assert reply.mimetype == "application/yaml"
    assert reply.headers["Content-Disposition"] == f'attachment; filename="phone_{call["id"]}.yaml"'
    text = reply.get_data(as_text=True)
    assert text == (
        "# Saved by the browser phone (/phone); `ivr replay <this file>` runs it again.\n"
        'name: "+8613800000002 calls from the browser phone (en-US)"\n'
        'from: "+8613800000002"\n'
        "lang: en-US\n"
        'at: "2026-11-23T02:00:00+00:00"\n'
        "steps:\n"
        '  - expect: "Welcome to the digital wallet hotline."\n'
        "  - expect_state: welcome\n"
        '  - press: "2"\n'
        '  - expect: "Please enter your 6-digit phone PIN, followed by the pound key. If you have '
        'no PIN or forgot it, press star."\n'
        "  - expect_state: ask_pin\n"
        '  - press: "123456"\n'
        '  - expect: "Please tell us what you are calling about."\n'
        "  - expect_state: main_menu\n"
        '  - press: "7"\n'
        '  - expect: "Did that solve your problem?"\n'
        "  - expect_state: solved\n"
        "  - wait: 2\n"
        '  - expect: "Did that solve your problem?"\n'
        "  - expect_state: solved\n"
        '  - press: "1"\n'
        '  - expect: "Please rate this call."\n'
        "  - expect_state: survey\n"
        '  - press: "5"\n'
        '  - expect: "Thank you for calling. Goodbye."\n'
        "outcome: {kind: hangup}\n"
        "effects:\n"
        '  - sms: {phone: "+8613800000002", count: 1}\n'
    )
    saved = tmp_path / "saved.yaml"
    saved.write_text(text, encoding="utf-8")
    result = runner.invoke(main, ["replay", str(saved)])
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.output


def test_a_queued_browser_call_is_picked_up_from_the_agent_page_and_hears_the_survey(
    client: FlaskClient, app: Flask
) -> None:
    call = dial(client, ZHANG_WEI, lang="zh-CN")
    call = act(client, call, "press", "123456")
    call = act(client, call, "press", "0")
    assert call["waiting_for"] == "queue"
    call = act(client, call, "hold")
    [waiting] = client.get("/agent/queue", headers=AUTH).get_json()
    assert waiting["can_pickup"] is True
    assert waiting["call_sid"] == call["call_sid"]
    page = client.get("/agent/", headers=AUTH).get_data(as_text=True)
    assert (
        f'<button type="button" class="pickup" data-call="{call["call_sid"]}" '
        'data-queue="general" aria-label="Pick up +86*******0001 from general">Pick up</button>'
    ) in page
    picked = client.post(
        "/agent/answer", json={"call_sid": call["call_sid"], "queue": "general"}, headers=AUTH
    )
    assert picked.status_code == 200
    assert picked.get_json() == {"bridged": call["call_sid"], "queue": "general"}
    call = client.get(
        f"/phone/api/calls/{call['id']}?since={call['next']}", headers=AUTH
    ).get_json()
    assert turns(call)[:2] == [
        ("caller", "agent", "hold", "60s"),
        ("ivr", "say", None, "现在为您接通人工客服。"),
    ]
    assert call["state"] == "survey"
    assert client.get("/agent/queue", headers=AUTH).get_json() == []
    again = client.post(
        "/agent/answer", json={"call_sid": call["call_sid"], "queue": "general"}, headers=AUTH
    )
    assert again.status_code == 409
    script = client.get(f"/phone/api/calls/{call['id']}/script", headers=AUTH).get_data(
        as_text=True
    )
    assert '  - agent: {seconds: 60, pickup: "/agent/pickup?queue=general"}\n' in script
    assert "  - hold: 1\n" in script


def test_words_that_look_like_yaml_are_saved_quoted_and_replay(
    client: FlaskClient, runner: CliRunner, tmp_path: Path
) -> None:
    call = dial(client, LI_NA)
    call = act(client, call, "press", "123456")
    call = act(client, call, "say", 'locked: "help" # now')
    call = act(client, call, "hangup")
    text = client.get(f"/phone/api/calls/{call['id']}/script", headers=AUTH).get_data(as_text=True)
    assert '  - say: "locked: \\"help\\" # now"\n' in text
    saved = tmp_path / "quoted.yaml"
    saved.write_text(text, encoding="utf-8")
    result = runner.invoke(main, ["replay", str(saved)])
    assert result.exit_code == 0, result.output


def test_the_hold_music_and_its_question_are_steps_of_the_script(app: Flask) -> None:
    calls: PhoneCalls = app.extensions["ivr.phone"]
    phone = calls.dial(LI_NA, lang="zh-CN")
    for keys in ("123456", "0"):
        calls.act(phone.id, "press", keys)
    calls.act(phone.id, "hold")
    assert call_json(phone)["in_queue"] is True
    calls.act(phone.id, "silence")  # the callback offer in the hold music times out
    calls.act(phone.id, "hold")
    calls.act(phone.id, "silence")
    assert [step.describe() for step in phone.steps][-5:] == [
        'press: "0"',
        "hold: 1",
        "wait",
        "hold: 1",
        "wait",
    ]


def test_the_pickup_button_is_only_for_browser_calls(client: FlaskClient) -> None:
    reply = client.post("/agent/answer", json={"call_sid": "CA1", "queue": "general"}, headers=AUTH)
    assert reply.status_code == 409
    assert "is not a browser phone call waiting in a queue" in reply.get_json()["error"]
    assert client.post("/agent/answer", data="x", headers=AUTH).status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"from": "not a number"}, 400, "is not a phone number"),
        ({"from": LI_NA, "lang": "fr-FR"}, 400, "is not a language of the flow"),
        ({"from": LI_NA, "at": "tomorrow"}, 400, "is not an ISO 8601 time"),
    ],
)
def test_a_call_the_page_cannot_place_is_refused_saying_why(
    client: FlaskClient, body: dict[str, str], status: int, problem: str
) -> None:
    reply = client.post("/phone/api/calls", json=body, headers=AUTH)
    assert reply.status_code == status
    assert problem in reply.get_json()["error"]


def test_requests_the_api_cannot_take_are_refused(client: FlaskClient) -> None:
    assert client.post("/phone/api/calls", data="from=1", headers=AUTH).status_code == 400
    assert client.get("/phone/api/calls/nope", headers=AUTH).status_code == 404
    assert client.get("/phone/api/calls/nope/script", headers=AUTH).status_code == 404
    assert client.post("/phone/api/calls/nope/press", json={}, headers=AUTH).status_code == 404
    call = dial(client, LI_NA)
    base = f"/phone/api/calls/{call['id']}"
    assert client.post(f"{base}/dance", json={}, headers=AUTH).status_code == 404
    assert client.post(f"{base}/press", data="1", headers=AUTH).status_code == 400
    assert client.post(f"{base}/say", json={"value": "  "}, headers=AUTH).status_code == 409
    # not in a queue: a hold tick is nothing to do (it may race an agent's pickup), not refused
    held = client.post(f"{base}/hold", json={"since": call["next"]}, headers=AUTH)
    assert (held.status_code, held.get_json()["turns"]) == (200, [])
    assert client.post(f"{base}/dial", json={}, headers=AUTH).status_code == 409
    assert client.get(f"{base}?since=x", headers=AUTH).get_json()["next"] == call["next"]


def test_the_phone_pages_need_the_agent_token(client: FlaskClient) -> None:
    for path in ("/phone/", "/phone/api/setup"):
        assert client.get(path).status_code == 401
        assert client.get(f"{path}?token={TOKEN}").status_code == 200
    assert client.post("/phone/api/calls", json={"from": LI_NA}).status_code == 401


def test_the_page_and_its_setup_name_the_callers_languages_and_diagram(
    client: FlaskClient,
) -> None:
    page = client.get("/phone/", headers=AUTH).get_data(as_text=True)
    assert '<script src="/static/vendor/mermaid/mermaid.min.js"></script>' in page
    assert 'aria-label="Key pound"' in page
    setup = client.get("/phone/api/setup", headers=AUTH).get_json()
    assert setup["flow"] == "hotline"
    assert setup["languages"] == ["zh-CN", "en-US"]
    assert setup["callers"][1] == {
        "phone": LI_NA,
        "name": "李娜",
        "name_en": "Li Na",
        "status": "locked",
    }
    assert len(setup["callers"]) == 10
    assert setup["can_choose_time"] is True
    assert setup["timezone"] == "Asia/Shanghai"
    assert setup["now"] == "2026-11-23T10:00+08:00"
    assert "    classDef incoming fill:#111827,color:#fff,stroke:#111827\n" in setup["diagram"]
    assert "    class _incoming incoming\n" in setup["diagram"]
    assert "classDef call " not in setup["diagram"]
    assert "welcome" in setup["states"]


def test_the_mermaid_keyword_call_is_renamed_for_the_browser() -> None:
    source = "flowchart LR\n    classDef call fill:#111\n    class _incoming call\n"
    assert browser_mermaid(source) == (
        "flowchart LR\n    classDef incoming fill:#111\n    class _incoming incoming\n"
    )


def test_without_a_call_time_clock_a_time_cannot_be_chosen(tmp_path: Path) -> None:
    built = hotline_app(tmp_path, ManualClock(T0), IVR_AUDIO="off")
    calls = PhoneCalls(built)
    with pytest.raises(SimulationError, match="cannot place a call at another time"):
        calls.dial(LI_NA, at=T0)
    runtime_of(built).database.dispose()


def test_the_oldest_call_is_hung_up_when_too_many_are_kept(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ivr.testing.console.MAX_CALLS", 1)
    calls: PhoneCalls = app.extensions["ivr.phone"]
    first = calls.dial(LI_NA)
    calls.dial(ZHANG_WEI)
    assert first.call.ended
    assert calls.get(first.id) is None


def test_a_callback_booked_after_hours_is_a_lasting_effect(client: FlaskClient) -> None:
    call = dial(client, LI_NA, at="2026-11-23T23:10:00+08:00")
    for keys in ("123456", "0", "2"):
        call = act(client, call, "press", keys)
    assert "callback requested (pending)" in call["effects"]
    script = client.get(f"/phone/api/calls/{call['id']}/script", headers=AUTH).get_data(
        as_text=True
    )
    assert yaml.safe_load(script)["at"] == "2026-11-23T15:10:00+00:00"


def test_the_steps_a_caller_tried_read_as_the_flows_labels(app: Flask) -> None:
    flow = runtime_of(app).flows["hotline"].flow
    assert readable_step(flow, "frozen") == "a frozen or locked account"
    assert readable_step(flow, "frozen", "zh-CN") == "账户被冻结或锁定"
    assert readable_step(flow, "protective freeze applied") == "protective freeze applied"
    assert readable_step(flow, "ask_pin") == "ask pin"


def test_the_front_page_links_the_browser_phone_where_it_is_installed(client: FlaskClient) -> None:
    assert client.get("/", headers={"Accept": "application/json"}).get_json()["phone"] == "/phone/"
    page = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert '<a href="/phone/">/phone/</a>' in page


def test_recordings_play_in_the_page_from_the_servers_own_path(tmp_path: Path) -> None:
    clock = CallTimeClock(ManualClock(T0))
    built = hotline_app(tmp_path, clock, IVR_AUDIO="all", IVR_AGENT_TOKEN=TOKEN)
    install_phone(built, clock)
    call = dial(built.test_client(), LI_NA, lang=None)
    played = [t for t in call["turns"] if t["kind"] == "play"]
    assert played
    assert all(t["audio"].startswith("/audio/") for t in played)
    assert played[0]["text"] == "您好，欢迎致电数字钱包客服热线。"
    runtime_of(built).database.dispose()


def test_a_stranger_who_hangs_up_in_the_queue_left_only_the_handoff(client: FlaskClient) -> None:
    call = dial(client, "+8613912345678")
    call = act(client, call, "press", "0")
    assert call["in_queue"] is True
    call = act(client, call, "hangup")
    assert call["effects"] == ["handed to an agent in general: abandoned"]
    assert call["outcome"]["kind"] == "queued"


def test_an_agent_cannot_take_a_browser_call_from_another_queue(client: FlaskClient) -> None:
    call = dial(client, "+8613912345678")
    call = act(client, call, "press", "0")
    reply = client.post(
        "/agent/answer", json={"call_sid": call["call_sid"], "queue": "security"}, headers=AUTH
    )
    assert reply.status_code == 409
    assert reply.get_json() == {
        "error": f"call {call['call_sid']} could not be taken from 'security'"
    }


def test_the_phone_refuses_a_call_it_does_not_hold_and_an_action_it_does_not_know(
    app: Flask,
) -> None:
    calls: PhoneCalls = app.extensions["ivr.phone"]
    with pytest.raises(LookupError):
        calls.act("nope", "press", "1")
    phone = calls.dial(LI_NA)
    with pytest.raises(SimulationError, match="unknown action 'dance'"):
        calls.act(phone.id, "dance")
    assert calls.bridge("CA-none", "general") is False
    assert calls.bridge(phone.call.call_sid, "general") is False  # at a menu, not in a queue


def test_an_issue_tried_reads_as_its_label(app: Flask) -> None:
    flow = runtime_of(app).flows["hotline"].flow
    assert readable_step(flow, "complaint") == "complaint"


def test_a_public_server_without_an_agent_token_never_serves_the_phone(tmp_path: Path) -> None:
    clock = CallTimeClock(ManualClock(T0))
    built = hotline_app(tmp_path, clock, IVR_AUDIO="off")  # TWILIO_AUTH_TOKEN is set
    install_phone(built, clock)
    client = built.test_client()
    for path in ("/phone/", "/phone/api/setup"):
        reply = client.get(path)
        assert reply.status_code == 403
        assert "TWILIO_AUTH_TOKEN is set" in reply.get_data(as_text=True)
    assert client.post("/phone/api/calls", json={"from": LI_NA}).status_code == 403
    runtime_of(built).database.dispose()


def test_the_pages_templates_ship_with_the_package() -> None:
    data = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text("utf-8"))
    shipped = data["tool"]["setuptools"]["package-data"]["ivr"]
    assert "web/templates/*.html" in shipped
    assert "web/static/**/*" in shipped


def test_a_hold_tick_after_the_queue_ended_is_no_step_and_no_refusal(app: Flask) -> None:
    # The page's hold timer can fire just after an agent picked the caller up.
    calls: PhoneCalls = app.extensions["ivr.phone"]
    phone = calls.dial(LI_NA, lang="zh-CN")
    calls.act(phone.id, "hangup")
    steps = list(phone.steps)
    calls.act(phone.id, "hold")
    assert phone.steps == steps
